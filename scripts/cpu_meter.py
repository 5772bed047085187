"""CPU time a benchmark run cost each kind of process on the machine, read from Linux's ``/proc``.

Shared by the benchmarks that drive ``tracker serve`` (``bench_tracking.py``,
``bench_ingest.py``): on the shared cores the database's work and the load
generator's own work come out of the same budget as the server's, so a
throughput ratio follows the ratio of whole costs, and a run that leaves
cores idle shows here as ``machine`` well under wall time x cores.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path


def process_stats() -> dict[int, tuple[str, int, int]]:
    """Every process now: its command name, its parent's pid, and its user + system clock ticks so far."""
    stats: dict[int, tuple[str, int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # After the name: state, ppid (index 1), ..., utime (11), stime (12).
        stats[int(entry)] = (name, int(fields[1]), int(fields[11]) + int(fields[12]))
    return stats


class CpuMeter:
    """CPU time used during one run: by the server, by PostgreSQL, by the client, and by the machine.

    Read from ``/proc``: the server's process and its descendants (the
    gunicorn workers), every ``postgres`` process (the database's backends;
    another client of the same PostgreSQL server would be counted too, so
    the machine must be otherwise quiet), the client (``client_name``: wrk
    as this process's waited-for children, or this process itself where
    its own threads send the load, ``client_usage``), and ``machine``: all
    cores' busy time (``/proc/stat``), which also holds the kernel's work
    for the sockets. A process that exits during the run loses what it used
    in it. None where there is no ``/proc`` (:meth:`start`).
    """

    def __init__(self, server_pid: int, client_name: str, client_usage: int) -> None:
        self.server_pid = server_pid
        self.client_name = client_name
        self.client_usage = client_usage
        self.ticks = self._processes()
        self.busy = self._busy()
        self.client = self._client()

    @classmethod
    def start(
        cls, server_pid: int | None, client_name: str = "wrk", client_usage: int = resource.RUSAGE_CHILDREN
    ) -> CpuMeter | None:
        if server_pid is None or not os.path.exists("/proc/stat"):
            return None
        return cls(server_pid, client_name, client_usage)

    def stop(self) -> dict[str, float]:
        after = self._processes()
        used = {"server": 0, "postgres": 0}
        for pid, (kind, ticks) in after.items():
            before = self.ticks.get(pid)
            used[kind] += ticks - (before[1] if before and before[0] == kind else 0)
        hertz = os.sysconf("SC_CLK_TCK")
        return {
            "server": round(used["server"] / hertz, 3),
            "postgres": round(used["postgres"] / hertz, 3),
            self.client_name: round(self._client() - self.client, 3),
            "machine": round((self._busy() - self.busy) / hertz, 3),
        }

    def _processes(self) -> dict[int, tuple[str, int]]:
        """Per pid: ``server`` or ``postgres``, and its user + system clock ticks so far."""
        stats = process_stats()
        found: dict[int, tuple[str, int]] = {}
        for pid, (name, _, ticks) in stats.items():
            if name.startswith("postgres"):
                found[pid] = ("postgres", ticks)
            elif self._descends(pid, stats):
                found[pid] = ("server", ticks)
        return found

    def _descends(self, pid: int, stats: dict[int, tuple[str, int, int]]) -> bool:
        seen = 0
        while pid in stats and seen < 64:
            if pid == self.server_pid:
                return True
            pid, seen = stats[pid][1], seen + 1
        return False

    @staticmethod
    def _busy() -> int:
        """Clock ticks all cores spent working so far: user, nice, system, irq and softirq.

        Not idle, I/O wait or steal (another guest's time), nor guest time, which
        ``user`` already holds.
        """
        with open("/proc/stat") as f:
            user, nice, system, _idle, _iowait, irq, softirq, *_ = (int(v) for v in f.readline().split()[1:])
        return user + nice + system + irq + softirq

    def _client(self) -> float:
        used = resource.getrusage(self.client_usage)
        return used.ru_utime + used.ru_stime
