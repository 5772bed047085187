"""``tracker serve``: the app behind gunicorn, a production WSGI server.

gunicorn's ``gthread`` workers keep connections alive (batch clients reuse
them) and a worker that dies mid-request takes only its own transaction with
it: the database rolls it back, and the master starts a new worker. They
run as :class:`TrackerWorker`, which answers what gunicorn refuses itself
(an over-long request line, too many headers) in the API's JSON error shape.

gunicorn's settings come in three layers, later ones winning: tracker's
defaults (timeouts, logs), then an optional gunicorn config file named by
``TRACKER_GUNICORN_CONFIG`` (a deployment's own choices; the image ships
``deploy/gunicorn.conf.py``), then what tracker decides itself or reads from
``TRACKER_*`` and the command line (address, workers, threads, worker class,
log level, the hooks for the metrics and the workers' shared connection
counts). Without the variable no file is read.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import mmap
import os
import runpy
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker

from tracker.core.errors import BadRequest, TrackerError
from tracker.settings import Settings

log = logging.getLogger("tracker.server")


class TrackerServer(BaseApplication):  # type: ignore[misc]
    def __init__(
        self,
        settings: Settings,
        options: dict[str, Any],
        defaults: dict[str, Any] | None = None,
        config_file: str | None = None,
    ) -> None:
        self.settings = settings
        self.options = options
        self.defaults = defaults or {}
        self.config_file = config_file
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.defaults.items():
            self.cfg.set(key, value)
        if self.config_file:
            # Python, as gunicorn's own -c reads it: names gunicorn does not know are ignored.
            for key, value in runpy.run_path(self.config_file).items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from tracker.app import create_app

        # Each worker builds its own app and engine: connections must not
        # cross a fork.
        app = create_app(self.settings)
        settle_heap()
        return app


#: Allocations (less deallocations) of container objects before CPython's cyclic
#: collector looks at the young generation; CPython's default is 700.
YOUNG_GENERATION_THRESHOLD = 50_000


def settle_heap() -> None:
    """Keep the cyclic garbage collector off what a worker built at start, and off a request's working set.

    A worker holds ~150,000 objects once the app is built (modules, the app,
    OpenAPI and pydantic models, SQLAlchemy metadata), all kept until it
    exits, and CPython's full collections scanned every one of them: in the
    ingest benchmark (``scripts/bench_ingest.py``) the collector took a
    quarter of a worker's CPU, ~8 full collections of ~100 ms per 100
    batches. :func:`gc.freeze` moves them to a generation it never scans.
    A 500-scan batch holds tens of thousands of objects at once (validated
    events, rows, states), freed by reference counting when it is answered;
    at the default threshold the collector ran a dozen times a batch over
    objects about to be freed, and promoted them to the older generations
    to be scanned again. Cyclic garbage is still collected, later.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *gc.get_threshold()[1:])


