"""The benches' CPU accounting: what a run cost the server's processes, and only theirs.

``scripts/bench_tracking.py`` explains its throughput ratios by the CPU each
request cost the server (its process and every worker it forked), PostgreSQL
and wrk (:class:`CpuMeter`). A worker missed, or a stranger counted as the
server, would put the cost of a read in the wrong place. ``bench_ingest.py``
sends from its own threads, so there the client is this process.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import load_script

pytestmark = pytest.mark.skipif(not Path("/proc/stat").exists(), reason="reads Linux's /proc")

#: Waits for a line, burns this much CPU, says so, then idles until killed (a worker that stays up).
WORKER = """
import os, sys, time
sys.stdin.readline()
end = time.process_time() + {seconds}
while time.process_time() < end:
    pass
print("done", os.getpid(), flush=True)
time.sleep(120)
"""
#: A server process that forks one worker sharing its pipes, and waits for it.
SERVER = "import subprocess, sys; subprocess.Popen([sys.executable, '-c', sys.argv[1]]).wait()"


def started(*command: str) -> subprocess.Popen[str]:
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def stop(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()


def test_the_server_is_charged_for_its_workers_and_not_for_a_stranger() -> None:
    burn = WORKER.format(seconds=0.4)
    server = started(sys.executable, "-c", SERVER, burn)
    stranger = started(sys.executable, "-c", burn)
    workers: list[int] = []
    try:
        meter = load_script("bench_tracking").CpuMeter.start(server.pid)
        assert meter is not None
        for process in (server, stranger):
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in (server, stranger):
            assert process.stdout is not None
            said, pid = process.stdout.readline().split()
            assert said == "done"
            workers.append(int(pid))
        used = meter.stop()
    finally:
        for pid in workers:  # the server's worker would outlive its killed parent
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for process in (server, stranger):
            stop(process)

    # The worker's 0.4 s (and perhaps its start-up), not the stranger's 0.4 s on top.
    assert 0.35 <= used["server"] < 0.75
    assert used["machine"] >= used["server"]
    assert used["wrk"] < 0.05  # no child was waited for while the meter ran


def test_a_client_sending_from_this_process_is_charged_for_this_process() -> None:
    """The ingest bench's senders are its own threads: their CPU is this process's, not a child's."""
    server = started(sys.executable, "-c", WORKER.format(seconds=0.3))  # never told to go: it waits
    try:
        meter = load_script("cpu_meter").CpuMeter.start(
            server.pid, client_name="client", client_usage=resource.RUSAGE_SELF
        )
        assert meter is not None
        end = time.process_time() + 0.3
        while time.process_time() < end:
            pass
        used = meter.stop()
    finally:
        stop(server)

    assert 0.25 <= used["client"] < 0.6
    assert "wrk" not in used
    assert used["server"] < 0.1  # its start-up at most, not the client's 0.3 s
