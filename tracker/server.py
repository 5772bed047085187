"""``tracker serve``: the app behind gunicorn, a production WSGI server.

gunicorn's ``gthread`` workers keep connections alive (batch clients reuse
them) and a worker that dies mid-request takes only its own transaction with
it: the database rolls it back, and the master starts a new worker.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from tracker.settings import Settings


class TrackerServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from tracker.app import create_app

        # Each worker builds its own app and engine: connections must not
        # cross a fork.
        return create_app(self.settings)


def _child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def _prepare_metrics_dir(settings: Settings) -> None:
    # Each worker writes its counters to files here; /metrics sums them.
    # Emptied at start: files of a previous run would be counted again.
    folder = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or settings.instance_path / "prometheus")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def serve(settings: Settings, host: str, port: int, **extra: Any) -> None:
    _prepare_metrics_dir(settings)
    options = {
        "child_exit": _child_exit,
        "bind": f"{host}:{port}",
        "workers": settings.workers,
        "threads": settings.threads,
        "worker_class": "gthread",
        "keepalive": 30,
        "timeout": 60,
        "graceful_timeout": 30,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": settings.log_level.lower(),
        "preload_app": False,
    }
    options.update(extra)
    TrackerServer(settings, options).run()
