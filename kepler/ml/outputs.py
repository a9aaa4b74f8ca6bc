"""Applying a model to events: the output columns, named as Splunk MLTK names them.

=================  =========================================  ==========================
task               fields                                     ``as <out>``
=================  =========================================  ==========================
classifier         ``predicted(<target>)``, and with          ``<out>`` (probability
                   probabilities ``probability(<target>=<c>)``  fields keep their names)
regressor          ``predicted(<target>)``                    ``<out>``
clusterer          ``cluster``                                ``<out>``
outlier detector   ``isOutlier`` (1 outlier, 0 normal)        ``<out>``
DensityFunction    ``IsOutlier(<field>)`` (empty: unseen      ``<out>`` (``<out>_th=<t>``
                   group), ``BoundaryRanges`` (multivalue,    with several thresholds;
                   ``<lower>:<upper>:<area>`` per range),     the others keep their
                   ``ProbabilityDensity(<field>)`` with       names)
                   show_density, ``FullSampledValue`` with
                   full_sample, ``SampledValue`` with
                   sample, ``_Options`` (JSON) with
                   show_options; several thresholds:
                   ``IsOutlier_th=<t>(<field>)``,
                   ``BoundaryRanges_th=<t>``,
                   ``SampledValue_th=<t>`` per threshold
forecaster         ``predicted(<field>)``,                    ``<out>``, ``lower<ci>(<out>)``
                   ``lower<ci>(predicted(<field>))``,         ...
                   ``upper<ci>(predicted(<field>))`` per
                   field: the model run over the events'
                   own series (they carry the field), or
                   the trained forecast at their ``_time``
                   (only ``_time``); with ``forecast_k=``
                   ``_time`` too, and rows after the last
                   event; ``_forecastMetadata`` (``h``,
                   ``f``, ``hf``) with output_metadata;
                   ``target=``'s fields only when given
scaler             ``SS_<field>`` / ``RS_<field>`` /          ``<out>_<field>``
                   ``MMS_<field>``
decomposition      ``PC_1`` ... (PCA, KernelPCA), ``IC_1``    ``<out>_1`` ...
                   ... (ICA)
TFIDF              ``<field>_tfidf_<n>_<term>`` (n from 0)    ``<out>_<n>_<term>``
HashingVectorizer  ``<field>_hashed_<n>`` (n from 0)          ``<out>_<n>``
FieldSelector      ``fs_<field>`` for each field kept         ``<out>_<field>``
Imputer            ``Imputed_<field>``                        ``<out>_<field>``
=================  =========================================  ==========================

A model fitted with ``by`` (:mod:`kepler.ml.grouped`) adds ``kepler_group_status`` (ok,
unseen, skipped, missing) after its outputs, which stay empty unless it is ok; a grouped
transformer's fields are every field any group's model makes.

A one-hot encoded field shows up as ``<field>=<value>`` in transformer outputs
(``SS_color=red``), MLTK's own spelling. A plugin transformer that keeps one column per
input (``get_feature_names_out`` echoes its inputs) is named ``<Algorithm>_<field>``;
any other ``<Algorithm>_1`` ...

Clusterers without their own ``predict`` (DBSCAN, SpectralClustering) assign new rows by
nearest neighbour; see :mod:`kepler.ml.pipeline`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from kepler.core.errors import BadParameter, DataError
from kepler.ml import frames
from kepler.ml.forecast import METADATA_FIELD
from kepler.ml.forecast import output_names as forecast_output_names
from kepler.ml.grouped import OK, STATUS_FIELD, is_grouped
from kepler.ml.meta import ModelMeta
from kepler.ml.pipeline import feature_names_out, final_estimator

# MLTK's prefixes; a scaler names one output per input field, a decomposition numbers them.
PER_FIELD_PREFIX = {"StandardScaler": "SS", "RobustScaler": "RS", "MinMaxScaler": "MMS"}
NUMBERED_PREFIX = {"PCA": "PC", "KernelPCA": "PC", "ICA": "IC"}
# DensityFunction's multivalue field: a frame lists such columns in attrs["multivalue"], and
# the CSV answered to splunkd adds their __mv_ encoding (kepler.server.scoring).
BOUNDARY_RANGES = "BoundaryRanges"


def predict_frame(
    pipeline: Pipeline,
    meta: ModelMeta,
    frame: pd.DataFrame,
    *,
    probabilities: bool | None = None,
    output_name: str | None = None,
    conformed: bool = False,
    options: Mapping[str, Any] | None = None,
    model_name: str | None = None,
) -> pd.DataFrame:
    """Only the output columns for ``frame``'s rows, same order and index.

    ``probabilities=None`` means as the model was fitted; ``output_name`` (``as <out>``)
    overrides the name chosen at fit time. Features absent from ``frame`` count as missing
    (imputed); the result's ``attrs["missing_fields"]`` lists them. ``conformed``: the
    caller already made ``frame`` the model's features as :func:`frames.conform` makes
    them (the online path does, per field, with no per-column pandas work). ``options``:
    apply-time algorithm options (DensityFunction's ``threshold=``, see
    :data:`APPLY_ALGORITHM_OPTIONS`), refused for models that take none. ``model_name``:
    the model's name, for DensityFunction's ``show_options="model_name"``. A frame's
    ``attrs["multivalue"]`` lists its multivalue columns (``\\n``-joined values).
    """
    _check_options(meta, options or {})
    if meta.task == "forecaster":
        return _forecast_frame(pipeline, meta, frame, output_name, conformed, options or {})
    if meta.algorithm == "DensityFunction":
        return _density_frame(
            pipeline, meta, frame, output_name, conformed, options or {}, model_name
        )
    if is_grouped(pipeline):
        out = _grouped_frame(pipeline, meta, frame, probabilities, output_name, conformed)
        out.attrs["missing_fields"] = [f for f in meta.features if f not in frame.columns]
        return out
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


def _check_options(meta: ModelMeta, options: Mapping[str, Any]) -> None:
    """Refuse apply-time options the model does not take, naming the models that do."""
    from kepler.core.spec import APPLY_ALGORITHM_OPTIONS as DENSITY_OPTIONS
    from kepler.core.spec import APPLY_FORECAST_OPTIONS as FORECAST_OPTIONS

    if meta.task == "forecaster":
        allowed: tuple[str, ...] = FORECAST_OPTIONS
    elif meta.algorithm == "DensityFunction":
        allowed = DENSITY_OPTIONS
    else:
        allowed = ()
    refused = sorted(k for k in options if k not in allowed)
    if refused:
        owner = (
            "forecasters (StateSpaceForecast, ARIMA)"
            if refused[0] in FORECAST_OPTIONS
            else "DensityFunction models"
        )
        raise BadParameter(
            f"{', '.join(refused)} applies to {owner}; this model is a {meta.algorithm}",
            detail={"parameter": refused[0]},
        )


def _check_period(est: Any, meta: ModelMeta, period: Any) -> None:
    """Apply's ``period=`` (MLTK's StateSpaceForecast.apply): the fitted period, given or
    detected (1: none), or MLTK's error; ARIMA has none to give."""
    if period is None:
        return
    if meta.algorithm != "StateSpaceForecast":
        raise BadParameter(
            f"period= applies to StateSpaceForecast; {meta.algorithm} has no period: drop it",
            detail={"parameter": "period"},
        )
    fitted = int(getattr(est, "period_", None) or est.period or 1)
    if int(period) != max(fitted, 1):
        raise BadParameter(
            f"The period {period} is different from the one obtained from |fit "
            f"({max(fitted, 1)}): drop period= (apply uses the fitted one), or fit again "
            f"with period={period}",
            detail={"parameter": "period", "fitted": max(fitted, 1)},
        )


