# tracker: the service under gunicorn. Build: docker build -t tracker .
# Run: docker run -p 8000:8000 -e TRACKER_DATABASE_URL=postgresql+psycopg://... tracker
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TRACKER_INSTANCE_PATH=/var/lib/tracker
WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY tracker ./tracker
RUN pip install --no-cache-dir '.[postgres]' && useradd --system --home /var/lib/tracker tracker \
    && mkdir -p /var/lib/tracker && chown tracker /var/lib/tracker
USER tracker
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
# Migrate, then serve: the migration is idempotent and takes a lock of its own.
CMD ["sh", "-c", "tracker db upgrade && tracker serve --host 0.0.0.0 --port 8000"]
