"""Kepler's drift statistics, from histograms, against Evidently's own on the same rows.

Tolerances (see kepler.ml.monitoring.stats): exact on categories and few-valued numbers
(1e-9); Wasserstein from quantile bins with bin means: 2% of the value or 0.002; the
KS statistic D within the largest bin share on either side, and its p-value (from
``kstwo``, where Evidently's ``ks_2samp`` is exact below 10,000 rows) within half of
itself or 0.02; PSI and Jensen-Shannon on many-valued numbers use other bins than
Evidently, so only their decisions are compared.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kepler.core.errors import BadParameter
from kepler.ml.monitoring import count_window, drift, profile_frame
from kepler.ml.monitoring.drift import MIN_VALUES
from tests.ml.monitoring.evidently_shim import quiet, stattests

TYPES = {"num": "numeric", "cat": "categorical", "few": "numeric", "flag": "categorical"}


def sample(
    n: int, seed: int, *, shift: float = 0.0, spread: float = 1.0, tilt: float = 0.0
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cats = ["a", "b", "c", "d"]
    shares = np.array([0.4, 0.3, 0.2, 0.1]) + np.array([-tilt, 0, 0, tilt])
    return pd.DataFrame(
        {
            "num": rng.normal(10 + shift, 2 * spread, n),
            "cat": rng.choice(cats, n, p=shares / shares.sum()),
            "few": rng.integers(0, 4 + (1 if tilt else 0), n).astype(float),
            "flag": rng.choice(["yes", "no"], n, p=[0.3 + tilt, 0.7 - tilt]),
        }
    )


def kepler_rows(ref: pd.DataFrame, cur: pd.DataFrame, **kw: object) -> dict[str, dict]:
    baseline = {"fields": profile_frame(ref, TYPES)["fields"], "outputs": {}}
    window = count_window(baseline, [cur])
    return {r["field"]: r for r in drift(baseline, window, **kw)}  # type: ignore[arg-type]


EVIDENTLY_NAME = {
    "ks": "ks",
    "chi2": "chisquare",
    "z": "z",
    "wasserstein": "wasserstein",
    "jensenshannon": "jensenshannon",
    "psi": "psi",
}


def evidently(
    ref: pd.Series, cur: pd.Series, kind: str, method: str | None
) -> tuple[str, float, bool]:
    ColumnType, get_stattest = stattests()
    column_type = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
    with quiet():
        test = get_stattest(
            ref, cur, column_type, None if method is None else EVIDENTLY_NAME[method]
        )
        result = test(ref, cur, column_type, None)
    name = {v: k for k, v in EVIDENTLY_NAME.items()}[test.name]
    return name, float(result.drift_score), bool(result.drifted)


CASES = [
    pytest.param(800, 400, {}, id="small-same"),
    pytest.param(800, 400, {"shift": 0.8, "tilt": 0.1}, id="small-drifted"),
    pytest.param(20_000, 5_000, {}, id="large-same"),
    pytest.param(20_000, 5_000, {"shift": 0.5, "spread": 1.3, "tilt": 0.1}, id="large-drifted"),
]


@pytest.mark.parametrize(("n_ref", "n_cur", "change"), CASES)
def test_auto_picks_evidentlys_test_and_agrees_with_its_numbers(
    n_ref: int, n_cur: int, change: dict[str, float]
) -> None:
    ref, cur = sample(n_ref, 1), sample(n_cur, 2, **change)
    rows = kepler_rows(ref, cur)
    for name, kind in TYPES.items():
        method, score, drifted = evidently(ref[name], cur[name], kind, None)
        row = rows[name]
        assert row["method"] == method, (name, row)
        assert row["drifted"] == drifted, (name, row, score)
        if method == "wasserstein":
            assert row["statistic"] == pytest.approx(score, rel=0.02, abs=0.002), name
        elif method == "ks":
            # p-values: ours from kstwo on the binned D; both sides of 0.05 agree above.
            assert row["statistic"] == pytest.approx(score, rel=0.5, abs=0.02), name
        else:
            assert row["statistic"] == pytest.approx(score, rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("method", ["ks", "wasserstein", "psi", "jensenshannon", "chi2"])
@pytest.mark.parametrize(("n_ref", "n_cur", "change"), CASES)
def test_each_method_decides_as_evidently_does(
    method: str, n_ref: int, n_cur: int, change: dict[str, float]
) -> None:
    ref, cur = sample(n_ref, 3), sample(n_cur, 4, **change)
    rows = kepler_rows(ref, cur, method=method)
    for name, kind in TYPES.items():
        row = rows[name]
        if method in ("ks", "wasserstein") and kind == "categorical":
            assert row["statistic"] is None and "categorical" in row["note"]
            continue
        if method == "chi2" and name == "num":
            continue  # Evidently's chi-squared takes categories only; ours bins numbers
        # Evidently's auto runs chi-squared on few-valued numbers as on categories.
        as_kind = "categorical" if method == "chi2" else kind
        _, score, drifted = evidently(ref[name], cur[name], as_kind, method)
        assert row["drifted"] == drifted, (name, method, row, score)
        if method == "ks":  # p-values: ours asymptotic (kstwo), Evidently's exact here
            assert row["statistic"] == pytest.approx(score, rel=0.5, abs=0.02), name
        elif name != "num" or method == "chi2":
            assert row["statistic"] == pytest.approx(score, rel=1e-9, abs=1e-12), (name, method)


def test_ks_statistic_within_one_bin_share_of_the_rows() -> None:
    from scipy.stats import ks_2samp

    from kepler.ml.monitoring import stats

    ref, cur = sample(50_000, 5), sample(3_000, 6, shift=0.1)
    baseline = profile_frame(ref, TYPES)["fields"]
    window = count_window({"fields": baseline}, [cur])["fields"]
    ours = stats.ks_statistic(baseline["num"], window["num"])
    exact = ks_2samp(ref["num"], cur["num"]).statistic
    share = max(baseline["num"]["counts"]) / 50_000 + max(window["num"]["counts"]) / 3_000
    assert exact - share <= ours <= exact + 1e-12


def test_missing_values_are_shared_then_and_now() -> None:
    ref, cur = sample(2_000, 7), sample(500, 8)
    ref.loc[ref.index[:200], "num"] = np.nan
    cur.loc[cur.index[:250], "cat"] = None
    rows = kepler_rows(ref, cur)
    assert rows["num"]["missing_then"] == pytest.approx(0.1)
    assert rows["cat"]["missing_now"] == pytest.approx(0.5)
    assert (rows["num"]["rows_then"], rows["num"]["rows_now"]) == (2_000, 500)


def test_field_absent_from_the_events_is_reported_not_crashed() -> None:
    ref, cur = sample(2_000, 9), sample(500, 10).drop(columns=["cat"])
    rows = kepler_rows(ref, cur)
    assert rows["cat"]["drifted"] is None and rows["cat"]["statistic"] is None
    assert "no field 'cat'" in rows["cat"]["note"]
    assert rows["num"]["statistic"] is not None and rows["num"]["note"] == ""


def test_window_too_small_names_the_minimum() -> None:
    ref, cur = sample(2_000, 11), sample(5, 12)
    rows = kepler_rows(ref, cur)
    need = MIN_VALUES[rows["num"]["method"]]
    assert rows["num"]["statistic"] is None
    assert "has 5 value(s) of 'num'" in rows["num"]["note"]
    assert f"needs at least {need}" in rows["num"]["note"]


def test_bad_method_and_threshold_say_what_to_use() -> None:
    ref = sample(100, 13)
    with pytest.raises(BadParameter, match="use one of auto, psi, ks"):
        kepler_rows(ref, ref, method="kolmogorov")
    with pytest.raises(BadParameter, match="positive number"):
        kepler_rows(ref, ref, threshold=-1)


def test_threshold_replaces_every_default() -> None:
    ref, cur = sample(20_000, 14), sample(5_000, 15, shift=0.1)
    loose = kepler_rows(ref, cur, method="wasserstein", threshold=10.0)["num"]
    tight = kepler_rows(ref, cur, method="wasserstein", threshold=0.001)["num"]
    assert (loose["threshold"], loose["drifted"]) == (10.0, False)
    assert (tight["threshold"], tight["drifted"]) == (0.001, True)


def test_wasserstein_stays_exact_when_one_value_falls_below_the_baseline() -> None:
    """A shifted window with a single value below the baseline's minimum: the CDFs cross
    just inside the wide first bin, which must not add the whole bin's area."""
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(16)
    ref = pd.DataFrame({"num": rng.normal(0, 1, 50_000)})
    cur = pd.DataFrame({"num": np.append(rng.normal(0.8, 1, 20_000), ref["num"].min() - 1)})
    baseline = {"fields": profile_frame(ref, {"num": "numeric"})["fields"], "outputs": {}}
    (row,) = drift(baseline, count_window(baseline, [cur]))
    exact = wasserstein_distance(ref["num"], cur["num"]) / ref["num"].std(ddof=0)
    assert row["statistic"] == pytest.approx(exact, rel=1e-3)
