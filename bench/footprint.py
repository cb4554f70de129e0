"""The memory of the service's processes, master and workers: RSS and PSS.

RSS counts every page a process maps, those it shares with the others (libraries, pages
inherited from the master) in each of them; PSS divides a shared page among the processes
that share it, so the processes' PSS add up to what they take of the machine. Both are read
from /proc/PID/smaps_rollup (Linux 4.14+). "idle" is read once the workers have answered
nothing for IDLE_WAIT seconds; "peak" is the largest value seen by a thread that reads them
every SAMPLE_EVERY seconds while a phase runs (the total's peak is that of the sums, not the
sum of each process's peak).
"""

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

MB = 1024 * 1024
SAMPLE_EVERY = 0.05
# Longer than imageservice/memory.py's IDLE_TRIM_SECONDS: what an idle worker gives back is
# given back by then.
IDLE_WAIT = 3.0


@dataclass
class Usage:
    rss: int = 0
    pss: int = 0


def usage(pid: int) -> Usage | None:
    """RSS and PSS of one process, in bytes; None if it is gone."""
    try:
        lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
    except OSError:
        return None
    values = {}
    for line in lines[1:]:
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0]) * 1024
    return Usage(values.get("Rss", 0), values.get("Pss", 0))


def processes(service) -> dict[str, int]:
    """The service's processes by role: "master", "worker 1", "worker 2", ..."""
    workers = sorted(service.workers())
    return {
        "master": service.process.pid,
        **{f"worker {n}": pid for n, pid in enumerate(workers, 1)},
    }


def snapshot(service) -> dict[str, Usage]:
    """Each process's usage now, and their "total"."""
    found = {role: usage(pid) for role, pid in processes(service).items()}
    now = {role: value for role, value in found.items() if value is not None}
    now["total"] = Usage(sum(u.rss for u in now.values()), sum(u.pss for u in now.values()))
    return now


def idle(service) -> dict[str, Usage]:
    time.sleep(IDLE_WAIT)
    return snapshot(service)


@dataclass
class Peak:
    """The peaks of each role's RSS and PSS, and of the totals, while the ``with`` block runs.
    A worker recycled meanwhile (max_requests) is counted under its role's number."""

    service: object
    peaks: dict[str, Usage] = field(default_factory=dict)

    def __enter__(self) -> "Peak":
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            for role, now in snapshot(self.service).items():
                peak = self.peaks.setdefault(role, Usage())
                peak.rss, peak.pss = max(peak.rss, now.rss), max(peak.pss, now.pss)
            self._stop.wait(SAMPLE_EVERY)


def report(columns: dict[str, dict[str, Usage]]) -> list[str]:
    """A table of MiB: a row per process and the total, a RSS and a PSS column per state."""
    names = list(columns)
    roles = [role for role in next(iter(columns.values())) if role != "total"] + ["total"]
    lines = [
        "",
        "Memory of the service's processes, MiB (RSS counts shared pages in each process; "
        "PSS shares them out, so the PSS column adds up):",
        "",
        "| process | " + " | ".join(f"{name} RSS | {name} PSS" for name in names) + " |",
        "|---|" + "---:|---:|" * len(names),
    ]
    for role in roles:
        cells = []
        for name in names:
            value = columns[name].get(role)
            cells += [f"{value.rss / MB:.0f}", f"{value.pss / MB:.0f}"] if value else ["", ""]
        lines.append(f"| {role} | " + " | ".join(cells) + " |")
    return lines
