"""Holdout and descriptive metrics: right values, and no crash on degenerate data."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.svm import SVC

from kepler.ml import metrics
from kepler.ml.frames import NUMERIC
from kepler.ml.metrics import compute_metrics
from kepler.ml.pipeline import build_pipeline


def _X(values: Any) -> pd.DataFrame:
    return pd.DataFrame({"x": np.asarray(values, dtype=float)})


def _fitted(estimator: Any, task: str, X: pd.DataFrame, y: Any = None) -> Any:
    pipe = build_pipeline(estimator, {"x": NUMERIC}, task)
    return pipe.fit(X) if y is None else pipe.fit(X, y)


def test_binary_classifier_metrics_use_the_later_label_as_positive() -> None:
    X = _X(np.linspace(-1, 1, 40))
    y = np.where(X["x"] > 0, "yes", "no").astype(object)
    pipe = _fitted(LogisticRegression(), "classifier", X, y)
    holdout = _X([-0.9, -0.5, 0.5, 0.9, 0.01])
    truth = np.array(["no", "no", "yes", "yes", "no"], dtype=object)  # last one is wrong
    got = compute_metrics(pipe, "classifier", holdout, truth)
    assert got["accuracy"] == pytest.approx(0.8)
    assert got["precision"] == pytest.approx(2 / 3)  # 3 predicted yes, 2 right
    assert got["recall"] == pytest.approx(1.0)
    assert got["f1"] == pytest.approx(0.8)
    assert got["roc_auc"] == pytest.approx(1.0)


def test_multiclass_metrics_are_weighted_and_auc_is_one_vs_rest() -> None:
    X = _X(np.repeat([0.0, 5.0, 10.0], 10))
    y = np.repeat(["a", "b", "c"], 10).astype(object)
    pipe = _fitted(LogisticRegression(max_iter=1000), "classifier", X, y)
    got = compute_metrics(pipe, "classifier", X, y)
    assert got == {"accuracy": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0, "roc_auc": 1.0}


def test_auc_is_left_out_when_the_holdout_has_one_class() -> None:
    X = _X(np.linspace(-1, 1, 20))
    pipe = _fitted(LogisticRegression(), "classifier", X, np.where(X["x"] > 0, 1, 0))
    got = compute_metrics(pipe, "classifier", _X([0.5, 0.7]), np.array([1, 1]))
    assert "roc_auc" not in got and got["accuracy"] == 1.0


def test_multiclass_auc_weighs_classes_by_their_holdout_rows() -> None:
    X = _X(np.repeat([0.0, 5.0, 10.0], 10))
    y = np.repeat(["a", "b", "c"], 10).astype(object)
    pipe = _fitted(LogisticRegression(max_iter=1000), "classifier", X, y)
    two = compute_metrics(pipe, "classifier", _X([0.0, 5.0]), np.array(["a", "b"], dtype=object))
    assert two["roc_auc"] == 1.0  # class c has no holdout rows, so no weight
    one = compute_metrics(pipe, "classifier", _X([0.0]), np.array(["a"], dtype=object))
    assert "roc_auc" not in one and one["accuracy"] == 1.0


def test_binary_auc_uses_the_decision_function_without_probabilities() -> None:
    X = _X(np.linspace(-1, 1, 30))
    pipe = _fitted(SVC(kernel="linear"), "classifier", X, np.where(X["x"] > 0, "b", "a"))
    got = compute_metrics(pipe, "classifier", X, np.where(X["x"] > 0, "b", "a"))
    assert got["roc_auc"] == pytest.approx(1.0)


def test_regressor_metrics() -> None:
    X = _X([0, 1, 2, 3])
    pipe = _fitted(LinearRegression(), "regressor", X, np.array([0.0, 1.0, 2.0, 3.0]))
    got = compute_metrics(pipe, "regressor", X, np.array([0.0, 1.0, 2.0, 5.0]))
    assert got["mae"] == pytest.approx(0.5)
    assert got["rmse"] == pytest.approx(1.0)
    assert got["r2"] == pytest.approx(1 - 4 / 14)  # SS_res 4, SS_tot 14


def test_r2_is_left_out_for_a_single_row_or_a_constant_truth() -> None:
    X = _X([0, 1, 2])
    pipe = _fitted(LinearRegression(), "regressor", X, np.array([0.0, 1.0, 2.0]))
    assert set(compute_metrics(pipe, "regressor", _X([1]), np.array([1.0]))) == {"rmse", "mae"}
    assert "r2" not in compute_metrics(pipe, "regressor", X, np.array([2.0, 2.0, 2.0]))


def test_clusterer_silhouette_runs_on_a_bounded_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    X = _X(np.r_[np.zeros(50), np.full(50, 10.0)] + np.linspace(0, 0.1, 100))
    pipe = _fitted(KMeans(n_clusters=2, n_init=1, random_state=0), "clusterer", X)
    seen: list[int] = []
    real = metrics.skm.silhouette_score

    def spy(data: Any, labels: Any) -> float:
        seen.append(len(data))
        return float(real(data, labels))

    monkeypatch.setattr(metrics, "SILHOUETTE_SAMPLE", 30)
    monkeypatch.setattr(metrics.skm, "silhouette_score", spy)
    got = compute_metrics(pipe, "clusterer", X)
    assert seen == [30]
    assert got["n_clusters"] == 2 and got["silhouette"] > 0.9


def test_a_single_cluster_has_no_silhouette() -> None:
    X = _X(np.linspace(0, 1, 20))
    pipe = _fitted(KMeans(n_clusters=1, n_init=1), "clusterer", X)
    assert compute_metrics(pipe, "clusterer", X) == {"n_clusters": 1.0}


def test_outlier_fraction() -> None:
    X = _X(np.r_[np.linspace(0, 1, 95), [50, 60, 70, 80, 90]])
    pipe = _fitted(IsolationForest(contamination=0.05, random_state=0), "outlier", X)
    assert compute_metrics(pipe, "outlier", X) == {"outlier_fraction": pytest.approx(0.05)}


def test_pca_reports_the_share_of_variance_kept() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=50)})
    X["b"] = X["a"] * 2  # one direction holds all the variance
    pipe = build_pipeline(PCA(n_components=1), {"a": NUMERIC, "b": NUMERIC}, "transformer")
    pipe.fit(X)
    assert compute_metrics(pipe, "transformer", X)["explained_variance"] == pytest.approx(1.0)


def test_degenerate_inputs_give_empty_metrics_not_errors() -> None:
    X = _X(np.linspace(0, 1, 10))
    pipe = _fitted(LinearRegression(), "regressor", X, np.linspace(0, 1, 10))
    assert compute_metrics(pipe, "regressor", X.iloc[:0], np.array([])) == {}
    assert compute_metrics(pipe, "regressor", X, None) == {}
    assert compute_metrics(pipe, "no-such-task", X) == {}
    broken = _fitted(LinearRegression(), "regressor", X, np.linspace(0, 1, 10))
    broken.named_steps["model"].coef_ = None  # predict now raises inside the scorer
    assert compute_metrics(broken, "regressor", X, np.linspace(0, 1, 10)) == {}


def test_holdout_sample_keeps_truth_predictions_and_positive_scores() -> None:
    X = _X(np.linspace(-1, 1, 40))
    y = np.where(X["x"] > 0, "yes", "no").astype(object)
    pipe = _fitted(LogisticRegression(), "classifier", X, y)
    holdout = _X([-0.9, 0.5, 0.01])
    got = metrics.holdout_sample(pipe, "classifier", holdout, np.array(["no", "yes", "no"]))
    assert got is not None
    assert got["classes"] == ["no", "yes"] and got["n_holdout"] == 3
    assert got["y_true"] == ["no", "yes", "no"] and got["y_pred"] == ["no", "yes", "yes"]
    assert got["score"] == pytest.approx(pipe.predict_proba(holdout)[:, 1].tolist())
    json.dumps(got)  # stored as JSON with the model


def test_holdout_sample_is_bounded_and_numeric_for_regressors() -> None:
    X = _X(np.arange(50))
    pipe = _fitted(LinearRegression(), "regressor", X, 2 * X["x"].to_numpy())
    got = metrics.holdout_sample(pipe, "regressor", X, 2 * X["x"].to_numpy(), limit=10)
    assert got is not None and got["n_holdout"] == 50 and len(got["y_true"]) == 10
    assert got["y_pred"] == pytest.approx(got["y_true"])
    assert metrics.holdout_sample(pipe, "clusterer", X, None) is None
    assert metrics.holdout_sample(pipe, "regressor", X.iloc[:0], np.array([])) is None
