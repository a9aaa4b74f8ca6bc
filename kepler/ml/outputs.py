"""Applying a model to events: the output columns, named as Splunk MLTK names them.

=================  =========================================  ==========================
task               fields                                     ``as <out>``
=================  =========================================  ==========================
classifier         ``predicted(<target>)``, and with          ``<out>`` (probability
                   probabilities ``probability(<target>=<c>)``  fields keep their names)
regressor          ``predicted(<target>)``                    ``<out>``
clusterer          ``cluster``                                ``<out>``
outlier detector   ``isOutlier`` (1 outlier, 0 normal)        ``<out>``
DensityFunction    ``IsOutlier(<field>)`` (empty: unseen      ``<out>``
                   group), ``ProbabilityDensity(<field>)``
                   with show_density, ``SampledValue(<field>)``
                   with sample / full_sample
scaler             ``SS_<field>`` / ``RS_<field>`` /          ``<out>_<field>``
                   ``MMS_<field>``
decomposition      ``PC_1`` ... (PCA, KernelPCA), ``IC_1``    ``<out>_1`` ...
                   ... (ICA)
TFIDF              ``<field>_tfidf_<n>_<term>`` (n from 0)    ``<out>_<n>_<term>``
HashingVectorizer  ``<field>_hashed_<n>`` (n from 0)          ``<out>_<n>``
FieldSelector      ``fs_<field>`` for each field kept         ``<out>_<field>``
Imputer            ``Imputed_<field>``                        ``<out>_<field>``
=================  =========================================  ==========================

A one-hot encoded field shows up as ``<field>=<value>`` in transformer outputs
(``SS_color=red``), MLTK's own spelling. A plugin transformer that keeps one column per
input (``get_feature_names_out`` echoes its inputs) is named ``<Algorithm>_<field>``;
any other ``<Algorithm>_1`` ...

Clusterers without their own ``predict`` (DBSCAN, SpectralClustering) assign new rows by
nearest neighbour; see :mod:`kepler.ml.pipeline`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from kepler.core.errors import BadParameter
from kepler.ml import frames
from kepler.ml.meta import ModelMeta
from kepler.ml.pipeline import feature_names_out, final_estimator

# MLTK's prefixes; a scaler names one output per input field, a decomposition numbers them.
PER_FIELD_PREFIX = {"StandardScaler": "SS", "RobustScaler": "RS", "MinMaxScaler": "MMS"}
NUMBERED_PREFIX = {"PCA": "PC", "KernelPCA": "PC", "ICA": "IC"}


def predict_frame(
    pipeline: Pipeline,
    meta: ModelMeta,
    frame: pd.DataFrame,
    *,
    probabilities: bool | None = None,
    output_name: str | None = None,
    conformed: bool = False,
    options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Only the output columns for ``frame``'s rows, same order and index.

    ``probabilities=None`` means as the model was fitted; ``output_name`` (``as <out>``)
    overrides the name chosen at fit time. Features absent from ``frame`` count as missing
    (imputed); the result's ``attrs["missing_fields"]`` lists them. ``conformed``: the
    caller already made ``frame`` the model's features as :func:`frames.conform` makes
    them (the online path does, per field, with no per-column pandas work). ``options``:
    apply-time algorithm options (DensityFunction's ``threshold=``, see
    :data:`APPLY_ALGORITHM_OPTIONS`), refused for models that take none.
    """
    if options and meta.algorithm != "DensityFunction":
        raise BadParameter(
            f"{', '.join(sorted(options))} applies to DensityFunction models; "
            f"this model is a {meta.algorithm}",
            detail={"parameter": sorted(options)[0]},
        )
    if meta.algorithm == "DensityFunction":
        return _density_frame(pipeline, meta, frame, output_name, conformed, options or {})
    out = _predict_frame(pipeline, meta, frame, probabilities, output_name, conformed)
    out.attrs["missing_fields"] = [f for f in meta.features if f not in frame.columns]
    return out


def _predict_frame(
    pipeline: Pipeline,
    meta: ModelMeta,
    frame: pd.DataFrame,
    probabilities: bool | None,
    output_name: str | None,
    conformed: bool = False,
) -> pd.DataFrame:
    want_proba = meta.probabilities if probabilities is None else probabilities
    check_probabilities(
        meta.algorithm,
        meta.task,
        pipeline,
        want_proba,
        "apply it without probabilities=true, or fit a classifier that does "
        "(LogisticRegression, RandomForestClassifier, ...)",
    )
    names = output_fields(pipeline, meta, probabilities=want_proba, output_name=output_name)
    if len(frame) == 0:  # Splunk sends empty chunks; estimators refuse zero rows
        return pd.DataFrame(
            {n: pd.Series([], dtype=_empty_dtype(meta, i)) for i, n in enumerate(names)}
        )
    X = (
        frame
        if conformed
        else frames.conform(frame, {f: meta.feature_types[f] for f in meta.features})
    )
    index = frame.index
    if meta.task == "transformer":
        values = np.asarray(pipeline.transform(X), dtype=np.float64).reshape(len(X), -1)
        if values.shape[1] != len(names):  # a plugin that could not say its width up front
            prefix = output_name or meta.output_name or meta.algorithm
            names = [f"{prefix}_{i}" for i in range(1, values.shape[1] + 1)]
        return pd.DataFrame(values, index=index, columns=names, copy=False)
    if meta.task == "outlier":
        flags = (np.asarray(_predict(pipeline, meta, X)) == -1).astype(np.int64)
        return pd.DataFrame({names[0]: flags}, index=index)
    predicted = np.asarray(_predict(pipeline, meta, X))
    if meta.task == "regressor":  # XGBoost and torch answer in float32
        predicted = predicted.astype(np.float64, copy=False).reshape(len(X))
    out: dict[str, Any] = {names[0]: predicted}
    if want_proba:
        proba = np.asarray(pipeline.predict_proba(X), dtype=np.float64)
        for i, name in enumerate(names[1:]):
            out[name] = proba[:, i]
    return pd.DataFrame(out, index=index)