class ConnectionBoard:
    """How many busy connections each worker holds, in memory the master shares with its workers.

    Each worker listens on a socket of its own (SO_REUSEPORT, see
    :data:`DEFAULTS`) and the kernel deals each new connection to one of them
    by a hash of its addresses: evenly over many connections, by luck over a
    few. A client posting on four keep-alive connections found all four on
    one of two workers one time in eight, and three on one half the time, so
    one process and its one GIL did three quarters of the work while the
    other waited. A worker that holds at least two busy connections (a
    request in flight, or one in the last :data:`BUSY_WINDOW` seconds) more
    than the least loaded serving worker, and more than its fair share
    (:func:`should_shed`), closes the one asking after its answer
    (``Connection: close``, so the client knows before it sends again), at
    most one every :data:`SHED_INTERVAL`; the client's new connection is
    dealt again. Keep-alive clients reconnect by themselves (HTTP/1.1).
    Idle keep-alive connections are not counted: they hold no work, and a
    worker holding a probe's would otherwise look as loaded as one serving
    a client. gunicorn closes such a connection as it closes any that asked
    to be closed: it half-closes and waits for the client's side (a round
    trip, at most 2 s), on the worker's main loop.

    A table of (state, connections) slots in an anonymous shared mapping
    made before the workers fork. The master hands each worker a slot
    before forking it and takes back every slot no live worker holds
    (:func:`_pre_fork`, :func:`_child_exit`), so slots change hands in one
    process only and need no lock; a worker marks its slot serving once it
    runs its loop and not serving once it stops, and writes only its own
    count. Only serving workers are compared: one still loading its app, or
    finishing its requests before it exits, takes no connections from the
    others. Reads are unlocked: a count a moment old only delays a close.
    """

    FREE, TAKEN, SERVING = 0, 1, 2

    def __init__(self, slots: int) -> None:
        # MAP_SHARED | MAP_ANONYMOUS: the workers forked after this see the same pages.
        self._table = memoryview(mmap.mmap(-1, 16 * slots)).cast("q")
        self.slots = slots

    def take(self, keep: set[int]) -> int | None:
        """A free slot, now taken, after freeing every one not in ``keep`` (the live workers' slots).

        None when all are taken: that worker is neither counted nor balanced.
        """
        table = self._table
        for slot in range(self.slots):
            if slot not in keep:
                self.free(slot)
        for slot in range(self.slots):
            if table[2 * slot] == self.FREE:
                table[2 * slot], table[2 * slot + 1] = self.TAKEN, 0
                return slot
        return None

    def free(self, slot: int) -> None:
        self._table[2 * slot] = self._table[2 * slot + 1] = 0

    def serving(self, slot: int, serving: bool) -> None:
        self._table[2 * slot] = self.SERVING if serving else self.TAKEN

    def publish(self, slot: int, connections: int) -> None:
        self._table[2 * slot + 1] = connections

    def others(self, slot: int) -> list[int]:
        """The busy connections of every other serving worker."""
        table = self._table
        return [table[2 * s + 1] for s in range(self.slots) if s != slot and table[2 * s] == self.SERVING]


