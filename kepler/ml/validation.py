"""``kfold_cv=<k>``: fit one fresh pipeline per fold and score it on the fold's rows.

Each fold answers in MLTK's shape: one row per fold whose columns are the scikit-learn
scorers MLTK's k-fold scoring asks ``cross_validate`` for, named and ordered as in MLTK's
``ClassifierMixin``/``RegressorMixin`` (its base.py), where they are the columns of the
DataFrame it returns:

* classifiers: ``f1_weighted``, ``accuracy``, ``precision_weighted``,
  ``recall_weighted`` (averaged over classes weighted by their size);
* regressors: ``r2``, ``neg_mean_squared_error``.

Kepler adds ``fold_number`` (from 1) before them, and ``n_train``/``n_test`` after: MLTK's
rows carry no fold number (the DataFrame's index is dropped). MLTK refuses ``kfold_cv``
with ``into``; Kepler takes it and registers the model trained on all rows, with the fold
scores on its version (a superset: the MLTK line without ``into`` answers the same rows).

With ``by`` (:mod:`kepler.ml.training`) each group is folded on its own rows, and each
row also names its group's ``by`` values.

The version's own metrics are the means over the folds of Kepler's usual holdout metrics
(:func:`kepler.ml.metrics.compute_metrics`), so versions validated either way compare
on the same names.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.pipeline import Pipeline

from kepler.ml.metrics import compute_metrics

Folds = list[tuple[np.ndarray, np.ndarray]]


def cross_validate(
    make_pipeline: Callable[[], Pipeline],
    fit: Callable[[Pipeline, pd.DataFrame, np.ndarray], Any],
    task: str,
    X: pd.DataFrame,
    y: np.ndarray,
    folds: Folds,
    *,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """``(rows, means)``: one MLTK-shaped row per fold, and the fold means of Kepler's
    metrics. ``fit`` fits a pipeline on training rows (training's own, with its errors)."""
    rows: list[dict[str, Any]] = []
    kepler_metrics: list[dict[str, float]] = []
    for number, (train, test) in enumerate(folds, start=1):
        if progress is not None:
            progress(number)
        pipeline = make_pipeline()
        fit(pipeline, X.iloc[train], y[train])
        X_test, y_test = X.iloc[test], y[test]
        rows.append(
            {
                "fold_number": number,
                **fold_metrics(task, y_test, pipeline.predict(X_test)),
                "n_train": len(train),
                "n_test": len(test),
            }
        )
        kepler_metrics.append(compute_metrics(pipeline, task, X_test, y_test, seed=seed))
    return rows, mean_metrics(kepler_metrics)


def fold_metrics(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """One fold's scores under MLTK's names, in the order of MLTK's scoring lists (its
    columns' order; see the module docstring)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class missing from a fold: scored as zero
        if task == "classifier":
            kw: dict[str, Any] = {"average": "weighted", "zero_division": 0}
            return {
                "f1_weighted": float(skm.f1_score(y_true, y_pred, **kw)),
                "accuracy": float(skm.accuracy_score(y_true, y_pred)),
                "precision_weighted": float(skm.precision_score(y_true, y_pred, **kw)),
                "recall_weighted": float(skm.recall_score(y_true, y_pred, **kw)),
            }
        out: dict[str, float] = {}
        if len(y_true) > 1:
            out["r2"] = float(skm.r2_score(y_true, y_pred))
        out["neg_mean_squared_error"] = -float(skm.mean_squared_error(y_true, y_pred))
        return out


def mean_metrics(per_fold: list[dict[str, float]]) -> dict[str, float]:
    """Each metric's mean over the folds that have it."""
    names = sorted({k for m in per_fold for k in m})
    return {k: float(np.mean([m[k] for m in per_fold if k in m])) for k in names}