def forecast_fields(meta: ModelMeta) -> list[str]:
    """A forecaster's forecast fields: its features but ``_time`` and ``specialdays``'."""
    return [f for f in meta.features if f not in ("_time", meta.params.get("specialdays"))]


def _forecast_names(
    meta: ModelMeta,
    out: str | None,
    conf_interval: float | None = None,
    targets: list[str] | None = None,
) -> list[str]:
    ci = meta.params.get("conf_interval", 95) if conf_interval is None else conf_interval
    fields = forecast_fields(meta)
    if targets is not None:
        fields = [f for f in fields if f in targets]
    names: list[str] = []
    for f in fields:
        base = forecast_output_names(f, ci)
        if out:  # `as <out>`: <out> for predicted(<f>), <out>(<f>) with several fields
            renamed = out if len(fields) == 1 else f"{out}({f})"
            base = [n.replace(f"predicted({f})", renamed) for n in base]
        names += base
    return names


def _forecast_frame(
    pipeline: Pipeline,
    meta: ModelMeta,
    frame: pd.DataFrame,
    output_name: str | None,
    conformed: bool,
    options: Mapping[str, Any],
) -> pd.DataFrame:
    """Events that carry the model's field(s): the model run over their series, MLTK's
    apply (``holdback`` rows withheld, ``forecast_k`` steps from the last row run over);
    events with only ``_time``: the trained forecast at each one's time, Kepler's
    extension (see :mod:`kepler.ml.forecast`). With ``forecast_k``, ``_time`` and the
    outputs for the events, then the rows after them; with ``conf_interval``, that
    interval (and its names) instead of the fitted one."""
    ci = options.get("conf_interval")
    est = final_estimator(pipeline)
    special = meta.params.get("specialdays")
    named = options.get("specialdays")
    if named is not None and named != special:  # MLTK's apply: the fitted field, or an error
        raise BadParameter(
            f"Field {named} not present. This is probably because you forgot to specify "
            f"specialdays={named} during fit"
            + (f" (the model reads specialdays={special})" if special else ""),
            detail={"parameter": "specialdays"},
        )
    _check_period(est, meta, options.get("period"))
    targets = est.targets(options.get("target"))
    metadata = bool(options.get("output_metadata"))
    names = _forecast_names(meta, output_name or meta.output_name, ci, targets)
    X = (
        frame
        if conformed
        else frames.conform(frame, {f: meta.feature_types[f] for f in meta.features})
    )
    future: pd.DataFrame | None = None
    if len(frame) and est.carries_series(X, targets):
        if special and special not in frame.columns:  # conform() would read it as all 0
            raise DataError(
                f"Field {special} not present: the model was fitted with "
                f"specialdays={special}, and its apply reads it from the events",
                detail={"field": special},
            )
        out, future = est.apply_series(
            X,
            holdback=options.get("holdback", 0),
            forecast_k=options.get("forecast_k", 0),
            conf_interval=ci,
            fields=targets,
            metadata=metadata,
        )
    else:
        if options.get("holdback") not in (None, 0, "0"):
            fields = ", ".join(targets)
            raise BadParameter(
                f"holdback= withholds the last events' values, and these events carry none "
                f"of {fields}: drop holdback=, or apply to events with the field(s)",
                detail={"parameter": "holdback"},
            )
        out = (
            est.predict_events(X, ci) if len(frame) else pd.DataFrame(columns=est.output_fields(ci))
        )
        out = out[est.output_fields(ci, targets)]
        if "forecast_k" in options:
            future = est.future(X, options["forecast_k"], ci)
            future = future[[c for c in future.columns if c == "_time" or c in out.columns]]
        if metadata:  # the trained forecast: held-back rows hf, rows after the series f
            out[METADATA_FIELD] = est.event_metadata(X)
            if future is not None:
                future[METADATA_FIELD] = "f"
    outputs = [c for c in out.columns if c != METADATA_FIELD]
    out[outputs] = out[outputs].astype(np.float64)
    out = out.rename(columns=dict(zip(outputs, names, strict=True)))
    out.attrs["missing_fields"] = [f for f in meta.features if f not in frame.columns]
    if "forecast_k" not in options or future is None:
        return out
    ahead = [c for c in future.columns if c not in ("_time", METADATA_FIELD)]
    future = future.rename(columns=dict(zip(ahead, names, strict=True)))
    if "_time" in future.columns:
        out.insert(0, "_time", est.event_seconds(X))
    return pd.concat([out.reset_index(drop=True), future], ignore_index=True)


