"""``partial_fit=true``: continue a model's latest version with new events.

MLTK's ``fit ... into <model> partial_fit=true`` updates a saved model in place. Kepler
never overwrites a version: :func:`continue_training` loads the latest version, runs
scikit-learn's ``partial_fit`` on the new rows and returns a model that the caller
registers as the *next* version, tagged with the version it continued
(``kepler.partial_fit.from``). Where the model does not exist yet, the fit is an ordinary
first fit, as in MLTK.

The previous version fixes what a continuation may change: the algorithm, its
parameters, the target and the fields (the fitted preprocessing, its medians and one-hot
categories, is kept as it is); a classifier continues with its classes only. Each
difference is refused with what to do instead.

A forecaster (StateSpaceForecast, as in MLTK) continues differently: the new events are
its new series, fitted from the previous version's parameters; the fit's own options
(``forecast_k``, ``holdback``, ``conf_interval``, ``update_last``) may change, and the
rows the fit answers are the new version's forecast, or with ``update_last=t`` the
previous version's forecast over the new events (MLTK: forecast, then update).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from kepler.core.algorithms import SUPERVISED, refuse_partial_fit
from kepler.core.errors import BadParameter, DataError, InvalidSpec
from kepler.core.spec import FitSpec, expand_features
from kepler.ml import frames, registry
from kepler.ml.meta import ModelMeta
from kepler.ml.metrics import compute_metrics, holdout_sample
from kepler.ml.outputs import output_fields
from kepler.ml.pipeline import final_estimator
from kepler.ml.training import MAX_WARNINGS, TrainedModel, _hold_out, _split


def continue_training(
    frame: pd.DataFrame, spec: FitSpec, pipeline: Pipeline, meta: ModelMeta, version: int
) -> TrainedModel:
    """``pipeline`` (version ``version`` of ``spec.into``, described by ``meta``) trained
    further on ``frame``; the returned model is a new version's, ``pipeline`` is changed."""
    name = f"{spec.into}@{version}"
    info = registry.get_algorithm(spec.algorithm)
    if meta.algorithm != info.name:
        raise InvalidSpec(
            f"partial_fit=true continues {name}, a {meta.algorithm} model; this fit is "
            f"{info.name}. Fit into another model name, or continue it with "
            f"`fit {meta.algorithm} ... partial_fit=true`",
            detail={"model": spec.into, "algorithm": meta.algorithm},
        )
    refuse_partial_fit(info.name)
    _same_spec(spec, meta, name, list(frame.columns))
    if meta.task == "forecaster":
        return _continue_forecaster(frame, spec, pipeline, meta)
    target = meta.target
    rows: np.ndarray | None = None
    y: np.ndarray | None = None
    if target is not None:
        present, y = (
            frames.class_labels(frame[target])
            if meta.task == "classifier"
            else frames.regression_target(frame[target], target)
        )
        if not present.any():
            raise DataError(f"target field {target!r} has no values in any row")
        if not present.all():
            rows = np.flatnonzero(present)
        if meta.task == "classifier":
            _known_classes(y, meta, name)
    source = frame if rows is None else frame.iloc[rows]
    X = frames.conform(source, {f: meta.feature_types[f] for f in meta.features})
    seed = meta.params.get("random_state")
    seed = int(seed) if isinstance(seed, int) else 0
    scored = meta.task in SUPERVISED
    labels = y if meta.task == "classifier" else None
    train_rows, holdout_rows = _split(len(X), labels, spec.holdout if scored else 0.0, seed)
    X_train, X_holdout = _hold_out(X, train_rows, holdout_rows, in_place=False)
    y_train = y if holdout_rows is None or y is None else y[train_rows]
    fit_warnings = _partial_fit(pipeline, meta, X_train, y_train)
    sample = None
    if holdout_rows is not None:
        y_holdout = None if y is None else y[holdout_rows]
        metrics = compute_metrics(pipeline, meta.task, X_holdout, y_holdout, seed=seed)
        sample = holdout_sample(pipeline, meta.task, X_holdout, y_holdout, seed=seed)
    elif scored:
        metrics = {}
    else:
        metrics = compute_metrics(pipeline, meta.task, X_train, seed=seed)
    new_meta = replace(
        meta,
        n_train=meta.n_train + len(X_train),
        n_holdout=0 if holdout_rows is None else len(holdout_rows),
        n_dropped=len(frame) - len(X),
        holdout=float(spec.holdout) if holdout_rows is not None else 0.0,
        output_name=spec.output_name or meta.output_name,
    )
    from kepler.ml.explain import explain
    from kepler.ml.monitoring.baseline import try_fit_baseline

    baseline = try_fit_baseline(pipeline, new_meta, X_train, X_holdout, fit_warnings)
    return TrainedModel(
        pipeline, new_meta, metrics, explain(pipeline), fit_warnings, baseline, sample
    )


# A forecaster's options that belong to one fit, not to the model: a partial fit may
# change them (MLTK's partial_fit reads them from its own line).
FORECAST_PER_FIT = (
    *("forecast_k", "holdback", "conf_interval", "update_last"),
    *("output_fit", "output_metadata"),
)


