"""The machine a run measured on, and how busy other work kept its CPUs meanwhile.

Benchmarks on a shared machine are only as good as the quiet they ran in, so every timed
step carries a :class:`CpuMeter` reading: the share of all CPUs that processes *outside*
this benchmark's process tree (the benchmark, the bridge, the workers) used while it ran.
Linux only (``/proc``); elsewhere the share is unknown and shown as ``n/a``.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TypeVar

from bench.report import Table

T = TypeVar("T")

LIBRARIES = (
    "kepler-ml",
    "numpy",
    "pandas",
    "pyarrow",
    "scikit-learn",
    "xgboost",
    "mlflow",
    "celery",
    "kombu",
    "fastapi",
    "uvicorn",
    "httpx",
    "sqlalchemy",
)
_PROC = Path("/proc")


def cpu_model() -> str:
    try:
        for line in (_PROC / "cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def machine_table(load_before: str, load_after: str) -> Table:
    table = Table(["", ""], caption="Machine")
    table.add("CPU", f"{cpu_model()}, {os.cpu_count()} logical cores")
    table.add("memory", f"{memory_gib():.1f} GiB")
    table.add("OS", platform.platform())
    table.add("Python", platform.python_version())
    table.add("load average (1/5/15 min) before the run", load_before)
    table.add("load average (1/5/15 min) after the run", load_after)
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    table.add("libraries", ", ".join(versions))
    return table


@dataclass(frozen=True)
class Reading:
    wall_s: float
    ours: float | None  # share of all CPUs used by this benchmark's processes
    others: float | None  # share of all CPUs used by everything else


class CpuMeter:
    """Wall time of a step, and the CPU share this process tree and the rest used."""

    def __init__(self) -> None:
        self._tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._cpus = os.cpu_count() or 1

    def __enter__(self) -> CpuMeter:
        self._busy0, self._ours0 = _busy_jiffies(), _tree_jiffies(os.getpid())
        self._t0 = time.perf_counter()
        self.reading: Reading | None = None
        return self

    def __exit__(self, *_: object) -> None:
        wall = time.perf_counter() - self._t0
        busy, ours = _busy_jiffies(), _tree_jiffies(os.getpid())
        if None in (busy, ours, self._busy0, self._ours0) or wall <= 0:
            self.reading = Reading(wall, None, None)
            return
        assert busy is not None and ours is not None
        assert self._busy0 is not None and self._ours0 is not None
        capacity = wall * self._tick * self._cpus
        d_ours = ours - self._ours0
        d_others = max(0, busy - self._busy0 - d_ours)
        self.reading = Reading(wall, d_ours / capacity, d_others / capacity)


def _busy_jiffies() -> int | None:
    try:
        fields = (_PROC / "stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    # user nice system idle iowait irq softirq steal: all but idle and iowait are busy
    values = [int(v) for v in fields[1:9]]
    return sum(values) - values[3] - values[4]


def _tree_jiffies(root: int) -> int | None:
    """CPU time of ``root`` and its descendants, reaped children included."""
    stats: dict[int, tuple[int, int]] = {}  # pid -> (ppid, jiffies)
    try:
        entries = list(_PROC.iterdir())
    except OSError:
        return None
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        rest = text.rsplit(")", 1)[1].split()  # the name may hold spaces and parentheses
        # after the name: state ppid ... utime(11) stime(12) cutime(13) cstime(14)
        stats[int(entry.name)] = (int(rest[1]), sum(int(v) for v in rest[11:15]))
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, (0, 0))[1]
        todo += children.get(pid, [])
    return total


@dataclass
class Timed:
    """Repeated readings of one step."""

    readings: list[Reading]

    @property
    def median(self) -> float:
        return statistics.median(r.wall_s for r in self.readings)

    @property
    def best(self) -> float:
        return min(r.wall_s for r in self.readings)

    @property
    def others(self) -> float | None:
        """The highest share other processes took during any of the readings."""
        shares = [r.others for r in self.readings if r.others is not None]
        return max(shares) if shares else None


def measure(fn: Callable[[], T]) -> tuple[Reading, T]:
    """Run ``fn`` once under a :class:`CpuMeter`."""
    with CpuMeter() as meter:
        out = fn()
    assert meter.reading is not None
    return meter.reading, out


def repeat(fn: Callable[[], T], repeats: int, *, warmup: int = 1) -> tuple[Timed, T]:
    """``warmup`` untimed runs, then ``repeats`` timed ones; the last run's result."""
    out = None
    for _ in range(warmup):
        out = fn()
    readings = []
    for _ in range(repeats):
        reading, out = measure(fn)
        readings.append(reading)
    assert out is not None
    return Timed(readings), out
