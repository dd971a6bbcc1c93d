"""CPU seconds per OS process group (a service, Kafka, PostgreSQL and its backends...) over
named windows, sampled with psutil in a background thread.

Each group is a root pid plus, optionally, all its descendants. Every sample adds, per pid, the
CPU time (user + system) used since that pid's previous sample; a pid first seen mid-window
counts from zero (it was born then), one that exits loses at most one interval. PostgreSQL's
backends come and go with connection pools, so it is measured as the postmaster's children.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

MACHINE = "machine (all cores)"


@dataclass
class Group:
    name: str
    root_pid: Callable[[], int | None]
    children: bool = True
    last: dict[int, float] = field(default_factory=dict)
    total: float = 0.0


@dataclass(frozen=True)
class Window:
    name: str
    seconds: float
    cpu_seconds: dict[str, float]

    def percent(self) -> dict[str, float]:
        """Average CPU% over the window: 100 is one core busy all the time."""
        if self.seconds <= 0:
            return dict.fromkeys(self.cpu_seconds, 0.0)
        return {k: 100.0 * v / self.seconds for k, v in self.cpu_seconds.items()}

    def as_dict(self) -> dict[str, object]:
        pct = self.percent()
        return {
            "seconds": round(self.seconds, 3),
            "processes": {
                k: {"cpu_seconds": round(v, 2), "cpu_percent": round(pct[k], 1)}
                for k, v in self.cpu_seconds.items()
            },
        }


def _busy_seconds() -> float:
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    return float(sum(t)) - idle - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)


class CpuSampler:
    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.groups: dict[str, Group] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._marks: dict[str, tuple[float, dict[str, float]]] = {}
        self._machine0 = _busy_seconds()

    def add(self, name: str, root_pid: Callable[[], int | None], *, children: bool = True) -> None:
        with self._lock:
            group = Group(name, root_pid, children)
            self.groups[name] = group
            self._sample_group(group, baseline=True)  # time used before now is not counted

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        with self._lock:
            for group in self.groups.values():
                self._sample_group(group)

    def _sample_group(self, group: Group, *, baseline: bool = False) -> None:
        pid = group.root_pid()
        if pid is None:
            return
        try:
            root = psutil.Process(pid)
            procs = [root, *(root.children(recursive=True) if group.children else [])]
        except psutil.Error:
            return
        for proc in procs:
            try:
                times = proc.cpu_times()
            except psutil.Error:
                continue
            used = times.user + times.system
            previous = group.last.get(proc.pid)
            if not baseline:
                # First sight of a pid after the baseline: it was born since, count it all.
                group.total += used - previous if previous is not None else used
            group.last[proc.pid] = used

    def totals(self) -> dict[str, float]:
        with self._lock:
            out = {name: g.total for name, g in self.groups.items()}
        out[MACHINE] = _busy_seconds() - self._machine0
        return out

    def mark(self, name: str) -> None:
        """Remember the totals now (after a fresh sample) under `name`."""
        self.sample()
        self._marks[name] = (time.monotonic(), self.totals())

    def window(self, name: str, start: str, end: str) -> Window:
        t0, a = self._marks[start]
        t1, b = self._marks[end]
        return Window(name, t1 - t0, {k: b.get(k, 0.0) - a.get(k, 0.0) for k in b})