def output_fields(
    pipeline: Pipeline,
    meta: ModelMeta,
    *,
    probabilities: bool | None = None,
    output_name: str | None = None,
) -> list[str]:
    """The names :func:`predict_frame` returns, without touching any data."""
    if is_grouped(pipeline):
        return [*_grouped_fields(pipeline, meta, probabilities, output_name), STATUS_FIELD]
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
        return _density_fields(pipeline, meta, out, {})
    if meta.task == "outlier":
        return [out or "isOutlier"]
    if meta.task == "forecaster":
        return _forecast_names(meta, out)
    return _transformer_fields(pipeline, meta, out)


def _grouped_fields(
    pipeline: Pipeline, meta: ModelMeta, probabilities: bool | None, output_name: str | None
) -> list[str]:
    """A `by` model's output fields: the ungrouped model's, and for transformers every
    field any group's model makes (one-hot columns differ between groups)."""
    grouped = pipeline.named_steps["model"]
    if meta.task != "transformer":
        flat = replace(meta, by=[])
        return output_fields(
            grouped.estimator, flat, probabilities=probabilities, output_name=output_name
        )
    names: dict[str, None] = {}
    for model in grouped.groups_.values():
        inner = _group_meta(meta, grouped, model)
        names.update(
            dict.fromkeys(_transformer_fields(model, inner, output_name or meta.output_name))
        )
    return list(names)


