"""The tracking bench's CPU accounting: what a run cost the server's processes, and only theirs.

``scripts/bench_tracking.py`` explains its throughput ratios by the CPU each
request cost the server (its process and every worker it forked), PostgreSQL
and wrk (:class:`CpuMeter`). A worker missed, or a stranger counted as the
server, would put the cost of a read in the wrong place.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
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
            process.kill()
            process.wait()
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()

    # The worker's 0.4 s (and perhaps its start-up), not the stranger's 0.4 s on top.
    assert 0.35 <= used["server"] < 0.75
    assert used["machine"] >= used["server"]
    assert used["wrk"] < 0.05  # no child was waited for while the meter ran
