"""What every benchmark section is handed: the settings of a run (``KEPLER_BENCH_*``), the
synthetic dataset, one embedded stack and a scratch folder.

Its own module so that the sections can name :class:`Context` without importing
:mod:`bench.run`, which imports every section.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from bench import data

REFERENCE_ROWS = 1_000_000
ROOT = Path(__file__).resolve().parent.parent


class BenchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEPLER_BENCH_", extra="ignore")

    rows: int = REFERENCE_ROWS
    repeats: int = 3
    fit_rounds: int = 3
    automl_budget: float = 30.0  # seconds per AutoML search (section "automl")
    latency_seconds: float = 5.0  # seconds of closed-loop load per cell (section "latency")
    latency_rounds: int = 2  # rounds of every server per cell, the best kept ("latency")
    sections: str = ""
    output: Path = ROOT / "docs" / "benchmarks.md"


class Context:
    """What sections share: settings, the dataset, one embedded stack, a scratch folder."""

    def __init__(self, settings: BenchSettings, workdir: Path, exits: contextlib.ExitStack):
        self.settings = settings
        self.workdir = workdir
        self._exits = exits
        self._frame: Any = None
        self._stack: Any = None
        self._t0 = time.perf_counter()

    @property
    def rows(self) -> int:
        return self.settings.rows

    def log(self, message: str) -> None:
        print(
            f"[bench {time.perf_counter() - self._t0:7.1f}s] {message}", file=sys.stderr, flush=True
        )

    def dataset(self) -> Any:
        """The synthetic frame of :mod:`bench.data`, made once per run."""
        if self._frame is None:
            self.log(f"generating {self.rows:,} rows x {data.N_FEATURES} features")
            self._frame = data.synthetic(self.rows)
        return self._frame

    def stack(self) -> Any:
        """A real bridge and worker (two worker processes) under the scratch folder,
        started on first use and stopped at the end of the run."""
        if self._stack is None:
            from kepler._stack import LocalStack

            self.log("starting the embedded stack (bridge + worker, concurrency 2)")
            self._stack = self._exits.enter_context(
                _logged_stop(
                    self,
                    LocalStack(
                        self.workdir / "stack",
                        concurrency=2,
                        # The benchmarks measure the bridge, not a caller's request budget.
                        extra_env={"KEPLER_REQUESTS_PER_MINUTE": "0"},
                    ),
                )
            )
        return self._stack


@contextlib.contextmanager
def _logged_stop(ctx: Context, stack: Any) -> Iterator[Any]:
    with stack:
        yield stack
        ctx.log("stopping the embedded stack")
        t0 = time.perf_counter()
    ctx.log(f"  stopped in {time.perf_counter() - t0:.1f} s")