def _continue_forecaster(
    frame: pd.DataFrame, spec: FitSpec, pipeline: Pipeline, meta: ModelMeta
) -> TrainedModel:
    """MLTK's StateSpaceForecast.partial_fit: the new events are the series, fitted from
    the previous parameters; the answer is the new version's forecast, or with
    ``update_last`` the previous version's over the new events, made before the update."""
    from kepler.ml.explain import explain
    from kepler.ml.monitoring.baseline import try_fit_baseline

    estimator = final_estimator(pipeline)
    X = frames.conform(frame, {f: meta.feature_types[f] for f in meta.features})
    given = {k: v for k, v in spec.params.items() if k in FORECAST_PER_FIT}
    update_last = bool(given.pop("update_last", False))
    estimator.set_params(**given)
    before = None
    if update_last:
        before = estimator.forecast_over(
            X, holdback=estimator.holdback, forecast_k=estimator.forecast_k
        )
    with _continuing(meta.algorithm) as fit_warnings:
        estimator.partial_fit(X)
    new_meta = replace(
        meta,
        params={**meta.params, **given},
        n_train=meta.n_train + len(X),
        n_holdout=0,
        n_dropped=0,
        holdout=0.0,
        output_name=spec.output_name or meta.output_name,
    )
    metrics = compute_metrics(pipeline, meta.task, X)
    baseline = try_fit_baseline(pipeline, new_meta, X, X.iloc[:0], fit_warnings)
    rows = before if before is not None else estimator.forecast()
    names = output_fields(pipeline, new_meta)  # MLTK's, or `as <out>`'s
    rows = rows.rename(columns=dict(zip(estimator.output_fields(), names, strict=True)))
    return TrainedModel(
        pipeline,
        new_meta,
        metrics,
        explain(pipeline),
        fit_warnings,
        baseline,
        forecast=rows,
    )


def _same_spec(spec: FitSpec, meta: ModelMeta, name: str, columns: list[str]) -> None:
    given = spec.params
    if meta.task == "forecaster":
        given = {k: v for k, v in given.items() if k not in FORECAST_PER_FIT}
    if given and given != {k: meta.params.get(k) for k in given}:
        raise BadParameter(
            f"partial_fit=true continues {name} with its own parameters "
            f"({_show(meta.params) or 'the defaults'}); drop "
            f"{', '.join(sorted(given))} or fit a new model without partial_fit",
            detail={"parameter": sorted(given)[0]},
        )
    if (spec.target or None) != meta.target:
        raise InvalidSpec(
            f"partial_fit=true continues {name}, fitted with target {meta.target!r}; "
            f"this fit names {spec.target!r}",
            detail={"model": spec.into},
        )
    exclude = (spec.target,) if spec.target else ()
    features = expand_features(spec.features, columns, exclude=exclude)
    if meta.task == "forecaster" and "_time" in columns and "_time" not in features:
        features = ["_time", *features]  # MLTK's forecasters follow _time without being told
    if set(features) != set(meta.features):
        missing = [f for f in meta.features if f not in features]
        extra = [f for f in features if f not in meta.features]
        said = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"new {', '.join(extra)}" if extra else "",
            )
            if part
        )
        raise DataError(
            f"partial_fit=true continues {name}, fitted on {', '.join(meta.features)}; "
            f"this fit's fields differ ({said}). Fit the same fields, or fit a new model "
            "without partial_fit",
            detail={"missing": missing, "extra": extra},
        )


def _known_classes(y: np.ndarray, meta: ModelMeta, name: str) -> None:
    new = sorted({str(v) for v in pd.unique(y)} - set(meta.classes or ()))
    if new:
        raise DataError(
            f"partial_fit=true cannot teach {name} new classes ({', '.join(new[:10])}); it "
            f"knows {', '.join(meta.classes or ())}. Fit a new version without partial_fit "
            "on events of every class",
            detail={"new_classes": new[:10]},
        )


def _partial_fit(
    pipeline: Pipeline, meta: ModelMeta, X: pd.DataFrame, y: np.ndarray | None
) -> list[str]:
    estimator = final_estimator(pipeline)
    with _continuing(meta.algorithm) as messages:
        Xt = pipeline.named_steps["prep"].transform(X)
        if meta.task == "classifier":
            wrapper: Any = pipeline.named_steps["model"]
            codes = pd.Categorical(
                np.asarray(y).astype(str), categories=[str(c) for c in wrapper.classes_]
            ).codes
            estimator.partial_fit(Xt, np.asarray(codes, dtype=np.int64))
        elif y is not None:
            estimator.partial_fit(Xt, y)
        else:
            estimator.partial_fit(Xt)
    return messages


@contextmanager
def _continuing(algorithm: str) -> Iterator[list[str]]:
    """A continuation's estimator call: the list it yields gets the warnings raised
    (at most MAX_WARNINGS, for the user), and a ValueError becomes a DataError."""
    messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield messages
        except ValueError as exc:
            raise DataError(
                f"{algorithm} could not continue on this data: {exc}",
                detail={"algorithm": algorithm},
            ) from exc
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in messages and len(messages) < MAX_WARNINGS:
            messages.append(text)


def _show(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
