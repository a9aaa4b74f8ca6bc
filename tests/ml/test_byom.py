"""A fitted estimator as a version's pipeline and meta: its task and classes from the
object, the caller's fields checked against what it was fitted on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kepler.core.errors import BadParameter, DataError
from kepler.core.wire import ModelRegister
from kepler.ml.byom import registered_model
from kepler.ml.outputs import predict_frame


def data(n: int = 100) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return X, np.where(X.a > X.b, "up", "down")


@pytest.mark.parametrize(
    ("estimator", "task", "target", "output"),
    [
        (make_pipeline(StandardScaler(), LogisticRegression()), "classifier", "y", "predicted(y)"),
        (LinearRegression(), "regressor", "y", "predicted(y)"),
        (KMeans(n_clusters=2, n_init=2, random_state=0), "clusterer", None, "cluster"),
        (IsolationForest(n_estimators=5, random_state=0), "outlier", None, "isOutlier"),
    ],
)
def test_registered_model_scores_through_apply_as_the_object_predicts(
    estimator: object, task: str, target: str | None, output: str
) -> None:
    X, y = data()
    labels = y if task == "classifier" else X.a * 2.0
    fitted = estimator.fit(X, labels)  # type: ignore[attr-defined]
    trained = registered_model(fitted, ModelRegister(features=["a", "b"], target=target))
    assert trained.meta.task == task and trained.meta.features == ["a", "b"]
    out = predict_frame(trained.pipeline, trained.meta, X)
    expected = fitted.predict(X)
    if task == "outlier":
        expected = (expected == -1).astype(int)
    np.testing.assert_array_equal(out[output].to_numpy(), expected)
    if task == "classifier":
        assert trained.meta.classes == ["down", "up"]


def test_registered_model_refuses_fields_it_was_not_fitted_on() -> None:
    X, y = data()
    fitted = LogisticRegression().fit(X, y)
    with pytest.raises(BadParameter, match="not the fields the model was fitted on"):
        registered_model(fitted, ModelRegister(features=["b", "a"], target="y"))
    with pytest.raises(BadParameter, match="needs target="):
        registered_model(fitted, ModelRegister(features=["a", "b"]))
    with pytest.raises(BadParameter, match="feature type"):
        registered_model(
            fitted, ModelRegister(features=["a", "b"], target="y", feature_types={"a": "text"})
        )


def test_registered_model_refuses_a_transformer() -> None:
    X, _ = data()
    with pytest.raises(DataError, match="cannot be registered"):
        registered_model(StandardScaler().fit(X), ModelRegister(features=["a", "b"]))
