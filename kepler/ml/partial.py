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
"""

from __future__ import annotations

import warnings
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


def _same_spec(spec: FitSpec, meta: ModelMeta, name: str, columns: list[str]) -> None:
    if spec.params and spec.params != {k: meta.params.get(k) for k in spec.params}:
        raise BadParameter(
            f"partial_fit=true continues {name} with its own parameters "
            f"({_show(meta.params) or 'the defaults'}); drop "
            f"{', '.join(sorted(spec.params))} or fit a new model without partial_fit",
            detail={"parameter": sorted(spec.params)[0]},
        )
    if (spec.target or None) != meta.target:
        raise InvalidSpec(
            f"partial_fit=true continues {name}, fitted with target {meta.target!r}; "
            f"this fit names {spec.target!r}",
            detail={"model": spec.into},
        )
    exclude = (spec.target,) if spec.target else ()
    features = expand_features(spec.features, columns, exclude=exclude)
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
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
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
        except ValueError as exc:
            raise DataError(
                f"{meta.algorithm} could not continue on this data: {exc}",
                detail={"algorithm": meta.algorithm},
            ) from exc
    messages: list[str] = []
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in messages and len(messages) < MAX_WARNINGS:
            messages.append(text)
    return messages


def _show(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
