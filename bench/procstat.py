"""CPU seconds and resident memory per OS process group (a service, Kafka, PostgreSQL and its
backends...) over named windows, sampled with psutil in a background thread.

Each group is a root pid plus, optionally, all its descendants but those measured as groups of
their own (ingest's Mosquitto is its child, and reported apart). Every sample adds, per pid, the
CPU time (user + system) used since that pid's previous sample; a pid first seen mid-window
counts from zero (it was born then), one that exits loses at most one interval. PostgreSQL's
backends come and go with connection pools, so it is measured as the postmaster's children.

Every sample also records each group's RSS: the sum of `memory_info().rss` over its pids. For
PostgreSQL that sum counts the shared buffers once per backend that touched them, so it
overstates what the server holds; for the Python services (one process each) it is exact.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

import psutil

MACHINE = "machine (all cores)"
MIB = 2**20


@dataclass
class Group:
    name: str
    root_pid: Callable[[], int | None]
    children: bool = True
    last: dict[int, float] = field(default_factory=dict)
    total: float = 0.0
    rss: int = 0  # bytes, at the latest sample; 0 when the process is gone


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


@dataclass(frozen=True)
class Mark:
    at: float  # time.monotonic()
    cpu: dict[str, float]  # cumulative CPU seconds per group
    rss: dict[str, int]  # bytes per group


def _busy_seconds() -> float:
    t = psutil.cpu_times()
    idle = t.idle + getattr(t, "iowait", 0.0)
    return float(sum(t)) - idle - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)


class ProcSampler:
    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self.groups: dict[str, Group] = {}
        self.rss_samples: list[tuple[float, dict[str, int]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._marks: dict[str, Mark] = {}
        self._machine0 = _busy_seconds()

    def add(self, name: str, root_pid: Callable[[], int | None], *, children: bool = True) -> None:
        """Measure `name` from now on. Adding a name again (the next phase's load generator)
        points it at the new process and keeps counting its CPU seconds on top."""
        with self._lock:
            group = self.groups.get(name)
            if group is None:
                group = self.groups[name] = Group(name, root_pid, children)
            else:
                group.root_pid, group.children = root_pid, children
            # time used before now is not counted
            self._sample_group(group, baseline=True, apart=self._roots())

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="proc-sampler", daemon=True)
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
            apart = self._roots()
            for group in self.groups.values():
                self._sample_group(group, apart=apart)
            self.rss_samples.append(
                (time.monotonic(), {name: g.rss for name, g in self.groups.items()})
            )

    def _roots(self) -> set[int]:
        return {pid for g in self.groups.values() if (pid := g.root_pid()) is not None}

    def _sample_group(
        self, group: Group, *, baseline: bool = False, apart: Collection[int] = ()
    ) -> None:
        group.rss = 0
        pid = group.root_pid()
        if pid is None:
            return
        try:
            root = psutil.Process(pid)
            below = root.children(recursive=True) if group.children else []
        except psutil.Error:
            return
        # A descendant measured as a group of its own is not counted here too (nor its own
        # descendants: the only such group, Mosquitto, has none).
        procs = [root, *(p for p in below if p.pid not in apart)]
        for proc in procs:
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    rss = proc.memory_info().rss
            except psutil.Error:
                continue
            group.rss += rss
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

    def rss_now(self) -> dict[str, float]:
        """MiB per group at the latest sample (groups whose process is gone left out)."""
        with self._lock:
            return {name: round(g.rss / MIB, 1) for name, g in self.groups.items() if g.rss}

    def mark(self, name: str) -> None:
        """Remember the totals and RSS now (after a fresh sample) under `name`."""
        self.sample()
        with self._lock:
            rss = {n: g.rss for n, g in self.groups.items()}
        self._marks[name] = Mark(time.monotonic(), self.totals(), rss)

    def window(self, name: str, start: str, end: str) -> Window:
        a, b = self._marks[start], self._marks[end]
        return Window(name, b.at - a.at, {k: v - a.cpu.get(k, 0.0) for k, v in b.cpu.items()})

    def rss(self, start: str, end: str, names: list[str]) -> dict[str, dict[str, float]]:
        """RSS in MiB of each of `names` at mark `start`, at mark `end`, and the largest
        sampled in between (samples are `interval` apart, so a shorter spike can be missed)."""
        a, b = self._marks[start], self._marks[end]
        with self._lock:
            inside = [s for t, s in self.rss_samples if a.at <= t <= b.at]
        out: dict[str, dict[str, float]] = {}
        for name in names:
            peak = max((s.get(name, 0) for s in inside), default=0)
            out[name] = {
                "start": round(a.rss.get(name, 0) / MIB, 1),
                "end": round(b.rss.get(name, 0) / MIB, 1),
                "peak": round(max(peak, a.rss.get(name, 0), b.rss.get(name, 0)) / MIB, 1),
            }
        return out
