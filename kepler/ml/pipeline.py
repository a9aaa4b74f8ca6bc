"""The fitted object Kepler saves: preprocessing and the estimator in one scikit-learn Pipeline.

``prep`` imputes numeric fields (median, :class:`MedianImputer`; estimators that take NaN
natively get them as they are) and one-hot encodes
categorical ones, so a saved model applies to raw events with missing values and unseen
categories; ``model`` is the estimator. Its output is dense float64: a NumPy array, or
for numeric-only data and estimators that take NaN, the fields' DataFrame itself.
Memory order matters: the column-major matrix that ``DataFrame.to_numpy`` and a
``ColumnTransformer`` over one numeric block give makes XGBoost's histogram building
stride through memory and fit about 1.5 times slower than from the DataFrame or a
row-major copy. Numeric-only data (the common case) therefore skips the
``ColumnTransformer``: :class:`NumericMatrix` hands the fields on as they are, or copies
them once into row-major order when it imputes. Two small wrappers give every estimator
the behaviour ``apply`` relies on:

* :class:`EncodedLabelClassifier` trains the classifier on label codes 0..k-1 and
  answers with the original labels, because some libraries (XGBoost) accept only codes
  while users expect their own labels (strings stay strings) back.
* :class:`NearestNeighborClusterer` gives clusterers without ``predict`` (DBSCAN,
  SpectralClustering) one: a new row takes the cluster of its nearest training point;
  for DBSCAN the nearest *core* point, and only within ``eps`` (else -1, noise), which
  is DBSCAN's own rule for points it did not see.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClusterMixin,
    MetaEstimatorMixin,
    OneToOneFeatureMixin,
    TransformerMixin,
    clone,
)
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils import get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from kepler.ml.frames import CATEGORICAL, NUMERIC

# Categories kept per field; rarer ones share one "infrequent" column. Bounds the width of
# the dense matrix a high-cardinality field (a user id) would otherwise blow up.
MAX_CATEGORIES = 100


def build_pipeline(
    estimator: Any, feature_types: Mapping[str, str], task: str, *, by: Sequence[str] = ()
) -> Pipeline:
    """``Pipeline([("prep", ColumnTransformer), ("model", estimator)])`` for these features.

    Classifiers are wrapped in :class:`EncodedLabelClassifier`; clusterers without
    ``predict`` in :class:`NearestNeighborClusterer`. With ``by`` (fields also in
    ``feature_types``): ``Pipeline([("prep", RawFields), ("model", GroupedEstimator)])``,
    one such pipeline per group of ``by`` values (:mod:`kepler.ml.grouped`).
    """
    if by and not getattr(estimator, "kepler_raw_features", False):
        from kepler.ml.grouped import GroupedEstimator

        inner = {f: t for f, t in feature_types.items() if f not in by}
        template = build_pipeline(estimator, inner, task)
        return Pipeline([("prep", RawFields()), ("model", GroupedEstimator(template, by=by))])
    numeric = [f for f, t in feature_types.items() if t == NUMERIC]
    categorical = [f for f, t in feature_types.items() if t == CATEGORICAL]
    if task == "classifier":
        model: Any = EncodedLabelClassifier(estimator)
    elif task == "clusterer" and not hasattr(estimator, "predict"):
        model = NearestNeighborClusterer(estimator)
    else:
        model = estimator
    # DensityFunction groups by raw field values; TFIDF reads text, Imputer sees the gaps.
    if getattr(estimator, "kepler_raw_features", False) or getattr(
        estimator, "kepler_raw_input", False
    ):
        return Pipeline([("prep", RawFields()), ("model", model)])
    if numeric and not categorical:
        # One copy into row-major order (imputing as it goes) instead of the
        # ColumnTransformer's copy into column-major order.
        return Pipeline(
            [("prep", NumericMatrix(impute=not _allows_nan(estimator))), ("model", model)]
        )
    branches: list[tuple[str, Any, list[str]]] = []
    if numeric:
        # Estimators that take NaN themselves (trees, boosters) learn where missing values
        # go; imputing would only cost a copy of every row and hide that information.
        branches.append(
            ("num", "passthrough" if _allows_nan(estimator) else MedianImputer(), numeric)
        )
    if categorical:  # numeric-only data never pays for string handling
        branches.append(("cat", _categorical_branch(), categorical))
    prep = ColumnTransformer(
        branches, remainder="drop", sparse_threshold=0.0, verbose_feature_names_out=False
    )
    return Pipeline([("prep", prep), ("model", model)])


def _allows_nan(estimator: Any) -> bool:
    try:
        return bool(get_tags(estimator).input_tags.allow_nan)
    except (AttributeError, TypeError, ValueError):
        return False


def _categorical_branch() -> Pipeline:
    return Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="", keep_empty_features=True)),
            (
                "onehot",
                OneHotEncoder(
                    handle_unknown="infrequent_if_exist",
                    max_categories=MAX_CATEGORIES,
                    sparse_output=False,
                    feature_name_combiner=one_hot_name,
                ),
            ),
        ]
    )


class MedianImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Fill NaN with each column's training median; a column with no values gets 0 and is
    kept, so output columns map one to one onto input fields.

    What ``SimpleImputer(strategy="median", keep_empty_features=True)`` does, without its
    masked-array median, which takes seconds per million rows where ``np.nanmedian`` takes
    a fraction of one.
    """

    def fit(self, X: Any, y: Any = None) -> MedianImputer:
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan")
        self.statistics_ = _medians(X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
        return np.asarray(_fill(X, self.statistics_, copy=True))


class NumericMatrix(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Numeric fields in the order seen at fit.

    With ``impute``: one row-major float64 matrix, NaN replaced by each column's training
    median (as :class:`MedianImputer`). Without (estimators that take NaN themselves,
    XGBoost above all): the fields as a float64 DataFrame, handed on without a copy;
    XGBoost reads pandas columns directly, exactly as it does for a user fitting it in
    a notebook.
    """

    def __init__(self, impute: bool = True) -> None:
        self.impute = impute

    def fit(self, X: Any, y: Any = None) -> NumericMatrix:
        self.statistics_: np.ndarray | None
        if self.impute:
            X = validate_data(self, X, dtype=np.float64, order="C", ensure_all_finite="allow-nan")
            self.statistics_ = _medians(X)
        else:
            X = validate_data(self, X, skip_check_array=True)
            self.statistics_ = None
        return self

    def transform(self, X: Any) -> Any:
        check_is_fitted(self)
        if self.statistics_ is None:
            return self._frame(X)
        source = X
        X = validate_data(
            self, X, dtype=np.float64, order="C", ensure_all_finite="allow-nan", reset=False
        )
        return np.asarray(_fill(X, self.statistics_, copy=_shares_memory(X, source)))

    def _frame(self, X: Any) -> pd.DataFrame:
        names = list(getattr(self, "feature_names_in_", range(self.n_features_in_)))
        if not isinstance(X, pd.DataFrame):
            X = validate_data(self, X, dtype=np.float64, ensure_all_finite="allow-nan", reset=False)
            return pd.DataFrame(X, columns=names)
        if list(X.columns) != names:
            missing = [n for n in names if n not in X.columns]
            if missing:
                raise ValueError(f"X lacks the fields seen at fit: {missing}")
            X = X[names]
        if any(dtype != np.float64 for dtype in X.dtypes):
            X = X.astype(np.float64)
        return X


class RawFields(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """The fields as they are, in the order seen at fit, for estimators that read raw
    values themselves (``kepler_raw_features``: DensityFunction groups by field values;
    ``kepler_raw_input``: text vectorizers and the Imputer)."""

    def fit(self, X: Any, y: Any = None) -> RawFields:
        validate_data(self, X, skip_check_array=True)
        return self

    def transform(self, X: Any) -> Any:
        check_is_fitted(self)
        names = getattr(self, "feature_names_in_", None)
        if isinstance(X, pd.DataFrame) and names is not None:
            return X[list(names)]
        return X


def _shares_memory(X: np.ndarray, source: Any) -> bool:
    """Whether ``X`` may be a view of the caller's data (then filling it must copy)."""
    if isinstance(source, pd.DataFrame):
        return any(np.shares_memory(X, source[c].to_numpy()) for c in source.columns)
    return isinstance(source, np.ndarray) and np.shares_memory(X, source)


def _medians(X: np.ndarray) -> np.ndarray:
    """Each column's median over its values; 0 for a column with none."""
    filled = ~np.isnan(X).all(axis=0)
    statistics = np.zeros(X.shape[1])
    if filled.all():
        statistics[:] = np.nanmedian(X, axis=0)
    elif filled.any():
        statistics[filled] = np.nanmedian(X[:, filled], axis=0)
    return statistics


def _fill(X: np.ndarray, statistics: np.ndarray, *, copy: bool) -> np.ndarray:
    missing = np.isnan(X)
    if missing.any():
        if copy:  # X is a view of the caller's data
            X = np.array(X, copy=True)
        rows, cols = np.nonzero(missing)
        X[rows, cols] = statistics[cols]
    return X


def one_hot_name(feature: str, category: Any) -> str:
    """MLTK's spelling of a one-hot column: ``color=red``."""
    return f"{feature}={category}"


def feature_names_out(pipeline: Pipeline) -> list[str]:
    """Names of the columns the estimator sees: numeric fields as-is, ``field=value`` for
    one-hot columns."""
    prep = pipeline.named_steps["prep"]
    try:
        return [str(n) for n in prep.get_feature_names_out()]
    except ValueError:  # a numeric field literally named like a one-hot column
        prep.verbose_feature_names_out = True
        try:
            return [str(n) for n in prep.get_feature_names_out()]
        finally:
            prep.verbose_feature_names_out = False


def final_estimator(pipeline: Pipeline) -> Any:
    """The fitted estimator itself, inside Kepler's wrappers."""
    model = pipeline.named_steps["model"]
    # Only Kepler's own wrappers: forests also have an `estimator_` (their unfitted template).
    if isinstance(model, EncodedLabelClassifier | NearestNeighborClusterer):
        return model.estimator_
    return model


def _inner_has(attr: str) -> Any:
    def check(self: Any) -> bool:
        inner = getattr(self, "estimator_", self.estimator)
        return hasattr(inner, attr)

    return check


class EncodedLabelClassifier(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """Fit ``estimator`` on label codes 0..k-1; predict the original labels.

    ``classes_`` holds the original labels, sorted; ``predict_proba`` columns follow it.
    """

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any, **fit_params: Any) -> EncodedLabelClassifier:
        y = np.asarray(y)
        # Sort only the distinct labels, then hash every row to its code: np.unique
        # would sort all rows, slow for millions of text labels.
        self.classes_ = np.sort(pd.unique(y))
        codes = np.asarray(pd.Categorical(y, categories=self.classes_).codes, dtype=np.int64)
        self.estimator_ = clone(self.estimator).fit(X, codes, **fit_params)
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        codes = np.asarray(self.estimator_.predict(X))
        return self.classes_[codes.astype(np.intp, copy=False).ravel()]

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return np.asarray(self.estimator_.predict_proba(X))

    @available_if(_inner_has("decision_function"))
    def decision_function(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return np.asarray(self.estimator_.decision_function(X))


class NearestNeighborClusterer(ClusterMixin, MetaEstimatorMixin, BaseEstimator):
    """Give a transductive clusterer (no ``predict``) a ``predict`` by nearest neighbour.

    ``labels_`` are the clusterer's own labels of the training rows. For DBSCAN, new rows
    join the cluster of their nearest core sample when it lies within ``eps``, else -1.
    """

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any = None) -> NearestNeighborClusterer:
        X = np.asarray(X, dtype=np.float64)
        fitted = clone(self.estimator).fit(X)
        labels = np.asarray(fitted.labels_)
        self.labels_ = labels
        if hasattr(fitted, "core_sample_indices_"):  # DBSCAN: only core samples attract
            points = X[fitted.core_sample_indices_]
            self.point_labels_ = labels[fitted.core_sample_indices_]
            self.radius_ = float(fitted.eps)
            metric = fitted.metric if isinstance(fitted.metric, str) else "euclidean"
        else:
            points, self.point_labels_, self.radius_ = X, labels, np.inf
            metric = "euclidean"
        # The n-by-n affinity matrix is only needed during fit and would dominate the
        # saved model's size.
        if hasattr(fitted, "affinity_matrix_"):
            del fitted.affinity_matrix_
        self.estimator_ = fitted
        self.nn_ = (
            NearestNeighbors(n_neighbors=1, metric=metric).fit(points) if len(points) else None
        )
        return self

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = np.asarray(X, dtype=np.float64)
        if self.nn_ is None:  # DBSCAN found no core samples: everything is noise
            return np.full(len(X), -1, dtype=self.labels_.dtype)
        dist, idx = self.nn_.kneighbors(X)
        out = self.point_labels_[idx[:, 0]].copy()
        out[dist[:, 0] > self.radius_] = -1
        return out

    def fit_predict(self, X: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        return np.asarray(self.fit(X).labels_)
