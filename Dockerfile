# syntax=docker/dockerfile:1
# tracker's image: the package, its dependencies and a gunicorn config file,
# run as an unprivileged user. Build from the repository's root:
#   docker build -t tracker .
# The whole installation (PostgreSQL, migrations, two web instances, the
# sweeper, Prometheus, Grafana) is deploy/compose.yaml. One container alone:
#   docker run --rm -e TRACKER_DATABASE_URL=postgresql+psycopg://... tracker tracker db upgrade
#   docker run -p 8000:8000 -e TRACKER_DATABASE_URL=... -e TRACKER_SECRET_KEY=... tracker
# The serving command does not migrate: with several web containers starting
# at once, the schema is upgraded by one one-shot container first (Alembic
# takes no lock of its own). Checked by tests/service/test_deploy_files.py.

ARG PYTHON_IMAGE=python:3.11-slim

# Stage 1: wheels of tracker and of every dependency. All of them come as
# binary wheels from PyPI, so no compiler is needed here or below.
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml setup.cfg README.md LICENSE ./
COPY tracker ./tracker
RUN pip wheel --no-cache-dir --disable-pip-version-check --wheel-dir /wheels '.[postgres]'

# Stage 2: what runs. The wheels are bind-mounted from stage 1 and installed
# without an index, all of them: exactly the set stage 1 resolved, never
# stored in a layer of this image.
# The migrations, templates, static files, translations and
# service_levels.toml are package data inside the tracker wheel (setup.cfg).
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/*.whl \
    && groupadd --system --gid 10001 tracker \
    && useradd --system --uid 10001 --gid tracker --home-dir /var/lib/tracker \
       --shell /usr/sbin/nologin tracker \
    && install -d -o tracker -g tracker -m 0700 /var/lib/tracker
COPY deploy/gunicorn.conf.py /etc/tracker/gunicorn.conf.py
# The instance folder holds only the Prometheus multiprocess files here: the
# database is PostgreSQL and TRACKER_SECRET_KEY comes from the environment.
ENV TRACKER_INSTANCE_PATH=/var/lib/tracker \
    TRACKER_GUNICORN_CONFIG=/etc/tracker/gunicorn.conf.py
# Numeric, so that a runtime enforcing non-root (runAsNonRoot) can check it.
USER 10001:10001
WORKDIR /var/lib/tracker
EXPOSE 8000
# /readyz answers 503 while the database does not: urlopen raises, exit 1.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
CMD ["tracker", "serve", "--host", "0.0.0.0", "--port", "8000"]
