"""Applying a model: only the output columns, named as MLTK names them, row for row."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kepler.core.errors import BadParameter
from kepler.core.spec import FitSpec
from kepler.ml.outputs import output_fields, predict_frame
from kepler.ml.training import TrainedModel, train

Events = Callable[..., pd.DataFrame]


def _fit(frame: pd.DataFrame, algorithm: str, target: str | None = None, **kw: Any) -> TrainedModel:
    features = kw.pop("features", ("x", "z", "color"))
    return train(frame, FitSpec(algorithm, target=target, features=features, **kw))


def test_classifier_predicts_original_labels_in_row_order(make_events: Events) -> None:
    frame = make_events(80)
    model = _fit(frame, "LogisticRegression", "label")
    new = make_events(10, seed=5).iloc[::-1]  # reversed index: order must be kept
    out = predict_frame(model.pipeline, model.meta, new)
    assert list(out.columns) == ["predicted(label)"]
    assert list(out.index) == list(new.index)
    assert set(out["predicted(label)"]) <= {"yes", "no"}
    one_by_one = [
        predict_frame(model.pipeline, model.meta, new.loc[[i]]).iloc[0, 0] for i in new.index
    ]
    assert out["predicted(label)"].tolist() == one_by_one


def test_as_renames_the_prediction_and_apply_overrides_fit(make_events: Events) -> None:
    frame = make_events(60)
    model = _fit(frame, "DecisionTreeRegressor", "amount", output_name="guess")
    assert list(predict_frame(model.pipeline, model.meta, frame).columns) == ["guess"]
    out = predict_frame(model.pipeline, model.meta, frame, output_name="other")
    assert list(out.columns) == ["other"]
    assert out["other"].dtype == np.float64


def test_probabilities_follow_the_fit_unless_apply_says_otherwise(make_events: Events) -> None:
    frame = make_events(80)
    model = _fit(
        frame, "RandomForestClassifier", "label", probabilities=True, params={"n_estimators": 5}
    )
    out = predict_frame(model.pipeline, model.meta, frame)
    assert list(out.columns) == [
        "predicted(label)",
        "probability(label=no)",
        "probability(label=yes)",
    ]
    np.testing.assert_allclose(out.iloc[:, 1:].sum(axis=1), 1.0)
    # the more probable class is the predicted one
    picked = np.where(out["probability(label=yes)"] > 0.5, "yes", "no")
    assert (picked == out["predicted(label)"]).mean() > 0.95
    no_proba = predict_frame(model.pipeline, model.meta, frame, probabilities=False)
    assert list(no_proba.columns) == ["predicted(label)"]


def test_probabilities_asked_at_apply_on_a_model_fitted_without(make_events: Events) -> None:
    model = _fit(make_events(60), "GaussianNB", "label")
    out = predict_frame(model.pipeline, model.meta, make_events(5), probabilities=True)
    assert out.columns[1:].tolist() == ["probability(label=no)", "probability(label=yes)"]


def test_probabilities_from_a_model_that_has_none_is_a_clear_error(make_events: Events) -> None:
    model = _fit(make_events(60), "SVM", "label")
    with pytest.raises(BadParameter, match="SVM does not estimate class probabilities"):
        predict_frame(model.pipeline, model.meta, make_events(5), probabilities=True)


def test_probabilities_on_a_regressor_is_refused(make_events: Events) -> None:
    model = _fit(make_events(60), "LinearRegression", "amount")
    with pytest.raises(BadParameter, match="applies to classifiers"):
        predict_frame(model.pipeline, model.meta, make_events(5), probabilities=True)


def test_numeric_class_labels_stay_numbers(make_events: Events) -> None:
    frame = make_events(60, as_text=False)
    frame["code"] = np.where(frame["x"] > 0, 200, 500)
    model = _fit(frame, "DecisionTreeClassifier", "code", probabilities=True)
    out = predict_frame(model.pipeline, model.meta, frame)
    assert out["predicted(code)"].dtype == np.int64
    assert set(out["predicted(code)"]) == {200, 500}
    assert "probability(code=200)" in out.columns


def test_clusters_are_named_cluster_or_as(make_events: Events) -> None:
    frame = make_events(60)
    model = _fit(frame, "KMeans", params={"k": 3, "random_state": 0}, features=("x", "z"))
    out = predict_frame(model.pipeline, model.meta, frame)
    assert list(out.columns) == ["cluster"]
    assert set(out["cluster"]) == {0, 1, 2}
    assert list(predict_frame(model.pipeline, model.meta, frame, output_name="grp").columns) == [
        "grp"
    ]


def test_outliers_are_flagged_one_and_normal_rows_zero(make_events: Events) -> None:
    frame = make_events(100, as_text=False)
    model = _fit(
        frame,
        "IsolationForest",
        params={"contamination": 0.1, "random_state": 0},
        features=("x", "z"),
    )
    far = pd.DataFrame({"x": [0.0, 50.0], "z": [0.0, -50.0]})
    out = predict_frame(model.pipeline, model.meta, far)
    assert list(out.columns) == ["isOutlier"]
    assert out["isOutlier"].tolist() == [0, 1]


def test_lof_without_novelty_cannot_score_new_events(make_events: Events) -> None:
    model = _fit(
        make_events(60), "LocalOutlierFactor", params={"novelty": False}, features=("x", "z")
    )
    with pytest.raises(BadParameter, match="novelty=true"):
        predict_frame(model.pipeline, model.meta, make_events(5))


@pytest.mark.parametrize(
    ("algorithm", "params", "expected"),
    [
        ("StandardScaler", {}, ["SS_x", "SS_z", "SS_color=blue", "SS_color=green", "SS_color=red"]),
        ("RobustScaler", {}, ["RS_x", "RS_z", "RS_color=blue", "RS_color=green", "RS_color=red"]),
        (
            "MinMaxScaler",
            {},
            ["MMS_x", "MMS_z", "MMS_color=blue", "MMS_color=green", "MMS_color=red"],
        ),
        ("PCA", {"k": 2}, ["PC_1", "PC_2"]),
        ("KernelPCA", {"k": 3}, ["PC_1", "PC_2", "PC_3"]),
        ("ICA", {"n_components": 2, "random_state": 0}, ["IC_1", "IC_2"]),
    ],
)
def test_transformer_outputs_use_mltk_prefixes(
    make_events: Events, algorithm: str, params: dict[str, Any], expected: list[str]
) -> None:
    frame = make_events(60)
    model = _fit(frame, algorithm, params=params)
    out = predict_frame(model.pipeline, model.meta, frame.head(7))
    assert list(out.columns) == expected
    assert out.shape == (7, len(expected)) and out.dtypes.eq(np.float64).all()


def test_as_replaces_the_transformer_prefix(make_events: Events) -> None:
    frame = make_events(40)
    scaler = _fit(frame, "StandardScaler", features=("x", "z"), output_name="std")
    assert list(predict_frame(scaler.pipeline, scaler.meta, frame).columns) == ["std_x", "std_z"]
    pca = _fit(frame, "PCA", params={"k": 2}, features=("x", "z"))
    out = predict_frame(pca.pipeline, pca.meta, frame, output_name="comp")
    assert list(out.columns) == ["comp_1", "comp_2"]


def test_standard_scaler_output_is_standardized(make_events: Events) -> None:
    frame = make_events(200, as_text=False)
    model = _fit(frame, "StandardScaler", features=("x",))
    out = predict_frame(model.pipeline, model.meta, frame)
    assert abs(out["SS_x"].mean()) < 1e-9 and abs(out["SS_x"].std(ddof=0) - 1) < 1e-9


@pytest.mark.parametrize(
    ("algorithm", "target", "columns"),
    [
        (
            "LogisticRegression",
            "label",
            ["predicted(label)", "probability(label=no)", "probability(label=yes)"],
        ),
        ("KMeans", None, ["cluster"]),
        ("IsolationForest", None, ["isOutlier"]),
        ("PCA", None, ["PC_1", "PC_2", "PC_3", "PC_4", "PC_5"]),
    ],
)
def test_an_empty_chunk_gets_the_output_columns_and_no_rows(
    make_events: Events, algorithm: str, target: str | None, columns: list[str]
) -> None:
    frame = make_events(60)
    model = _fit(frame, algorithm, target, probabilities=target is not None)
    out = predict_frame(model.pipeline, model.meta, frame.iloc[:0])
    assert list(out.columns) == columns and len(out) == 0
    assert output_fields(model.pipeline, model.meta) == columns


def test_absent_fields_are_treated_as_missing_and_reported(make_events: Events) -> None:
    frame = make_events(60)
    model = _fit(frame, "LinearRegression", "amount")
    out = predict_frame(model.pipeline, model.meta, frame[["x"]].head(4))
    assert len(out) == 4 and out["predicted(amount)"].notna().all()
    assert out.attrs["missing_fields"] == ["z", "color"]