def should_shed(mine: int, others: list[int]) -> bool:
    """Whether a worker holding ``mine`` busy connections should close one (see :class:`ConnectionBoard`).

    Over its fair share, and at least two more than the least loaded worker
    (one more is as even as an odd count gets), or a fifth of the share more
    when there are many: each close costs its client a new connection and
    the worker's loop a round trip, and a few connections either way matter
    little among dozens (32 ``wrk`` connections on two workers, 5 s: 4-19
    closes a run at a tenth, 2-6 at a fifth).
    """
    if not others:
        return False
    fair = -(-(mine + sum(others)) // (len(others) + 1))  # ceiling
    return mine > fair and mine - min(others) >= max(2, fair // 5)


#: Made by :func:`serve` in the master, inherited by its workers; None: nothing is balanced.
_BOARD: ConnectionBoard | None = None
#: A worker closes at most one connection this often, so that it sees where the last one went.
SHED_INTERVAL = 0.05
#: A connection that brought a request this recently is busy; idle keep-alive connections
#: (a browser's, a probe's) hold no work, so they are not counted.
BUSY_WINDOW = 1.0


class TrackerWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's ``gthread`` worker, answering what gunicorn refuses itself in the API's JSON shape,
    and keeping its share of the busy keep-alive connections (:class:`ConnectionBoard`).

    A request gunicorn cannot hand to the app (a request line over
    ``limit_request_line``: 414; headers over ``limit_request_fields`` or
    ``limit_request_field_size``: 431; a malformed request: 400) never
    reaches Flask, and gunicorn answers it with an HTML page. A client of
    the API reads ``{"error": {"code", "message", "fields"}}`` from every
    other answer, so this worker lets gunicorn decide the status, log the
    error and write its access-log line as always, and only writes the
    answer itself (:func:`refusal`).
    """

    _slot: int | None = None

    def init_process(self) -> None:
        if _BOARD is not None:
            self._slot = getattr(self, "board_slot", None)  # handed over by _pre_fork
            #: When each connection last brought a request (by id; infinity while one is in
            #: flight); under the lock: request threads and the main loop share it.
            self._asked: dict[int, float] = {}
            self._board_lock = threading.Lock()
            self._last_shed = self._counted_at = 0.0
        super().init_process()

    def run(self) -> None:
        # The app is loaded: from now on this worker takes its share.
        if self._slot is not None:
            _BOARD.serving(self._slot, True)  # type: ignore[union-attr]
        try:
            super().run()
        finally:
            if self._slot is not None:
                _BOARD.serving(self._slot, False)  # type: ignore[union-attr]

    def notify(self) -> None:
        # The main loop's heartbeat (at least once a second): an idle worker's count falls to 0,
        # and a stopping worker (finishing its requests) is compared no more.
        super().notify()
        if self._slot is not None:
            assert _BOARD is not None
            if not self.alive:
                _BOARD.serving(self._slot, False)
            now = time.monotonic()
            if now - self._counted_at < SHED_INTERVAL:
                return  # the loop turns on every answer: a count per request cost 5% of /healthz
            self._counted_at = now
            with self._board_lock:
                # Expired here, not on each request: a request only counts the table.
                for key in [k for k, at in self._asked.items() if now - at > BUSY_WINDOW]:
                    del self._asked[key]
                _BOARD.publish(self._slot, len(self._asked))

    def handle_request(self, req: Any, conn: Any) -> Any:
        if self._slot is None:
            return super().handle_request(req, conn)
        asking = id(conn)
        # Not a connection that closes anyway (the client asked, or this worker is stopping).
        if self._arrive(asking, may_shed=self.alive and not req.should_close()):
            req.must_close = True  # gunicorn answers "Connection: close" and closes after
            self._count_shed()
        try:
            return super().handle_request(req, conn)
        finally:
            with self._board_lock:
                if req.should_close():
                    self._asked.pop(asking, None)  # closed after this answer: busy no more
                else:
                    self._asked[asking] = time.monotonic()

    def _arrive(self, asking: int, *, may_shed: bool) -> bool:
        """Count this request's connection as busy; whether to close it after its answer."""
        assert _BOARD is not None and self._slot is not None
        now = time.monotonic()
        with self._board_lock:
            self._asked[asking] = math.inf  # in flight: never expired until answered
            busy = len(self._asked)  # in flight, or asked within BUSY_WINDOW (notify expires the rest)
            shed = (
                may_shed
                and now - self._last_shed >= SHED_INTERVAL
                and should_shed(busy, _BOARD.others(self._slot))
            )
            if shed:
                self._last_shed = now
                busy -= 1  # closing: counted no more once answered
            _BOARD.publish(self._slot, busy)
        return shed

    def _count_shed(self) -> None:
        # Imported in the worker: prometheus_client imported in the master, before serve()
        # names PROMETHEUS_MULTIPROC_DIR, would keep every worker's counters in its memory.
        try:
            from tracker.core import metrics

            metrics.HTTP_CONNECTIONS_REBALANCED.inc()
        except Exception:  # a metric must not fail the request it counts
            log.exception("could not count a connection closed to balance the workers")

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        written = _Written(client)
        super().handle_error(req, written, addr, exc)
        if written.status is None:  # gunicorn wrote no answer: nor do we
            return
        try:
            util.write_nonblock(client, refusal(written.status, exc, self.cfg))
        except Exception:  # as gunicorn's own: the client may be gone
            self.log.debug("Failed to send error message.")


class _Written:
    """Stands in for the client socket while gunicorn writes its error page: keeps its status line."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.status: str | None = None

    def gettimeout(self) -> float:
        return 0.0  # already non-blocking: gunicorn then just calls sendall

    def sendall(self, data: bytes) -> None:
        # "HTTP/1.1 414 URI Too Long\r\n...": the status and its reason follow the version.
        self.status = data.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 1)[1]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


#: The error code of each status gunicorn answers itself that tracker's errors do not name;
#: the others are :class:`~tracker.core.errors.BadRequest` below 500, ``internal_error`` from 500.
_REFUSAL_CODES = {
    403: "forbidden",
    414: "uri_too_long",
    417: "expectation_failed",
    431: "header_fields_too_large",
    501: "not_implemented",
}


def refusal(status_line: str, exc: BaseException, cfg: Any) -> bytes:
    """The whole HTTP answer for a request gunicorn refused with ``status_line`` ("414 URI Too
    Long"), in the one JSON error shape (:meth:`~tracker.core.errors.TrackerError.to_dict`)."""
    status = int(status_line.split(" ", 1)[0])
    if status == 414:
        message = (
            f"the request line is longer than this server takes ({cfg.limit_request_line} bytes):"
            " shorten the URL, or send the data in a body"
        )
    elif status == 431:
        message = (
            f"the request's headers are more or longer than this server takes (at most"
            f" {cfg.limit_request_fields} headers of {cfg.limit_request_field_size} bytes each)"
        )
    elif status >= 500:
        message = "the server could not handle the request"  # logged with its traceback by gunicorn
    else:
        message = f"not a valid HTTP request: {str(exc)[:200]}"
    error = BadRequest(message) if status < 500 else TrackerError(message)
    error.code = _REFUSAL_CODES.get(status, error.code)
    body = json.dumps(error.to_dict()).encode()
    head = (
        f"HTTP/1.1 {status_line}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
    slot = getattr(worker, "board_slot", None)
    if _BOARD is not None and slot is not None:
        _BOARD.free(slot)


def _pre_fork(server: Any, worker: Any) -> None:
    # In the master, before the fork: the worker's row of the ConnectionBoard. Rows no live
    # worker holds are freed first (a fork that failed, a worker gunicorn dropped unreaped).
    if _BOARD is None:
        return
    live = {w.board_slot for w in server.WORKERS.values() if getattr(w, "board_slot", None) is not None}
    worker.board_slot = _BOARD.take(live)
    if worker.board_slot is None:
        log.warning("every ConnectionBoard slot is taken: this worker's connections are not balanced")


def _prepare_metrics_dir(settings: Settings) -> None:
    # Each worker writes its counters to files here; /metrics sums them.
    # Emptied at start: files of a previous run would be counted again.
    folder = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or settings.instance_path / "prometheus")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def _announce_sweep_mode(settings: Settings) -> None:
    # Said once, at start, so that an operator reading the log knows whether
    # cases will be opened without anything else running.
    if settings.sweep_interval > 0:
        log.info(
            "sweep: in-process every %gs, by one worker of the installation at a time "
            "(elected through the database)",
            settings.sweep_interval,
        )
    else:
        log.warning(
            "sweep: OFF in this server (TRACKER_SWEEP_INTERVAL=0): run 'tracker sweep --every 60' "
            "as a service, or no stale, at-risk or breach case will ever be opened"
        )


#: tracker's gunicorn settings; a deployment's gunicorn config file may change these.
DEFAULTS: dict[str, Any] = {
    "keepalive": 30,
    "timeout": 60,
    "graceful_timeout": 30,
    "accesslog": None,
    "errorlog": "-",
    # Each worker listens on a socket of its own (SO_REUSEPORT) and the kernel
    # deals new connections among them. On one shared socket the worker that
    # woke first accepted every connection of a burst: the ingest benchmark's
    # four keep-alive clients all landed on one of two workers (103 requests
    # to 0), so one process and its one GIL did all the work. What the hash
    # deals unevenly, the workers even out (ConnectionBoard).
    "reuse_port": True,
}


def port_free(host: str, port: int) -> bool:
    """Whether nothing listens on ``host:port`` now: a bind with address reuse on, as
    gunicorn binds, but without SO_REUSEPORT, so that a server already listening
    with it (another ``tracker serve``) counts too."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return True  # gunicorn will say what is wrong with the host
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return False
    return True


def serve(settings: Settings, host: str, port: int, **extra: Any) -> None:
    from tracker.core import logs

    logs.configure(settings.log_level, settings.log_format)
    _announce_sweep_mode(settings)
    _prepare_metrics_dir(settings)
    # These it may not: the metrics and the ConnectionBoard need the hooks, each worker its own engine
    # (no preload), and TRACKER_* and the command line must mean what they say.
    options = {
        "child_exit": _child_exit,
        "pre_fork": _pre_fork,
        "bind": f"{host}:{port}",
        "workers": settings.workers,
        "threads": settings.threads,
        "worker_class": "tracker.server.TrackerWorker",
        "loglevel": settings.log_level.lower(),
        "preload_app": False,
    }
    options.update(extra)
    # Read here, like PROMETHEUS_MULTIPROC_DIR: gunicorn's business, not a setting of the app.
    config_file = os.environ.get("TRACKER_GUNICORN_CONFIG") or None
    server = TrackerServer(settings, options, DEFAULTS, config_file)
    global _BOARD
    # Room for more workers than configured (gunicorn's TTIN signal adds one at a time).
    _BOARD = ConnectionBoard(2 * server.cfg.workers + 2)
    if server.cfg.reuse_port and not port_free(host, port):
        # With a socket per worker the arbiter binds nothing itself: each worker
        # would fail to bind, exit and be started again, forever (one shared
        # socket makes gunicorn give up after five tries). And a second
        # ``tracker serve`` would bind beside the first one's workers, both
        # with SO_REUSEPORT, and silently take half of its connections.
        raise SystemExit(f"error: {host}:{port} is in use: stop what listens there, or choose another port")
    server.run()
