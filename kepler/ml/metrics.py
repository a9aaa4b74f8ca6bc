"""How good a fitted model is, as a flat ``{metric: float}`` dict.

Supervised models are scored on the holdout rows they did not see:

* classifiers: ``accuracy``, ``precision``, ``recall``, ``f1`` (binary for two classes,
  the positive class being the later of the two sorted labels, e.g. ``yes`` over ``no``
  and 1 over 0; weighted by class size for more), ``roc_auc`` (binary; one-vs-rest
  weighted for more classes);
* regressors: ``rmse``, ``mae``, ``r2``.

Unsupervised models have no holdout; they are described on the training rows:

* clusterers: ``n_clusters`` (noise, -1, excluded) and ``silhouette`` on a random sample
  of at most :data:`SILHOUETTE_SAMPLE` rows (silhouette costs rows squared);
* outlier detectors: ``outlier_fraction``, on a random sample of at most
  :data:`OUTLIER_SAMPLE` rows;
* transformers: ``explained_variance`` (share of variance kept) where the estimator
  reports it (PCA).

A metric that cannot be computed (one class in the holdout, a single cluster, too few
rows) is left out rather than reported as NaN; computing metrics never raises.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from kepler.ml.pipeline import final_estimator

SILHOUETTE_SAMPLE = 10_000
# Holdout rows kept with a model so a notebook can draw its confusion matrix, ROC curve or
# residuals without the data: a bounded random sample of (truth, prediction, score).
HOLDOUT_SAMPLE = 1_000
# Scoring every training row of a neighbour-based detector would cost as much as the fit.
OUTLIER_SAMPLE = 100_000

log = logging.getLogger(__name__)


def compute_metrics(
    pipeline: Pipeline,
    task: str,
    X: pd.DataFrame,
    y: np.ndarray | None = None,
    *,
    seed: int = 0,
) -> dict[str, float]:
    """Metrics of ``pipeline`` on ``X`` (and true labels ``y`` for supervised tasks)."""
    if len(X) == 0:
        return {}
    scorers: dict[str, Callable[..., dict[str, float]]] = {
        "classifier": _classifier,
        "regressor": _regressor,
        "clusterer": _clusterer,
        "outlier": _outlier,
        "transformer": _transformer,
        "forecaster": _forecaster,
    }
    scorer = scorers.get(task)
    if scorer is None or (task in ("classifier", "regressor") and y is None):
        return {}
    # Degenerate holdouts make scikit-learn warn (and, where warnings are errors, raise);
    # each metric is guarded on its own instead.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            raw = scorer(pipeline, X, y, seed)
        except Exception as exc:  # a metric must never fail a fit that succeeded
            log.warning("could not compute %s metrics: %s", task, exc)
            return {}
    return {k: float(v) for k, v in raw.items() if v is not None and np.isfinite(v)}


def _forecaster(pipeline: Pipeline, X: pd.DataFrame, y: Any, seed: int) -> dict[str, Any]:
    # The model holds its own series: the held-back rows' forecast errors, or one-step ones.
    return dict(pipeline.named_steps["model"].forecast_metrics())


def _safe(fn: Callable[[], Any]) -> float | None:
    try:
        return float(fn())
    except (ValueError, TypeError, IndexError, ZeroDivisionError, FloatingPointError):
        return None


def _classifier(pipeline: Pipeline, X: pd.DataFrame, y: Any, seed: int) -> dict[str, Any]:
    classes = np.asarray(pipeline.named_steps["model"].classes_)
    # Score on label codes: scikit-learn's metrics re-sort object labels on every call,
    # which dominates scoring a large holdout of text labels.
    y_true = _codes(np.asarray(y), classes)
    proba = _proba_if_labels_follow(pipeline, X)
    if proba is not None:  # one pass over the holdout gives labels and scores
        y_pred = np.asarray(proba.argmax(axis=1), dtype=np.int64)
    else:
        y_pred = _codes(np.asarray(pipeline.predict(X)), classes)
    binary = len(classes) == 2
    kw: dict[str, Any] = (
        {"average": "binary", "pos_label": 1} if binary else {"average": "weighted"}
    )
    out: dict[str, Any] = {
        "accuracy": _safe(lambda: skm.accuracy_score(y_true, y_pred)),
        "precision": _safe(lambda: skm.precision_score(y_true, y_pred, zero_division=0, **kw)),
        "recall": _safe(lambda: skm.recall_score(y_true, y_pred, zero_division=0, **kw)),
        "f1": _safe(lambda: skm.f1_score(y_true, y_pred, zero_division=0, **kw)),
    }
    if len(np.unique(y_true)) >= 2:
        out["roc_auc"] = _roc_auc(pipeline, X, y_true, len(classes), proba)
    return out


# Their predict is not the argmax of predict_proba (Platt scaling is fitted apart).
_PROBA_DISAGREES = ("SVC", "NuSVC")


def _proba_if_labels_follow(pipeline: Pipeline, X: pd.DataFrame) -> np.ndarray | None:
    """``predict_proba(X)`` when the model's labels are its argmax, else None."""
    if not hasattr(pipeline, "predict_proba"):
        return None
    if type(final_estimator(pipeline)).__name__ in _PROBA_DISAGREES:
        return None
    return np.asarray(pipeline.predict_proba(X))


