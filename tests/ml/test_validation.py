"""train() with split=time and kfold_cv: per-fold scores against scikit-learn's
cross_validate on the same folds, and a shuffled split caught overstating a model."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import KFold, StratifiedKFold, TimeSeriesSplit, cross_validate

from kepler.core.errors import DataError, InvalidSpec
from kepler.core.spec import FitSpec
from kepler.ml.training import train
from kepler.ml.validation import fold_metrics, mean_metrics


def _frame(n: int = 150, seed: int = 0) -> pd.DataFrame:
    """Numeric features without gaps (so Kepler's pipeline is the bare estimator), rows
    shuffled in time, as a search over several indexes returns them."""
    rng = np.random.default_rng(seed)
    x, z = rng.normal(size=n), rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "_time": 1.7e9 + 60.0 * np.arange(n),
            "x": x,
            "z": z,
            "amount": 3.0 * x - 2.0 * z + rng.normal(scale=0.5, size=n),
            "label": np.where(x + rng.normal(scale=0.7, size=n) > 0.2, "yes", "no"),
        }
    )
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _spec(algorithm: str, target: str, **kw: Any) -> FitSpec:
    return FitSpec(algorithm, target=target, features=("x", "z"), **kw)


def test_kfold_cv_regressor_scores_each_fold_as_scikit_learn_does() -> None:
    frame = _frame()
    trained = train(frame, _spec("LinearRegression", "amount", kfold_cv=4))
    want = cross_validate(
        LinearRegression(),
        frame[["x", "z"]].to_numpy(),
        frame["amount"].to_numpy(),
        cv=KFold(4, shuffle=True, random_state=0),
        scoring=("r2", "neg_mean_squared_error"),
    )
    folds = trained.meta.folds
    assert [f["fold_number"] for f in folds] == [1, 2, 3, 4]
    np.testing.assert_allclose([f["r2"] for f in folds], want["test_r2"], rtol=1e-9)
    np.testing.assert_allclose(
        [f["neg_mean_squared_error"] for f in folds],
        want["test_neg_mean_squared_error"],
        rtol=1e-9,
    )
    # The version's metrics are the fold means; the model itself learned every row.
    assert trained.metrics["r2"] == pytest.approx(np.mean(want["test_r2"]))
    assert trained.meta.n_train == len(frame) and trained.meta.n_holdout == 0
    assert trained.meta.kfold_cv == 4 and trained.meta.split == "random"


def test_kfold_cv_classifier_uses_stratified_folds_and_mltk_names() -> None:
    frame = _frame(seed=1)
    trained = train(frame, _spec("LogisticRegression", "label", kfold_cv=3))
    want = cross_validate(
        LogisticRegression(),
        frame[["x", "z"]].to_numpy(),
        frame["label"].to_numpy(),
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        scoring=("accuracy", "f1_weighted", "precision_weighted", "recall_weighted"),
    )
    folds = trained.meta.folds
    # MLTK's names: the scikit-learn scorers its k-fold scoring asks for
    scorers = ("accuracy", "f1_weighted", "precision_weighted", "recall_weighted")
    assert set(folds[0]) == {"fold_number", "n_train", "n_test", *scorers}
    for name in scorers:
        np.testing.assert_allclose([f[name] for f in folds], want[f"test_{name}"], rtol=1e-6)


def test_kfold_cv_in_time_order_is_time_series_split_on_the_sorted_rows() -> None:
    frame = _frame(seed=2)
    trained = train(frame, _spec("LinearRegression", "amount", kfold_cv=3, split="time", gap=5))
    ordered = frame.sort_values("_time")
    want = cross_validate(
        LinearRegression(),
        ordered[["x", "z"]].to_numpy(),
        ordered["amount"].to_numpy(),
        cv=TimeSeriesSplit(3, gap=5),
        scoring="r2",
    )
    folds = trained.meta.folds
    np.testing.assert_allclose([f["r2"] for f in folds], want["test_score"], rtol=1e-9)
    assert [f["n_test"] for f in folds] == [37, 37, 37]
    assert [f["n_train"] for f in folds] == [34, 71, 108]  # 39 + 37k, less the gap
    assert trained.meta.split == "time" and trained.meta.time_field == "_time"


def test_time_split_holds_out_the_latest_rows() -> None:
    frame = _frame(n=100, seed=3)
    trained = train(frame, _spec("LinearRegression", "amount", split="time", holdout=0.25))
    assert trained.meta.split == "time" and trained.meta.n_holdout == 25
    latest = frame.sort_values("_time").tail(25)
    model = LinearRegression().fit(
        frame.drop(latest.index)[["x", "z"]], frame.drop(latest.index)["amount"]
    )
    pred = model.predict(latest[["x", "z"]])
    want = np.sqrt(np.mean((pred - latest["amount"].to_numpy()) ** 2))
    assert trained.metrics["rmse"] == pytest.approx(want)


def test_time_split_is_the_default_when_time_is_a_feature() -> None:
    frame = _frame(n=80, seed=4)
    spec = FitSpec("LinearRegression", target="amount", features=("_time", "x", "z"))
    assert train(frame, spec).meta.split == "time"
    assert train(frame, _spec("LinearRegression", "amount")).meta.split == "random"


def test_time_split_on_a_named_field() -> None:
    frame = _frame(n=60, seed=5).rename(columns={"_time": "ts"})
    trained = train(frame, _spec("LinearRegression", "amount", time_field="ts"))
    assert trained.meta.split == "time" and trained.meta.time_field == "ts"


def test_time_split_without_the_time_field_says_how_to_fix_it() -> None:
    frame = _frame(n=60).drop(columns="_time")
    with pytest.raises(DataError, match=r"time field '_time' is not in the data.*split=random"):
        train(frame, _spec("LinearRegression", "amount", split="time"))


def test_kfold_cv_on_an_unsupervised_algorithm_is_refused() -> None:
    spec = FitSpec("KMeans", features=("x", "z"), kfold_cv=3)
    with pytest.raises(InvalidSpec, match="kfold_cv scores classifiers and regressors"):
        train(_frame(), spec)


def test_shuffled_split_overstates_a_model_that_the_time_split_scores_honestly() -> None:
    # A trend: a forest on _time interpolates between training neighbours when rows are
    # shuffled, and cannot extrapolate past its last training time when they are not.
    n = 400
    rng = np.random.default_rng(0)
    t = 1.7e9 + 3600.0 * np.arange(n)
    frame = pd.DataFrame(
        {
            "_time": t,
            "load": np.arange(n) * 0.5 + 10 * np.sin(np.arange(n) / 8) + rng.normal(size=n),
        }
    )
    params = {"n_estimators": 50, "random_state": 0}
    spec = FitSpec("RandomForestRegressor", target="load", features=("_time",), params=params)
    shuffled = train(frame, replace(spec, split="random"))
    in_time = train(frame, spec)  # the default: _time is a feature
    assert in_time.meta.split == "time" and shuffled.meta.split == "random"
    assert shuffled.metrics["r2"] > 0.95
    assert in_time.metrics["r2"] < 0.0
    assert shuffled.metrics["r2"] - in_time.metrics["r2"] > 1.0


def test_fold_metrics_regression_names() -> None:
    got = fold_metrics("regressor", np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 4.0]))
    assert got["neg_mean_squared_error"] == pytest.approx(-1 / 3)
    assert got["r2"] == pytest.approx(0.5)


def test_mean_metrics_skips_folds_without_a_metric() -> None:
    assert mean_metrics([{"a": 1.0, "b": 4.0}, {"a": 3.0}]) == {"a": 2.0, "b": 4.0}


def test_fold_metrics_on_numeric_class_labels() -> None:
    got = fold_metrics("classifier", np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]))
    assert got["accuracy"] == 0.75 and got["recall_weighted"] == 0.75


def test_kfold_cv_with_by_is_time_series_split_within_each_group() -> None:
    frame = _frame(n=160, seed=6)
    frame["site"] = np.where(frame.index % 2 == 0, "a", "b")
    spec = FitSpec(
        "LinearRegression",
        target="amount",
        features=("x", "z"),
        by=("site",),
        kfold_cv=3,
        split="time",
    )
    trained = train(frame, spec)
    folds = trained.meta.folds
    assert [(f["site"], f["fold_number"]) for f in folds] == [
        ("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2), ("b", 3)
    ]  # fmt: skip
    for site in ("a", "b"):
        ordered = frame[frame["site"] == site].sort_values("_time")
        want = cross_validate(
            LinearRegression(),
            ordered[["x", "z"]].to_numpy(),
            ordered["amount"].to_numpy(),
            cv=TimeSeriesSplit(3),
            scoring="r2",
        )
        got = [f["r2"] for f in folds if f["site"] == site]
        np.testing.assert_allclose(got, want["test_score"], rtol=1e-9)
    assert trained.metrics["r2"] == pytest.approx(np.mean([f["r2"] for f in folds]))
    assert trained.groups is not None and len(trained.groups) == 2  # one model per site
