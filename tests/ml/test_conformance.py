"""Every algorithm Kepler offers goes the whole way: fit, apply, save, load, apply again.

Parametrized over :func:`kepler.ml.registry.all_algorithms`, so a new catalog entry or an
installed plugin is covered the moment it exists. Data is small and parameters are the
cheapest that still fit, to keep the whole suite in seconds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kepler.core.algorithms import AlgorithmInfo
from kepler.core.spec import FitSpec
from kepler.ml.grouped import STATUS_FIELD
from kepler.ml.outputs import predict_frame
from kepler.ml.registry import all_algorithms
from kepler.ml.store import ModelStore
from kepler.ml.training import TrainedModel, train

Events = Callable[..., pd.DataFrame]

# The cheapest settings that still fit; anything not listed runs with its defaults.
FAST: dict[str, dict[str, Any]] = {
    "GradientBoostingClassifier": {"n_estimators": 5},
    "GradientBoostingRegressor": {"n_estimators": 5},
    "RandomForestClassifier": {"n_estimators": 5, "n_jobs": 1},
    "RandomForestRegressor": {"n_estimators": 5, "n_jobs": 1},
    "IsolationForest": {"n_estimators": 10, "n_jobs": 1},
    "HistGradientBoostingClassifier": {"max_iter": 5},
    "HistGradientBoostingRegressor": {"max_iter": 5},
    "XGBoostClassifier": {"n_estimators": 5, "n_jobs": 1, "device": "cpu"},
    "XGBoostRegressor": {"n_estimators": 5, "n_jobs": 1, "device": "cpu"},
    "MLPClassifier": {"hidden_layer_sizes": "8", "max_iter": 300},
    "MLPRegressor": {"hidden_layer_sizes": "8", "max_iter": 300},
    "TorchMLPClassifier": {
        "hidden_layer_sizes": "8",
        "max_epochs": 3,
        "batch_size": 32,
        "device": "cpu",
    },
    "TorchMLPRegressor": {
        "hidden_layer_sizes": "8",
        "max_epochs": 3,
        "batch_size": 32,
        "device": "cpu",
    },
    "KMeans": {"k": 3},
    "Birch": {"k": 3},
    "SpectralClustering": {"k": 3, "n_init": 2},
    "GaussianMixture": {"k": 2},
    "KernelPCA": {"k": 3},
    "ICA": {"n_components": 2, "max_iter": 400},
    "ARIMA": {"order": "1-0-0"},
    "HashingVectorizer": {"k": 2, "max_features": 64},
    "FieldSelector": {"mode": "k_best", "param": 2},
}
TARGETS = {"classifier": "label", "regressor": "amount"}
# Algorithms that model one field, grouped by others: (features, by).
GROUPED = {"DensityFunction": (("x",), ("color",))}
# Forecasters model one series: without _time, the rows in order are its steps.
SERIES = {"StateSpaceForecast": "x", "ARIMA": "x"}
# Algorithms that read one text field: `color` is text (red, green, blue).
TEXT = {"TFIDF", "HashingVectorizer"}
# Transformers that read a target.
TARGETED = {"FieldSelector": "label"}
PER_FIELD = {"StandardScaler": "SS", "RobustScaler": "RS", "MinMaxScaler": "MMS"}
NUMBERED = {"PCA": "PC", "KernelPCA": "PC", "ICA": "IC"}
EXPANDED = ["x", "z", "color=blue", "color=green", "color=red"]


def _random_state(info: AlgorithmInfo) -> dict[str, Any]:
    return {"random_state": 0} if info.params.lookup("random_state") else {}


@pytest.mark.parametrize("info", all_algorithms(), ids=lambda a: a.name)
def test_fit_apply_save_load_apply(
    info: AlgorithmInfo, make_events: Events, module_store: ModelStore
) -> None:
    features, by = GROUPED.get(info.name, (("x", "z", "color"), ()))
    if info.name in SERIES:
        features = (SERIES[info.name],)
    if info.name in TEXT:
        features = ("color",)
    elif info.name == "Imputer":  # numeric fields only
        features = ("x", "z")
    spec = FitSpec(
        info.name,
        target=TARGETS.get(info.task) or TARGETED.get(info.name),
        features=features,
        by=by,
        params={**_random_state(info), **FAST.get(info.name, {})},
    )
    trained = train(make_events(90), spec)  # Splunk-style text, one value missing
    assert trained.meta.algorithm == info.name and trained.meta.task == info.task

    # apply to typed data in a shuffled order: dtypes and row order are apply's business
    new = make_events(25, seed=11, as_text=False).sample(frac=1.0, random_state=1)
    out = predict_frame(trained.pipeline, trained.meta, new)
    assert list(out.index) == list(new.index)
    assert list(out.columns) == _expected_fields(info)
    _check_values(info, trained, out)

    saved = module_store.register(trained, _model_name(info))
    pipeline, meta = module_store.load(saved.name, saved.version)
    assert meta == trained.meta
    pd.testing.assert_frame_equal(predict_frame(pipeline, meta, new), out)
    if info.task == "classifier" and hasattr(pipeline, "predict_proba"):
        with_proba = predict_frame(pipeline, meta, new, probabilities=True)
        assert list(with_proba.columns[1:]) == ["probability(label=no)", "probability(label=yes)"]
        np.testing.assert_allclose(with_proba.iloc[:, 1:].sum(axis=1), 1.0, atol=1e-6)
        pd.testing.assert_frame_equal(
            with_proba,
            predict_frame(trained.pipeline, trained.meta, new, probabilities=True),
        )


def _model_name(info: AlgorithmInfo) -> str:
    return "conformance-" + re.sub(r"[^A-Za-z0-9_.\-]", "_", info.name)


def _expected_fields(info: AlgorithmInfo) -> list[str]:
    if info.task in TARGETS:
        return [f"predicted({TARGETS[info.task]})"]
    if info.task == "clusterer":
        return ["cluster"]
    if info.name == "DensityFunction":
        return ["IsOutlier(x)", "BoundaryRanges"]
    if info.name in SERIES:
        f = SERIES[info.name]
        return [f"predicted({f})", f"lower95(predicted({f}))", f"upper95(predicted({f}))"]
    if info.task == "outlier":
        return ["isOutlier"]
    if info.name in PER_FIELD:
        return [f"{PER_FIELD[info.name]}_{f}" for f in EXPANDED]
    if info.name == "PCA":
        return [f"PC_{i}" for i in range(1, len(EXPANDED) + 1)]
    if info.name == "KernelPCA":
        return ["PC_1", "PC_2", "PC_3"]
    if info.name == "ICA":
        return ["IC_1", "IC_2"]
    if info.name == "TFIDF":  # the vocabulary in order, numbered from 0
        return ["color_tfidf_0_blue", "color_tfidf_1_green", "color_tfidf_2_red"]
    if info.name == "HashingVectorizer":
        return ["color_hashed_0", "color_hashed_1"]
    if info.name == "FieldSelector":  # the two fields that drive `label`: x and color=red
        return ["fs_x", "fs_color=red"]
    if info.name == "Imputer":
        return ["Imputed_x", "Imputed_z"]
    pytest.fail(f"no expected output fields for the {info.task} {info.name}")


def _check_values(info: AlgorithmInfo, trained: TrainedModel, out: pd.DataFrame) -> None:
    column = out.iloc[:, 0]
    if info.task == "classifier":
        assert set(column) <= {"yes", "no"}
        assert trained.meta.classes == ["no", "yes"]
        assert "accuracy" in trained.metrics
    elif info.task == "regressor":
        assert column.dtype == np.float64 and np.isfinite(column).all()
        assert "rmse" in trained.metrics
    elif info.task == "clusterer":
        assert pd.api.types.is_integer_dtype(column.dtype)
        assert "n_clusters" in trained.metrics
    elif info.task == "outlier":
        assert set(column) <= {0, 1}
        assert "outlier_fraction" in trained.metrics
    else:
        assert (out.dtypes == np.float64).all() and np.isfinite(out.to_numpy()).all()


@pytest.mark.parametrize(
    "info",
    [a for a in all_algorithms() if a.name not in GROUPED and a.name not in SERIES],
    ids=lambda a: a.name,
)
def test_by_fit_apply_save_load_apply(
    info: AlgorithmInfo, make_events: Events, module_store: ModelStore
) -> None:
    """`by site`: one model per site in one version, each event scored by its own."""
    features: tuple[str, ...] = ("x", "z", "color")
    if info.name in TEXT:
        features = ("color",)
    elif info.name == "Imputer":  # numeric fields only
        features = ("x", "z")
    spec = FitSpec(
        info.name,
        target=TARGETS.get(info.task) or TARGETED.get(info.name),
        features=features,
        by=("site",),
        params={**_random_state(info), **FAST.get(info.name, {})},
    )
    trained = train(_with_sites(make_events(120)), spec)
    assert [g["group"] for g in trained.groups or ()] == ["north", "south"]
    assert all(g["status"] == "ok" and g["rows"] > 0 for g in trained.groups or ())

    new = _with_sites(make_events(25, seed=11, as_text=False)).sample(frac=1.0, random_state=1)
    new.loc[new.index[0], "site"] = "east"  # a site no model was trained for
    out = predict_frame(trained.pipeline, trained.meta, new)
    assert list(out.index) == list(new.index)
    assert list(out[STATUS_FIELD]) == ["unseen", *["ok"] * (len(new) - 1)]
    assert out.iloc[0, :-1].isna().all()
    if info.name == "FieldSelector":
        # Each site keeps its own fields: the outputs are their union, each site's rows
        # filled where its own selector kept the field.
        assert out.columns[-1] == STATUS_FIELD
        assert set(_expected_fields(info)) <= set(out.columns[:-1])
        assert all(c.startswith("fs_") for c in out.columns[:-1])
        assert out.iloc[1:, :-1].notna().any(axis=1).all()
    else:
        assert list(out.columns) == [*_expected_fields(info), STATUS_FIELD]
        _check_values(info, trained, out.iloc[1:, :-1].astype(_plain(out)))

    saved = module_store.register(trained, _model_name(info) + "-by-site")
    pipeline, meta = module_store.load(saved.name, saved.version)
    assert meta == trained.meta and meta.by == ["site"]
    pd.testing.assert_frame_equal(predict_frame(pipeline, meta, new), out)


def _with_sites(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(site=np.where(np.arange(len(frame)) % 2 == 0, "north", "south"))


def _plain(out: pd.DataFrame) -> dict[str, Any]:
    """Nullable integer outputs (a grouped model's cluster, isOutlier) as int64 once the
    rows without a model are gone."""
    return {c: np.int64 for c in out.columns[:-1] if isinstance(out[c].dtype, pd.Int64Dtype)}
