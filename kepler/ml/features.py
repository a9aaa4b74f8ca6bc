"""Automatic feature work, as scikit-learn transformers inside the saved pipeline.

AutoML's models are ``Pipeline([("prep", <features>), ("model", estimator)])`` like every
Kepler model, with a richer ``prep``:

* :class:`DateTimeFeatures` turns a timestamp (epoch seconds, which is what
  :func:`kepler.ml.frames.conform` makes of Splunk's ``_time`` and of pandas datetimes)
  into hour, weekday, month and their cyclical sin/cos encodings;
* categorical fields are one-hot encoded and missing values imputed, as in every fit
  (:mod:`kepler.ml.pipeline`);
* optionally, pairwise interaction features (``a b`` products) and feature selection
  (the best share of columns by an F-test against the target).

Because all of it lives in the pipeline, ``apply`` reproduces it on raw events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_selection import SelectPercentile, f_classif, f_regression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from kepler.ml.frames import CATEGORICAL, NUMERIC
from kepler.ml.pipeline import (
    EncodedLabelClassifier,
    MedianImputer,
    _allows_nan,
    _categorical_branch,
)

# Interactions square the width: only below this many input columns.
MAX_INTERACTION_INPUTS = 40
_PARTS = ("hour", "weekday", "month", "hour_sin", "hour_cos", "weekday_sin", "weekday_cos")


class DateTimeFeatures(TransformerMixin, BaseEstimator):
    """Epoch seconds (UTC) to hour, weekday (0 = Monday), month and cyclical encodings.

    Missing timestamps give NaN in every output column (imputed downstream).
    """

    def fit(self, X: Any, y: Any = None) -> DateTimeFeatures:
        validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        out = []
        for j in range(X.shape[1]):
            secs = X[:, j]
            missing = np.isnan(secs)
            days = np.floor(np.where(missing, 0.0, secs) / 86400.0)
            hour = np.floor((np.where(missing, 0.0, secs) % 86400.0) / 3600.0)
            weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
            month = _month(days)
            cols = [
                hour,
                weekday,
                month,
                np.sin(2 * np.pi * hour / 24),
                np.cos(2 * np.pi * hour / 24),
                np.sin(2 * np.pi * weekday / 7),
                np.cos(2 * np.pi * weekday / 7),
            ]
            block = np.column_stack(cols)
            block[missing] = np.nan
            out.append(block)
        return np.hstack(out) if out else np.empty((len(X), 0))

    def get_feature_names_out(self, input_features: Sequence[str] | None = None) -> np.ndarray:
        names = (
            list(input_features)
            if input_features is not None
            else list(getattr(self, "feature_names_in_", []))
            or [f"x{i}" for i in range(self.n_features_in_)]
        )
        return np.asarray([f"{n}_{p}" for n in names for p in _PARTS], dtype=object)


def _month(days: np.ndarray) -> np.ndarray:
    dates = np.asarray(days, dtype="int64").astype("datetime64[D]")
    return (dates.astype("datetime64[M]").astype("int64") % 12 + 1).astype(np.float64)


class _NamedPoly(PolynomialFeatures):
    """Pairwise products named ``a*b`` (scikit-learn writes ``a b``)."""

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        names = super().get_feature_names_out(input_features)
        return np.asarray([str(n).replace(" ", "*") for n in names], dtype=object)


def build_feature_pipeline(
    estimator: Any,
    feature_types: Mapping[str, str],
    task: str,
    *,
    time_features: Sequence[str] = (),
    interactions: bool = False,
    select_percentile: int | None = None,
    scale: bool = False,
) -> Pipeline:
    """The pipeline of one AutoML candidate; ``time_features`` are numeric (epoch
    seconds) fields expanded by :class:`DateTimeFeatures`."""
    times = [f for f in time_features if feature_types.get(f) == NUMERIC]
    numeric = [f for f, t in feature_types.items() if t == NUMERIC and f not in times]
    categorical = [f for f, t in feature_types.items() if t == CATEGORICAL]
    native_nan = _allows_nan(estimator) and not (interactions or select_percentile or scale)
    branches: list[tuple[str, Any, list[str]]] = []
    if numeric:
        branches.append(("num", "passthrough" if native_nan else MedianImputer(), numeric))
    if times:
        time_steps: list[tuple[str, Any]] = [("expand", DateTimeFeatures())]
        if not native_nan:
            time_steps.append(("impute", MedianImputer()))
        branches.append(("time", Pipeline(time_steps), times))
    if categorical:
        branches.append(("cat", _categorical_branch(), categorical))
    columns = ColumnTransformer(
        branches, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=False
    )
    steps: list[tuple[str, Any]] = [("columns", columns)]
    width = len(numeric) + 7 * len(times) + len(categorical)
    if interactions and width <= MAX_INTERACTION_INPUTS:
        steps.append(("interact", _NamedPoly(degree=2, interaction_only=True, include_bias=False)))
    if scale:
        steps.append(("scale", StandardScaler()))
    if select_percentile:
        score = f_classif if task == "classifier" else f_regression
        steps.append(("select", SelectPercentile(score, percentile=select_percentile)))
    prep: Any = steps[0][1] if len(steps) == 1 else Pipeline(steps)
    if task == "classifier":
        estimator = EncodedLabelClassifier(estimator)
    return Pipeline([("prep", prep), ("model", estimator)])
