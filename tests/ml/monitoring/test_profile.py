"""Profiles are bounded: a fixed-size state and answer however many rows stream through."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kepler.ml.monitoring import profile_batches, profile_frame
from kepler.ml.monitoring.profile import BINS, MAX_TRACKED, TOP_K

TYPES = {"x": "numeric", "c": "categorical"}
BATCH = 100_000


def batches(n_batches: int, seed: int = 0, *, text: bool = True) -> Iterator[pa.RecordBatch]:
    """Record batches made on demand: the stream is never in memory as a whole."""
    rng = np.random.default_rng(seed)
    for _ in range(n_batches):
        columns = {"x": rng.lognormal(0, 1, BATCH)}
        if text:
            columns["c"] = pa.array(rng.integers(0, 3 * MAX_TRACKED, BATCH).astype(str))
        yield pa.RecordBatch.from_pydict(columns)


def peak_bytes(n_batches: int) -> int:
    """Peak traced memory profiling ``n_batches`` (numbers: tracing every Python string of
    a categorical column would take minutes; its state's bound is the next test's)."""
    tracemalloc.start()
    try:
        profile_batches(lambda: batches(n_batches, text=False), {"x": "numeric"})
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_profile_memory_is_flat_in_the_number_of_rows() -> None:
    small, large = peak_bytes(5), peak_bytes(20)  # 500k and 2M rows
    # The state is fixed (sample, bins, MAX_TRACKED categories); only a batch varies.
    assert large < 1.3 * small, (small, large)


def test_profile_answer_is_bounded_however_many_categories() -> None:
    out = profile_batches(lambda: batches(3), TYPES)
    x, c = out["fields"]["x"], out["fields"]["c"]
    assert out["rows"] == 3 * BATCH
    assert len(x["edges"]) <= BINS + 1 and len(x["counts"]) == len(x["edges"]) - 1
    assert sum(x["counts"]) == x["count"] == 3 * BATCH
    assert len(c["top"]) == TOP_K and c["distinct_capped"]
    assert c["distinct"] == MAX_TRACKED + 1
    assert sum(n for _, n in c["top"]) + c["other"] == c["count"]
    assert len(json.dumps(out)) < 20_000


def test_numeric_profile_matches_the_rows() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(5, 3, 50_000)
    values[::10] = np.nan
    out = profile_frame(pd.DataFrame({"x": values}), {"x": "numeric"})["fields"]["x"]
    present = values[~np.isnan(values)]
    assert (out["count"], out["nulls"]) == (45_000, 5_000)
    assert out["mean"] == pytest.approx(present.mean(), rel=1e-12)
    assert out["std"] == pytest.approx(present.std(), rel=1e-9)  # ddof=0, as Evidently
    assert (out["min"], out["max"]) == (present.min(), present.max())
    # Quantile edges from the sample: every bin holds about 1/BINS of the rows.
    shares = np.asarray(out["counts"]) / out["count"]
    assert shares.max() < 2.5 / BINS and shares.min() > 0.3 / BINS


def test_few_valued_numbers_keep_each_value() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 2.0, 3.0] * 100})
    out = profile_frame(frame, {"x": "numeric"})["fields"]["x"]
    assert out["values"] == {"1.0": 100, "2.0": 200, "3.0": 100}


def test_profile_streams_parquet_parts(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"x": rng.normal(0, 1, 30_000), "c": rng.choice(["a", "b", "c"], 30_000)})
    for i in range(3):
        part = frame.iloc[i * 10_000 : (i + 1) * 10_000]
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), tmp_path / f"{i}.parquet")

    def parts() -> Iterator[pa.RecordBatch]:
        for path in sorted(tmp_path.glob("*.parquet")):
            yield from pq.ParquetFile(path).iter_batches(batch_size=4_096)

    streamed = profile_batches(parts, TYPES)["fields"]
    whole = profile_frame(frame, TYPES)["fields"]
    assert streamed["c"] == whole["c"]
    for key in ("count", "nulls", "min", "max"):
        assert streamed["x"][key] == whole["x"][key]
    assert streamed["x"]["mean"] == pytest.approx(whole["x"]["mean"], abs=1e-12)
    assert streamed["x"]["std"] == pytest.approx(whole["x"]["std"], rel=1e-12)


def window_peak_bytes(baseline: dict, n_batches: int) -> int:
    from kepler.ml.monitoring import count_window

    tracemalloc.start()
    try:
        count_window(baseline, batches(n_batches, seed=1, text=False))
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_window_counting_memory_is_flat_in_the_number_of_events() -> None:
    profile = profile_batches(lambda: batches(2, text=False), {"x": "numeric"})
    baseline = {"fields": profile["fields"], "outputs": {}}
    small, large = window_peak_bytes(baseline, 5), window_peak_bytes(baseline, 20)
    assert large < 1.3 * small, (small, large)
