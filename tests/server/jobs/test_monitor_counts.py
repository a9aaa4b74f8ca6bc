"""A monitor run's counts page by page (kepler.server.jobs.monitor_counts): the same answer
as the whole window in memory, and memory that does not grow with the number of events."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score

from kepler.core.errors import DataError
from kepler.core.spec import FitSpec
from kepler.ml.monitoring import count_window, drift
from kepler.ml.outputs import predict_frame
from kepler.ml.training import train
from kepler.server.drift import with_outputs
from kepler.server.jobs.monitor_counts import MonitorCounts
from kepler.splunk.search import splunk_pages
from kepler.splunk.settings import SplunkSettings
from tests.server.jobs.test_monitor import pumps

SETTINGS = SimpleNamespace(score_max_rows=1_000_000, score_max_classes=100)


@pytest.fixture(scope="module")
def model() -> tuple[Any, Any, dict[str, Any]]:
    trained = train(
        pumps(3_000, seed=0),
        FitSpec("LogisticRegression", target="failure", features=("temp", "site")),
    )
    assert trained.baseline is not None
    return trained.pipeline, trained.meta, trained.baseline


def pages(frame: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), size):
        yield frame.iloc[start : start + size].reset_index(drop=True)


def test_counts_page_by_page_equal_the_whole_window_in_memory(
    model: tuple[Any, Any, dict[str, Any]],
) -> None:
    pipeline, meta, baseline = model
    events = pumps(2_000, seed=5, hot=4.0)
    events.loc[events.index % 3 == 0, "failure"] = None  # labels that have not come yet
    counts = MonitorCounts((pipeline, meta), baseline, label="failure", settings=SETTINGS)
    for page in pages(events, 137):
        counts.add(page)

    whole = count_window(baseline, [with_outputs(pipeline, meta, baseline, events)])
    expected = drift(baseline, whole, method="auto")
    got = counts.drift("auto", None)
    assert [r["field"] for r in got] == [r["field"] for r in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert mine["method"] == theirs["method"]
        assert mine["drifted"] == theirs["drifted"]
        assert mine["statistic"] == pytest.approx(theirs["statistic"], rel=1e-9, abs=1e-12)
    assert any(r["drifted"] for r in got)  # a hot window: the comparison means something

    labelled = events[events["failure"].notna()]
    predicted = predict_frame(pipeline, meta, labelled, probabilities=False).iloc[:, 0]
    metrics = counts.live.metrics() if counts.live else {}
    assert metrics["rows"] == len(labelled)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(labelled["failure"], predicted))
    assert metrics["f1"] == pytest.approx(
        f1_score(labelled["failure"], predicted, average="weighted")
    )


def test_a_label_absent_from_every_page_is_reported_once_at_the_end(
    model: tuple[Any, Any, dict[str, Any]],
) -> None:
    pipeline, meta, baseline = model
    counts = MonitorCounts((pipeline, meta), baseline, label="outcome", settings=SETTINGS)
    for page in pages(pumps(300, seed=6), 100):
        counts.add(page)
    assert counts.rows == 300
    with pytest.raises(DataError, match="'outcome' is not in the events"):
        assert counts.live is not None
        counts.live.metrics()


class _Export:
    """splunkd's export stream made as it is read: ``n`` events, nothing held."""

    def __init__(self, n: int) -> None:
        self.lines = self._lines(n)
        self.buffer = b""

    @staticmethod
    def _lines(n: int) -> Iterator[bytes]:
        rng = np.random.default_rng(n)
        sites = ("north", "south", "east")
        for i in range(n):
            row = {
                "temp": f"{rng.normal(62, 5):.3f}",
                "site": sites[i % 3],
                "failure": "yes" if i % 4 == 0 else "no",
            }
            yield json.dumps({"preview": False, "result": row}).encode() + b"\n"

    def read(self, size: int) -> bytes:
        size = min(size, 64 * 1024)  # a socket's read: what has come, not all asked for
        while len(self.buffer) < size:
            line = next(self.lines, None)
            if line is None:
                break
            self.buffer += line
        out, self.buffer = self.buffer[:size], self.buffer[size:]
        return out

    def close(self) -> None:
        pass


def _peak_bytes(model: tuple[Any, Any, dict[str, Any]], n: int) -> tuple[int, int]:
    pipeline, meta, baseline = model
    service = SimpleNamespace(jobs=SimpleNamespace(export=lambda query, **kw: _Export(n)))
    settings = SplunkSettings(url="https://splunkd.invalid:8089", token="t")
    tracemalloc.start()
    try:
        counts = MonitorCounts((pipeline, meta), baseline, label="failure", settings=SETTINGS)
        for page in splunk_pages("index=x", settings=settings, service=service, page_rows=2_000):
            counts.add(page)
        assert counts.live is not None
        assert counts.live.metrics()["rows"] == n
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return counts.rows, peak


def test_a_run_holds_a_page_not_the_window(model: tuple[Any, Any, dict[str, Any]]) -> None:
    small_rows, small = _peak_bytes(model, 10_000)
    large_rows, large = _peak_bytes(model, 40_000)
    assert (small_rows, large_rows) == (10_000, 40_000)
    # Four times the events: the peak stays that of a page (all in memory, it would be
    # about four times as large).
    assert large / small < 1.6, (small, large)
