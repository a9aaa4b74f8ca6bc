"""The saved pipeline: preprocessing for raw events, and the wrappers apply relies on."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import DBSCAN, KMeans, SpectralClustering
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import StandardScaler
from xgboost import XGBClassifier

from kepler.ml import frames
from kepler.ml.frames import CATEGORICAL, NUMERIC
from kepler.ml.pipeline import (
    MAX_CATEGORIES,
    EncodedLabelClassifier,
    MedianImputer,
    NearestNeighborClusterer,
    NumericMatrix,
    build_pipeline,
    feature_names_out,
    final_estimator,
)


def _frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=n), "color": rng.choice(["red", "green"], size=n)})


def test_numeric_only_data_skips_the_column_transformer() -> None:
    pipe = build_pipeline(LinearRegression(), {"x": NUMERIC, "z": NUMERIC}, "regressor")
    assert isinstance(pipe.named_steps["prep"], NumericMatrix)
    assert pipe.named_steps["prep"].impute  # LinearRegression refuses NaN


def test_categorical_fields_are_one_hot_encoded_with_mltk_names() -> None:
    types = {"x": NUMERIC, "color": CATEGORICAL}
    frame = _frame()
    frame.loc[0, "x"] = np.nan
    frame.loc[1, "color"] = np.nan
    X = frames.conform(frame, types)
    y = np.arange(len(X), dtype=float)
    pipe = build_pipeline(LinearRegression(), types, "regressor").fit(X, y)
    assert feature_names_out(pipe) == ["x", "color=", "color=green", "color=red"]
    assert isinstance(pipe.named_steps["prep"].transform(X), np.ndarray)


def test_apply_survives_unseen_categories_and_missing_values() -> None:
    types = {"x": NUMERIC, "color": CATEGORICAL}
    X = frames.conform(_frame(), types)
    pipe = build_pipeline(
        RandomForestClassifier(n_estimators=5, random_state=0), types, "classifier"
    )
    pipe.fit(X, np.where(X["x"] > 0, "hi", "lo"))
    new = frames.conform(pd.DataFrame({"x": ["", "1"], "color": ["purple", ""]}), types)
    assert set(pipe.predict(new)) <= {"hi", "lo"}


def test_rare_categories_share_one_column() -> None:
    n = MAX_CATEGORIES * 3
    frame = pd.DataFrame({"user": [f"u{i}" for i in range(n)]})
    types = {"user": CATEGORICAL}
    pipe = build_pipeline(StandardScaler(), types, "transformer").fit(frames.conform(frame, types))
    assert len(feature_names_out(pipe)) == MAX_CATEGORIES


def test_classifiers_answer_with_the_original_labels_even_when_the_library_wants_codes() -> None:
    types = {"x": NUMERIC, "color": CATEGORICAL}
    X = frames.conform(_frame(), types)
    labels = np.where(X["x"] > 0, "up", "down").astype(object)
    pipe = build_pipeline(XGBClassifier(n_estimators=5, n_jobs=1), types, "classifier")
    pipe.fit(X, labels)
    assert isinstance(pipe.named_steps["model"], EncodedLabelClassifier)
    assert pipe.named_steps["model"].classes_.tolist() == ["down", "up"]
    assert set(pipe.predict(X)) == {"down", "up"}
    assert pipe.predict_proba(X).shape == (len(X), 2)
    assert isinstance(final_estimator(pipe), XGBClassifier)


def test_encoded_classifier_hides_predict_proba_when_the_estimator_has_none() -> None:
    from sklearn.svm import SVC

    assert not hasattr(EncodedLabelClassifier(SVC()), "predict_proba")
    assert hasattr(EncodedLabelClassifier(SVC()), "decision_function")


def test_clusterers_with_predict_are_not_wrapped() -> None:
    pipe = build_pipeline(KMeans(n_clusters=2, n_init=1), {"x": NUMERIC}, "clusterer")
    assert isinstance(pipe.named_steps["model"], KMeans)


def _blobs() -> np.ndarray:
    rng = np.random.default_rng(1)
    return np.vstack([rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (30, 2))])


def test_dbscan_assigns_new_rows_to_the_nearest_core_point_within_eps() -> None:
    X = _blobs()
    model = NearestNeighborClusterer(DBSCAN(eps=0.5, min_samples=3)).fit(X)
    assert model.predict(X).tolist() == model.labels_.tolist()
    near_first, near_second, far = model.predict(np.array([[0.05, 0.0], [5.1, 5.0], [20, 20]]))
    assert near_first == model.labels_[0] and near_second == model.labels_[-1]
    assert near_first != near_second
    assert far == -1


def test_dbscan_with_only_noise_predicts_noise() -> None:
    model = NearestNeighborClusterer(DBSCAN(eps=1e-6, min_samples=5)).fit(_blobs())
    assert (model.predict(np.zeros((3, 2))) == -1).all()


def test_spectral_clustering_assigns_the_nearest_training_rows_cluster() -> None:
    X = _blobs()
    model = NearestNeighborClusterer(
        SpectralClustering(n_clusters=2, random_state=0, gamma=0.1)
    ).fit(X)
    assert model.predict(X).tolist() == model.labels_.tolist()
    assert model.predict(np.array([[4.9, 5.2]]))[0] == model.labels_[-1]
    # the n-by-n affinity matrix is not kept in the saved model
    assert not hasattr(model.estimator_, "affinity_matrix_")


def test_fitted_pipelines_pickle_and_predict_the_same() -> None:
    types = {"x": NUMERIC}
    X = frames.conform(pd.DataFrame({"x": _blobs()[:, 0]}), types)
    pipe = build_pipeline(DBSCAN(eps=0.5, min_samples=3), types, "clusterer").fit(X)
    again = pickle.loads(pickle.dumps(pipe))  # noqa: S301 - our own bytes
    np.testing.assert_array_equal(again.predict(X), pipe.predict(X))


@pytest.mark.parametrize("task", ["regressor", "transformer", "outlier"])
def test_other_tasks_keep_the_estimator_as_given(task: str) -> None:
    est = StandardScaler()
    assert build_pipeline(est, {"x": NUMERIC}, task).named_steps["model"] is est


def test_median_imputer_fills_with_training_medians_and_keeps_empty_columns() -> None:
    X = pd.DataFrame({"a": [1.0, np.nan, 3.0, 10.0], "b": [np.nan] * 4, "c": [5.0] * 4})
    imputer = MedianImputer().fit(X)
    np.testing.assert_array_equal(imputer.statistics_, [3.0, 0.0, 5.0])
    new = pd.DataFrame({"a": [np.nan, 2.0], "b": [1.0, np.nan], "c": [np.nan, np.nan]})
    np.testing.assert_array_equal(imputer.transform(new), [[3.0, 1.0, 5.0], [2.0, 0.0, 5.0]])
    assert new["a"].isna().iloc[0]  # the caller's data is untouched
    assert list(imputer.get_feature_names_out()) == ["a", "b", "c"]


def test_median_imputer_matches_scikit_learns() -> None:
    from sklearn.impute import SimpleImputer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    X[rng.random(X.shape) < 0.2] = np.nan
    X[:, 3] = np.nan
    ours = MedianImputer().fit(X[:150]).transform(X[150:])
    theirs = SimpleImputer(strategy="median", keep_empty_features=True).fit(X[:150])
    np.testing.assert_allclose(ours, theirs.transform(X[150:]))


def test_numeric_only_data_reaches_the_model_as_one_row_major_matrix() -> None:
    # XGBoost builds its histograms row by row: a column-major matrix fits ~1.5x slower.
    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "b": [0.5, 1.5, np.nan, 2.5]})
    types = {"a": NUMERIC, "b": NUMERIC}
    for estimator, expected_nan in (
        (XGBClassifier(n_estimators=2, n_jobs=1), True),
        (LinearRegression(), False),
    ):
        task = "classifier" if expected_nan else "regressor"
        pipe = build_pipeline(estimator, types, task).fit(frame, [0, 1, 0, 1])
        out = pipe.named_steps["prep"].transform(frame)
        assert out.flags.c_contiguous and out.dtype == np.float64
        assert bool(np.isnan(out).any()) is expected_nan
        assert feature_names_out(pipe) == ["a", "b"]


def test_numeric_matrix_never_writes_into_the_callers_frame() -> None:
    frame = pd.DataFrame({"a": [1.0, np.nan, 3.0]})  # one column: a view is possible
    pipe = build_pipeline(LinearRegression(), {"a": NUMERIC}, "regressor")
    pipe.fit(frame, [1.0, 2.0, 3.0])
    out = pipe.named_steps["prep"].transform(frame)
    assert out[1, 0] == 2.0  # the training median
    assert np.isnan(frame.loc[1, "a"])
    array = frame.to_numpy()
    prep = NumericMatrix().fit(array)
    assert prep.transform(array)[1, 0] == 2.0
    assert np.isnan(array[1, 0])
