"""Drift between two versions' baselines: the second's profile re-counted on the first's
bins agrees with counting the second's rows there, and drift shows where data moved."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kepler.ml.monitoring import count_window, drift, profile_frame
from kepler.ml.monitoring.versions import as_window, baseline_drift

TYPES = {"temp": "numeric", "code": "numeric", "site": "categorical"}


def frame(
    n: int, seed: int, shift: float = 0.0, sites: tuple[str, ...] = ("a", "b")
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "temp": rng.normal(50 + shift, 10, n),
            "code": rng.integers(0, 3, n).astype(float),
            "site": rng.choice(list(sites), n),
        }
    )


def test_same_data_drifts_nowhere() -> None:
    a = profile_frame(frame(3000, 1), TYPES)
    b = profile_frame(frame(3000, 2), TYPES)
    rows = {r["field"]: r for r in baseline_drift(a, b)}
    assert set(rows) == {"temp", "code", "site"}
    assert not any(r["drifted"] for r in rows.values()), rows
    assert all(r["method"] and r["statistic"] is not None for r in rows.values())


def test_moved_data_drifts_where_it_moved() -> None:
    a = profile_frame(frame(3000, 1), TYPES)
    b = profile_frame(frame(3000, 2, shift=15.0, sites=("a", "c")), TYPES)
    rows = {r["field"]: r for r in baseline_drift(a, b)}
    assert rows["temp"]["drifted"] is True
    assert rows["site"]["drifted"] is True
    assert rows["code"]["drifted"] is False


def test_the_recount_matches_counting_the_rows() -> None:
    a = profile_frame(frame(4000, 1), TYPES)
    second = frame(4000, 2, shift=5.0)
    b = profile_frame(second, TYPES)
    recounted = as_window(a["fields"]["temp"], b["fields"]["temp"])
    counted = count_window(a, [second])["fields"]["temp"]
    assert recounted["count"] == counted["count"]
    assert sum(recounted["counts"]) + recounted["below"] + recounted["above"] == pytest.approx(
        counted["count"]
    )
    # Uniform within each of the second's bins: close to the true counts, bin by bin.
    assert np.abs(np.array(recounted["counts"]) - np.array(counted["counts"])).max() < 0.02 * 4000
    exact = drift(a, {"rows": 4000, "fields": {"temp": counted}, "absent": []})[0]
    approx = baseline_drift({"rows": 4000, "fields": {"temp": a["fields"]["temp"]}}, b)[0]
    assert approx["method"] == exact["method"]
    assert approx["statistic"] == pytest.approx(exact["statistic"], rel=0.1, abs=0.01)


def test_a_field_the_second_lacks_is_named() -> None:
    a = profile_frame(frame(500, 1), TYPES)
    b = profile_frame(frame(500, 2)[["temp", "code"]], {"temp": "numeric", "code": "numeric"})
    rows = {r["field"]: r for r in baseline_drift(a, b)}
    assert rows["site"]["statistic"] is None and "site" in rows["site"]["note"]
