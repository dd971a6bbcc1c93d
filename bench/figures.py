"""Small pure helpers of the benchmark: percentiles, a slope, Prometheus text, py-spy profiles."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on sorted values."""
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summary(values: Iterable[float]) -> dict[str, float | int | None]:
    """count, p50, p95, p99, max (and min, mean) of `values`, in their unit."""
    data = sorted(values)
    if not data:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    return {
        "count": len(data),
        "min": round(data[0], 4),
        "p50": round(percentile(data, 50), 4),
        "p95": round(percentile(data, 95), 4),
        "p99": round(percentile(data, 99), 4),
        "max": round(data[-1], 4),
        "mean": round(sum(data) / len(data), 4),
    }


def slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x (None with fewer than two distinct x)."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels` (0 when there is none)."""
    total = 0.0
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None or match.group(1) != name:
            continue
        have = dict(_LABEL.findall(match.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
    return total


_RISKWATCH = {"alerting", "common", "ingest", "notify", "workorder", "reporting", "riskwatch"}


def _frame(frame: str) -> tuple[str, str]:
    """(function with its file, package) of a py-spy raw frame such as
    "evaluate_readings (alerting/alarms/service.py:41)": aggregated per function, not line."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    top = path.split("/", 1)[0] if "/" in path else path.removesuffix(".py")
    package = "riskwatch" if top in _RISKWATCH else top or "?"
    return (f"{name} ({path})" if path else name), package


def profile_summary(raw: Path, top: int = 25) -> dict[str, object]:
    """Self and inclusive sample shares per function, and self share per package, from a
    py-spy `--format raw` file. Idle samples are not in it (py-spy drops them by default).

    SQLAlchemy's asyncio layer runs ORM code in greenlets, which py-spy shows as separate
    stacks rooted at the greenlet's first frame: their callers' inclusive shares miss them.
    """
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame(f) for f in stack.split(";") if f.strip()]
        if not frames:
            self_counts["<no Python frame>"] += count
            packages["<native>"] += count
            continue
        self_counts[frames[-1][0]] += count
        packages[frames[-1][1]] += count
        for name in {f[0] for f in frames}:
            incl_counts[name] += count
    if total == 0:
        return {"samples": 0, "self": [], "inclusive": [], "self_by_package": []}

    def rows(counter: Counter[str], key: str, n: int) -> list[dict[str, object]]:
        return [{key: k, "percent": round(100.0 * v / total, 1)} for k, v in counter.most_common(n)]

    return {
        "samples": total,
        "self": rows(self_counts, "function", top),
        "inclusive": rows(incl_counts, "function", 2 * top),
        "self_by_package": rows(packages, "package", 15),
    }