def _codes(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Positions of ``labels`` in ``classes`` (-1 for a label the model never saw)."""
    return np.asarray(pd.Categorical(labels, categories=classes).codes, dtype=np.int64)


def _roc_auc(
    pipeline: Pipeline,
    X: pd.DataFrame,
    y_true: np.ndarray,
    n_classes: int,
    proba: np.ndarray | None = None,
) -> Any:
    if n_classes == 2:
        if proba is not None:
            score = proba[:, 1]
        elif hasattr(pipeline, "predict_proba"):
            score = np.asarray(pipeline.predict_proba(X))[:, 1]
        elif hasattr(pipeline, "decision_function"):
            score = np.asarray(pipeline.decision_function(X)).ravel()
        else:
            return None
        return _safe(lambda: skm.roc_auc_score(y_true == 1, score))
    if proba is None:
        if not hasattr(pipeline, "predict_proba"):
            return None
        proba = np.asarray(pipeline.predict_proba(X))
    return _safe(
        lambda: skm.roc_auc_score(
            y_true, proba, multi_class="ovr", average="weighted", labels=list(range(n_classes))
        )
    )


def _regressor(pipeline: Pipeline, X: pd.DataFrame, y: Any, seed: int) -> dict[str, Any]:
    y_true = np.asarray(y, dtype=np.float64)
    y_pred = np.asarray(pipeline.predict(X), dtype=np.float64).ravel()
    out: dict[str, Any] = {
        "rmse": _safe(lambda: np.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "mae": _safe(lambda: skm.mean_absolute_error(y_true, y_pred)),
    }
    if len(y_true) >= 2 and np.ptp(y_true) > 0:  # r2 is undefined for a constant truth
        out["r2"] = _safe(lambda: skm.r2_score(y_true, y_pred))
    return out


def _sample(X: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    if len(X) <= n:
        return X
    rows = np.random.default_rng(seed).choice(len(X), size=n, replace=False)
    return X.iloc[np.sort(rows)]


def _clusterer(pipeline: Pipeline, X: pd.DataFrame, y: Any, seed: int) -> dict[str, Any]:
    sample = _sample(X, SILHOUETTE_SAMPLE, seed)
    labels = np.asarray(pipeline.predict(sample))
    found = np.unique(labels[labels != -1])
    out: dict[str, Any] = {"n_clusters": len(found)}
    n_labels = len(np.unique(labels))
    if 2 <= n_labels <= len(sample) - 1:
        Xt = np.asarray(pipeline[:-1].transform(sample), dtype=np.float64)
        out["silhouette"] = _safe(lambda: skm.silhouette_score(Xt, labels))
    return out


def _outlier(pipeline: Pipeline, X: pd.DataFrame, y: Any, seed: int) -> dict[str, Any]:
    if not hasattr(pipeline, "predict"):
        return {}
    flags = np.asarray(pipeline.predict(_sample(X, OUTLIER_SAMPLE, seed))) == -1
    return {"outlier_fraction": float(flags.mean())}


def _transformer(pipeline: Pipeline, X: pd.DataFrame, y: Any, seed: int) -> dict[str, Any]:
    ratio = getattr(final_estimator(pipeline), "explained_variance_ratio_", None)
    if ratio is None:
        return {}
    return {"explained_variance": float(np.sum(ratio))}


def holdout_sample(
    pipeline: Pipeline,
    task: str,
    X: pd.DataFrame,
    y: np.ndarray | None,
    *,
    seed: int = 0,
    limit: int = HOLDOUT_SAMPLE,
) -> dict[str, Any] | None:
    """At most ``limit`` random holdout rows as JSON-ready lists: ``y_true`` and
    ``y_pred`` (labels as text for classifiers), and for a binary classifier ``score``,
    the positive class's probability or decision value (``None`` when it has neither).
    ``None`` for unsupervised tasks or an empty holdout; never raises."""
    if task not in ("classifier", "regressor") or y is None or len(X) == 0:
        return None
    rows = np.arange(len(X))
    if len(X) > limit:
        rows = np.sort(np.random.default_rng(seed).choice(len(X), size=limit, replace=False))
    sample, truth = X.iloc[rows], np.asarray(y)[rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pred = np.asarray(pipeline.predict(sample)).ravel()
            out: dict[str, Any] = {"n_holdout": len(X)}
            if task == "regressor":
                out["y_true"] = [float(v) for v in truth]
                out["y_pred"] = [float(v) for v in pred]
                return out
            classes = np.asarray(pipeline.named_steps["model"].classes_)
            out["classes"] = [str(c) for c in classes]
            out["y_true"] = [str(v) for v in truth]
            out["y_pred"] = [str(v) for v in pred]
            out["score"] = _positive_score(pipeline, sample) if len(classes) == 2 else None
            return out
        except Exception as exc:  # a plot's data must never fail a fit that succeeded
            log.warning("could not sample the %s holdout: %s", task, exc)
            return None


def _positive_score(pipeline: Pipeline, X: pd.DataFrame) -> list[float] | None:
    if hasattr(pipeline, "predict_proba"):
        values = np.asarray(pipeline.predict_proba(X))[:, 1]
    elif hasattr(pipeline, "decision_function"):
        values = np.asarray(pipeline.decision_function(X)).ravel()
    else:
        return None
    return [float(v) for v in values]