def _group_meta(meta: ModelMeta, grouped: Any, model: Any) -> ModelMeta:
    """``meta`` as one group's model sees it: its features, its classes."""
    classes = None
    if meta.task == "classifier":
        classes = [str(c) for c in model.named_steps["model"].classes_]
    return replace(meta, features=list(grouped.features_), by=[], classes=classes)


def _grouped_frame(
    pipeline: Pipeline,
    meta: ModelMeta,
    frame: pd.DataFrame,
    probabilities: bool | None,
    output_name: str | None,
    conformed: bool,
) -> pd.DataFrame:
    """Each event scored by its group's model; an event without one gets empty outputs
    and a :data:`~kepler.ml.grouped.STATUS_FIELD` saying why (see kepler.ml.grouped)."""
    grouped = pipeline.named_steps["model"]
    want_proba = meta.probabilities if probabilities is None else probabilities
    check_probabilities(
        meta.algorithm,
        meta.task,
        pipeline,
        want_proba,
        "apply it without probabilities=true, or fit a classifier that does",
    )
    names = output_fields(pipeline, meta, probabilities=want_proba, output_name=output_name)
    if len(frame) == 0:
        return pd.DataFrame(
            {
                n: pd.Series([], dtype="object" if n == STATUS_FIELD else _empty_dtype(meta, i))
                for i, n in enumerate(names)
            }
        )
    X = (
        frame
        if conformed
        else frames.conform(frame, {f: meta.feature_types[f] for f in meta.features})
    )
    if "lags" in pipeline.named_steps:  # lags= with `by`: each group's own past, first
        X = pipeline.named_steps["lags"].transform(X)
    parts = []
    for key, rows in grouped.split(X).items():
        model = grouped.groups_[key]
        part = _predict_frame(
            model,
            _group_meta(meta, grouped, model),
            X.iloc[rows][grouped.features_],
            want_proba,
            output_name,
            True,
        )
        parts.append(part.set_axis(rows))
    n = len(frame)
    status = grouped.status(X)
    columns: dict[str, Any] = {}
    for name in names[:-1]:
        pieces = [p[name] for p in parts if name in p.columns]
        columns[name] = _fill_rows(pieces, n, name.startswith("probability("), status == OK)
    columns[STATUS_FIELD] = status
    return pd.DataFrame(columns, index=frame.index)


def _fill_rows(pieces: list[pd.Series], n: int, zero: bool, has_model: np.ndarray) -> Any:
    """One output column over all ``n`` rows from the groups' pieces (indexed by row
    position): empty where a row has no model, 0 for a class a group never saw."""
    if not pieces:
        values = np.full(n, np.nan)
        if zero:
            values[has_model] = 0.0
        return values
    whole = pd.concat(pieces).reindex(range(n))
    if zero:
        whole = whole.where(~(whole.isna() & has_model), 0.0)
    if all(pd.api.types.is_integer_dtype(p.dtype) for p in pieces):
        return whole.astype("Int64").array
    if whole.dtype == object:
        return whole.astype(object).where(whole.notna(), None).to_numpy()
    return whole.to_numpy()


def _density_settings(pipeline: Pipeline, meta: ModelMeta, options: Mapping[str, Any]) -> Any:
    """What one apply of a DensityFunction model shows: its outlier rule (the apply's own
    thresholds, else the fitted ones) and the outputs asked at apply, else at fit."""
    from kepler.core.density import outlier_thresholds, show_option_names

    est = final_estimator(pipeline)
    rule = outlier_thresholds(
        options.get("threshold"), options.get("lower_threshold"), options.get("upper_threshold")
    )
    show = options.get("show_options", meta.params.get("show_options"))
    return _DensitySettings(
        rule=rule or est.fitted_rule(),
        show_density=bool(options.get("show_density", meta.params.get("show_density", False))),
        sample=bool(options.get("sample", meta.params.get("sample", False))),
        full_sample=bool(options.get("full_sample", meta.params.get("full_sample", False))),
        show_options=show_option_names(show) if show else None,
    )


@dataclass(frozen=True)
class _DensitySettings:
    rule: Any  # kepler.core.density.Thresholds
    show_density: bool
    sample: bool
    full_sample: bool
    show_options: list[str] | None


