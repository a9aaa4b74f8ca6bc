"""Importances and coefficients, by the names of the columns the estimator saw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsRegressor
from sklearn.svm import SVC

from kepler.ml import frames
from kepler.ml.explain import explain
from kepler.ml.frames import CATEGORICAL, NUMERIC
from kepler.ml.pipeline import build_pipeline

TYPES = {"x": NUMERIC, "noise": NUMERIC, "color": CATEGORICAL}


def _data(n: int = 90) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    raw = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "noise": rng.normal(size=n),
            "color": np.tile(["red", "green", "blue"], n // 3),
        }
    )
    y = 5.0 * raw["x"].to_numpy() + 2.0 * (raw["color"] == "red").to_numpy()
    return frames.conform(raw, TYPES), y


def test_importances_are_sorted_and_name_one_hot_columns() -> None:
    X, y = _data()
    pipe = build_pipeline(
        RandomForestRegressor(n_estimators=10, random_state=0), TYPES, "regressor"
    ).fit(X, y)
    got = explain(pipe)
    assert got[0]["feature"] == "x"
    assert {e["feature"] for e in got} == {"x", "noise", "color=blue", "color=green", "color=red"}
    values = [e["importance"] for e in got]
    assert values == sorted(values, reverse=True)
    assert sum(values) == pytest.approx(1.0)


def test_linear_coefficients_are_sorted_by_magnitude_with_their_sign() -> None:
    X, y = _data()
    pipe = build_pipeline(LinearRegression(), TYPES, "regressor").fit(X, -y)
    got = explain(pipe)
    assert got[0] == {"feature": "x", "coefficient": got[0]["coefficient"]}
    assert got[0]["coefficient"] < -4.9
    assert [abs(e["coefficient"]) for e in got] == sorted(
        (abs(e["coefficient"]) for e in got), reverse=True
    )


def test_binary_classifier_has_one_coefficient_per_feature() -> None:
    X, y = _data()
    pipe = build_pipeline(LogisticRegression(), TYPES, "classifier").fit(X, y > 0)
    got = explain(pipe)
    assert len(got) == 5 and all("class" not in e for e in got)


def test_multiclass_coefficients_name_their_class() -> None:
    X, _ = _data()
    labels = np.where(X["x"] > 0.5, "high", np.where(X["x"] < -0.5, "low", "mid"))
    pipe = build_pipeline(LogisticRegression(max_iter=1000), TYPES, "classifier").fit(X, labels)
    got = explain(pipe)
    assert len(got) == 15
    assert {e["class"] for e in got} == {"high", "low", "mid"}


def test_models_without_importances_explain_nothing() -> None:
    X, y = _data()
    assert explain(build_pipeline(KNeighborsRegressor(), TYPES, "regressor").fit(X, y)) == []
    # SVC raises on coef_ for a non-linear kernel
    assert explain(build_pipeline(SVC(), TYPES, "classifier").fit(X, y > 0)) == []