def output_fields(
    pipeline: Pipeline,
    meta: ModelMeta,
    *,
    probabilities: bool | None = None,
    output_name: str | None = None,
) -> list[str]:
    """The names :func:`predict_frame` returns, without touching any data."""
    out = output_name or meta.output_name
    if meta.task in ("classifier", "regressor"):
        names = [out or f"predicted({meta.target})"]
        want = meta.probabilities if probabilities is None else probabilities
        if want and meta.task == "classifier":
            names += [f"probability({meta.target}={c})" for c in meta.classes or ()]
        return names
    if meta.task == "clusterer":
        return [out or "cluster"]
    if meta.algorithm == "DensityFunction":
        return _density_fields(meta, out, bool(meta.params.get("show_density")))
    if meta.task == "outlier":
        return [out or "isOutlier"]
    return _transformer_fields(pipeline, meta, out)


def _density_fields(meta: ModelMeta, out: str | None, show_density: bool) -> list[str]:
    field = meta.features[0]
    names = [out or f"IsOutlier({field})"]
    if show_density:
        names.append(f"ProbabilityDensity({field})")
    if meta.params.get("sample") or meta.params.get("full_sample"):
        names.append(f"SampledValue({field})")
    return names


def _density_frame(
    pipeline: Pipeline,
    meta: ModelMeta,
    frame: pd.DataFrame,
    output_name: str | None,
    conformed: bool,
    options: Mapping[str, Any],
) -> pd.DataFrame:
    show = bool(options.get("show_density", meta.params.get("show_density", False)))
    names = _density_fields(meta, output_name or meta.output_name, show)
    if len(frame) == 0:
        return pd.DataFrame(
            {n: pd.Series([], dtype="Int64" if i == 0 else "float64") for i, n in enumerate(names)}
        )
    X = (
        frame
        if conformed
        else frames.conform(frame, {f: meta.feature_types[f] for f in meta.features})
    )
    scored = final_estimator(pipeline).score_events(
        pipeline.named_steps["prep"].transform(X),
        threshold=options.get("threshold"),
        lower_threshold=options.get("lower_threshold"),
        upper_threshold=options.get("upper_threshold"),
    )
    columns: list[Any] = [scored["is_outlier"].array]
    if show:
        columns.append(scored["density"].to_numpy())
    if len(names) > len(columns):  # sample / full_sample
        columns.append(scored["sample"].to_numpy())
    out = pd.DataFrame(dict(zip(names, columns, strict=True)), index=frame.index)
    out.attrs["missing_fields"] = [f for f in meta.features if f not in frame.columns]
    return out


def _transformer_fields(pipeline: Pipeline, meta: ModelMeta, out: str | None) -> list[str]:
    inputs = feature_names_out(pipeline)
    est = final_estimator(pipeline)
    if hasattr(est, "kepler_output_fields"):  # TFIDF, HashingVectorizer, FieldSelector...
        return [str(n) for n in est.kepler_output_fields(inputs, out)]
    if meta.algorithm in PER_FIELD_PREFIX:
        return [f"{out or PER_FIELD_PREFIX[meta.algorithm]}_{f}" for f in inputs]
    produced: list[str] | None = None
    try:
        produced = [str(n) for n in est.get_feature_names_out(inputs)]
    except Exception:  # a plugin without get_feature_names_out
        produced = None
    if meta.algorithm not in NUMBERED_PREFIX and produced == inputs:
        return [f"{out or meta.algorithm}_{f}" for f in inputs]
    prefix = out or NUMBERED_PREFIX.get(meta.algorithm, meta.algorithm)
    n_out = len(produced) if produced is not None else _n_components(est, len(inputs))
    return [f"{prefix}_{i}" for i in range(1, n_out + 1)]


def _n_components(est: Any, n_inputs: int) -> int:
    for attr in ("n_components_", "n_features_out_", "_n_features_out"):
        n = getattr(est, attr, None)
        if isinstance(n, int | np.integer):
            return int(n)
    return n_inputs


def _predict(pipeline: Pipeline, meta: ModelMeta, X: pd.DataFrame) -> Any:
    if not hasattr(pipeline, "predict"):
        hint = (
            "; refit with novelty=true so it can score new events"
            if meta.algorithm == "LocalOutlierFactor"
            else ""
        )
        raise BadParameter(
            f"a {meta.algorithm} model cannot be applied to new events{hint}",
            detail={"algorithm": meta.algorithm},
        )
    return pipeline.predict(X)


def check_probabilities(algorithm: str, task: str, model: Any, wanted: bool, fix: str) -> None:
    """Refuse ``probabilities=true`` for a model that cannot give them; ``fix`` says what to
    do instead (at fit time or at apply time)."""
    if not wanted:
        return
    if task != "classifier":
        raise BadParameter(
            f"probabilities=true applies to classifiers; {algorithm} is a {task}",
            detail={"parameter": "probabilities"},
        )
    if not hasattr(model, "predict_proba"):
        raise BadParameter(
            f"{algorithm} does not estimate class probabilities; {fix}",
            detail={"parameter": "probabilities", "algorithm": algorithm},
        )


def _empty_dtype(meta: ModelMeta, position: int) -> str:
    if meta.task in ("clusterer", "outlier"):
        return "int64"
    if meta.task == "classifier" and position == 0:
        return "object"
    return "float64"