def _density_fields(
    pipeline: Pipeline, meta: ModelMeta, out: str | None, options: Mapping[str, Any]
) -> list[str]:
    """MLTK's columns, in its order (DensityFunction._get_df_column_names): IsOutlier per
    threshold, BoundaryRanges per threshold, ProbabilityDensity, FullSampledValue,
    SampledValue per threshold, _Options. One threshold keeps the plain names; several
    add ``_th=<t>`` (kepler.core.density.column_name)."""
    settings = _density_settings(pipeline, meta, options)
    return [name for name, _ in _density_columns(settings, meta, out)]


def _density_columns(
    s: _DensitySettings, meta: ModelMeta, out: str | None
) -> list[tuple[str, str]]:
    """(name, dtype of an empty column) of :func:`_density_fields`."""
    from kepler.core.density import column_name

    field = meta.features[0]
    labels: list[float | None] = list(s.rule.labels()) if s.rule.multiple else [None]
    cols = [(column_name("IsOutlier", out, t, field), "Int64") for t in labels]
    cols += [(column_name(BOUNDARY_RANGES, None, t), "object") for t in labels]
    if s.show_density:
        cols.append((f"ProbabilityDensity({field})", "float64"))
    if s.full_sample:
        cols.append(("FullSampledValue", "float64"))
    if s.sample:
        cols += [(column_name("SampledValue", None, t), "float64") for t in labels]
    if s.show_options:
        cols.append(("_Options", "object"))
    return cols


def _density_frame(
    pipeline: Pipeline,
    meta: ModelMeta,
    frame: pd.DataFrame,
    output_name: str | None,
    conformed: bool,
    options: Mapping[str, Any],
    model_name: str | None = None,
) -> pd.DataFrame:
    s = _density_settings(pipeline, meta, options)
    out_name = output_name or meta.output_name
    typed = _density_columns(s, meta, out_name)
    names = [n for n, _ in typed]
    multivalue = [n for n in names if n.startswith(BOUNDARY_RANGES)]
    if len(frame) == 0:
        empty = pd.DataFrame({n: pd.Series([], dtype=t) for n, t in typed})
        empty.attrs["multivalue"] = multivalue
        return empty
    X = (
        frame
        if conformed
        else frames.conform(frame, {f: meta.feature_types[f] for f in meta.features})
    )
    scored = final_estimator(pipeline).score_events(
        pipeline.named_steps["prep"].transform(X),
        rule=s.rule,
        show_density=s.show_density,
        sample=s.sample,
        full_sample=s.full_sample,
    )
    k = len(s.rule.rules())
    columns: list[Any] = [scored[f"is_outlier_{i}"].array for i in range(k)]
    columns += [scored[f"ranges_{i}"].to_numpy() for i in range(k)]
    if s.show_density:
        columns.append(scored["density"].to_numpy())
    if s.full_sample:
        columns.append(scored["full_sample"].to_numpy())
    if s.sample:
        columns += [scored[f"sample_{i}"].to_numpy() for i in range(k)]
    if s.show_options:
        shown = np.full(len(frame), _shown_options(meta, options, out_name, model_name), object)
        shown[scored["is_outlier_0"].isna().to_numpy()] = None  # no verdict: empty, as MLTK
        columns.append(shown)
    out = pd.DataFrame(dict(zip(names, columns, strict=True)), index=frame.index)
    out.attrs["missing_fields"] = [f for f in meta.features if f not in frame.columns]
    out.attrs["multivalue"] = multivalue
    # Text about the model rather than a score of the event: drift baselines skip them.
    out.attrs["unprofiled"] = [*multivalue, *(["_Options"] if s.show_options else [])]
    return out


def _shown_options(
    meta: ModelMeta, options: Mapping[str, Any], out: str | None, model_name: str | None
) -> str:
    """MLTK's ``_Options`` value (DensityFunction._get_show_options_value): the options the
    search gave, ``params`` as text as MLTK keeps them (the apply's own algorithm options
    when it gives any, else the fit's)."""
    from kepler.core.density import mltk_text, show_option_names, show_options_value

    given = dict(options) if options else dict(meta.params)
    names = show_option_names(given.get("show_options") or meta.params.get("show_options"))
    return show_options_value(
        names,
        {
            "feature_variables": [meta.features[0]],
            "split_by": list(meta.by),
            "params": {k: mltk_text(v) for k, v in given.items() if v is not None},
            "algo_name": meta.algorithm,
            "model_name": model_name,
            "output_name": out,
        },
    )


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
