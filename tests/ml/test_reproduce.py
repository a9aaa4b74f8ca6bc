"""The reproduction rules: which algorithms must match exactly, and the comparison."""

from __future__ import annotations

import math

import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression
from sklearn.neural_network import MLPClassifier

from kepler.ml import reproduce
from kepler.ml.reproduce import EXACT, TOLERANCE, compare, rule_for, verdict


@pytest.mark.parametrize(
    ("algorithm", "estimator", "kind"),
    [
        ("RandomForestClassifier", RandomForestClassifier(random_state=3), EXACT),
        ("RandomForestClassifier", RandomForestClassifier(), TOLERANCE),
        ("LinearRegression", LinearRegression(), EXACT),
        ("MLPClassifier", MLPClassifier(random_state=3), TOLERANCE),
    ],
)
def test_rule_follows_the_algorithm_family(algorithm: str, estimator: object, kind: str) -> None:
    rule = rule_for(algorithm, estimator)
    assert rule.kind == kind
    assert rule.why.startswith(algorithm)


def test_rule_for_a_gpu_fit_is_a_tolerance() -> None:
    class OnGpu:
        def get_params(self, deep: bool = True) -> dict[str, object]:
            return {"device": "cuda", "random_state": 0}

    assert rule_for("XGBoostClassifier", OnGpu()).kind == TOLERANCE


def test_exact_rule_needs_the_same_number() -> None:
    rule = rule_for("LinearRegression", LinearRegression())
    rows = compare({"r2": 0.9, "rmse": 1.5}, {"r2": 0.9, "rmse": 1.5000001}, rule)
    assert [(r["item"], r["match"], r["tolerance"]) for r in rows] == [
        ("metric.r2", True, 0.0),
        ("metric.rmse", False, 0.0),
    ]
    assert rows[1]["difference"] == pytest.approx(1e-7)
    assert verdict(rows) == "differs"
    assert verdict(rows[:1]) == "exact"


def test_tolerance_rule_states_its_bound_per_metric() -> None:
    rule = rule_for("RandomForestClassifier", RandomForestClassifier())
    rows = compare({"accuracy": 0.30, "rmse": 40.0}, {"accuracy": 0.31, "rmse": 41.5}, rule)
    by_item = {r["item"]: r for r in rows}
    assert by_item["metric.accuracy"]["tolerance"] == reproduce.ABS_TOLERANCE
    assert by_item["metric.rmse"]["tolerance"] == pytest.approx(reproduce.REL_TOLERANCE * 40)
    assert all(r["match"] for r in rows)
    assert verdict(rows) == "within_tolerance"
    far = compare({"accuracy": 0.90}, {"accuracy": 0.85}, rule)  # more than 5% of 0.9
    assert verdict(far) == "differs"
    assert "within max(0.02, 0.05" in rule.describe()


def test_missing_metric_and_nan_and_split_rows() -> None:
    rule = rule_for("LinearRegression", LinearRegression())
    rows = compare(
        {"r2": math.nan, "mae": 1.0},
        {"r2": math.nan},
        rule,
        split=(
            {"split_digest": "ab", "n_train": 8, "n_holdout": 2},
            {"split_digest": "ac", "n_train": 8, "n_holdout": 2},
        ),
    )
    by_item = {r["item"]: r for r in rows}
    assert by_item["metric.r2"]["match"] is True  # NaN on both sides: the same
    assert by_item["metric.mae"]["match"] is False and by_item["metric.mae"]["reproduced"] is None
    assert by_item["split"]["match"] is False and by_item["split"]["rule"] == EXACT
    assert by_item["n_train"]["match"] is True
    # A version fitted before the digest was kept: the counts still compare.
    old = compare({}, {}, rule, split=({"n_train": 8}, {"split_digest": "ab", "n_train": 8}))
    assert [r["item"] for r in old] == ["n_train", "n_holdout"]


def test_rule_looks_inside_a_wrapped_estimator() -> None:
    from kepler.ml.pipeline import EncodedLabelClassifier

    seeded = EncodedLabelClassifier(RandomForestClassifier(random_state=9))
    assert rule_for("RandomForestClassifier", seeded).kind == EXACT
    assert "random_state=9" in rule_for("RandomForestClassifier", seeded).why
    unseeded = EncodedLabelClassifier(RandomForestClassifier())
    assert rule_for("RandomForestClassifier", unseeded).kind == TOLERANCE
