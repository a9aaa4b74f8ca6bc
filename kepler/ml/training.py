"""Fitting one model from a data frame and a fit spec: checks, split, fit, score, explain.

:func:`train` is what a worker runs for ``fit``. It refuses data it cannot learn from with
a :class:`~kepler.core.errors.DataError` that says what to change, holds out a share of the
rows to score supervised models on (stratified where the classes allow), and returns the
fitted pipeline with a JSON-ready :class:`ModelMeta` that is everything ``apply`` needs
besides the pipeline itself.

Unsupervised models are fitted on all rows: there is no truth to hold out for, and users
expect every event they fit on to get its cluster or outlier flag.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from kepler.core.algorithms import DEFAULT_MAX_GROUPS, SUPERVISED
from kepler.core.errors import BadParameter, DataError, InvalidSpec
from kepler.core.spec import FitSpec, expand_features
from kepler.ml import frames, registry, splits
from kepler.ml.devices import score_on_cpu
from kepler.ml.explain import explain
from kepler.ml.forecast import TIME
from kepler.ml.grouped import NAMED_SKIPS, check_group_count, group_keys, key_part
from kepler.ml.lags import LagFeatures
from kepler.ml.meta import ModelMeta
from kepler.ml.metrics import compute_metrics, holdout_sample
from kepler.ml.monitoring.baseline import try_fit_baseline
from kepler.ml.outputs import check_probabilities, output_fields
from kepler.ml.pipeline import build_pipeline
from kepler.ml.validation import cross_validate, mean_metrics

# Below this many rows a holdout would leave too little to fit or to score.
MIN_ROWS_FOR_HOLDOUT = 10
# Fit-time warnings kept for the user (the rest are logged).
MAX_WARNINGS = 10
# Algorithms whose fit builds a dense rows-by-rows matrix, and how large one may be.
QUADRATIC_MEMORY = frozenset({"SpectralClustering", "KernelPCA", "KernelRidge"})
MAX_QUADRATIC_BYTES = 4 * 2**30

Progress = Callable[[float, str], None]

log = logging.getLogger(__name__)


@dataclass
class TrainedModel:
    pipeline: Pipeline
    meta: ModelMeta
    metrics: dict[str, float]
    importances: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)  # fit-time warnings, for the user
    baseline: dict[str, Any] | None = None  # kepler.ml.monitoring's profile, for drift
    # A bounded sample of holdout truth and predictions, for plots (metrics.holdout_sample).
    holdout: dict[str, Any] | None = None
    # The fit spec as given (features before wildcards expand): what reproducing replays.
    spec: dict[str, Any] | None = None
    # A forecaster's series and its forecast_k rows after it, with MLTK's output fields.
    forecast: pd.DataFrame | None = None
    # `by` models: one row per group (kepler.ml.grouped.score_groups); None otherwise.
    groups: list[dict[str, Any]] | None = None
    # With train(keep_holdout=True): the holdout's features and truth, so that another
    # version can be scored on the very same rows (a retraining gate). Never stored.
    holdout_rows: tuple[pd.DataFrame, np.ndarray | None] | None = field(default=None, repr=False)


def train(
    frame: pd.DataFrame,
    spec: FitSpec,
    *,
    progress: Progress | None = None,
    consume: bool = False,
    max_groups: int = DEFAULT_MAX_GROUPS,
    keep_holdout: bool = False,
) -> TrainedModel:
    """Fit ``spec.algorithm`` on ``frame`` as ``spec`` says; see the module docstring.

    ``consume``: the caller gives ``frame`` away (a worker that read it for this fit
    alone), so its columns may be reordered in place to hold rows out without copying
    them; the caller must not read it afterwards. ``max_groups``: most groups a `by`
    clause may make (the worker's ``KEPLER_MAX_GROUPS``).
    """
    report = progress or _silent
    report(0.0, "checking the fit")
    info = registry.get_algorithm(spec.algorithm)
    params = info.check(spec.params)
    if len(frame) == 0:
        raise DataError("the dataset has no rows; check that the search returns events")
    target = spec.target if info.supervised else None
    if info.supervised:
        _check_target(frame, spec.target, info.name)
    elif spec.target:
        raise InvalidSpec(
            f"{info.name} learns without a target; list only the fields to use, without `from`"
        )
    estimator = registry.make_estimator(info, params)  # a missing library fails early
    check_probabilities(
        info.name,
        info.task,
        estimator,
        spec.probabilities,
        "with these parameters it cannot: fit without probabilities=true, or use a "
        "classifier that does",
    )
    columns = [str(c) for c in frame.columns]
    features = expand_features(spec.features, columns, exclude=(target,) if target else ())
    if info.task == "forecaster" and TIME in columns and TIME not in features:
        features = [TIME, *features]  # MLTK's forecasters follow _time without being told
    if hasattr(estimator, "kepler_inputs"):  # fields a model reads besides those listed
        listed, features = features, estimator.kepler_inputs(features)
        absent = [f for f in features if f not in listed and f not in columns]
        if absent:
            raise DataError(
                f"{info.name} reads {', '.join(map(repr, absent))}, which the data does not "
                "have; check the name, or that the search extracts it",
                detail={"fields": absent},
            )
    by = _by_fields(info.name, estimator, spec, features, columns)
    grouped = bool(by) and not getattr(estimator, "kepler_raw_features", False)
    if grouped:  # a group's model sees its own rows: its `by` values are constant there
        features = _group_features(features, by, target)
    features = [*features, *(b for b in by if b not in features)]

    y: np.ndarray | None = None
    rows: np.ndarray | None = None  # positions kept; None: every row
    n_dropped = 0
    if target is not None:
        report(0.05, f"reading the target {target}")
        labels_wanted = info.task == "classifier" or (
            getattr(estimator, "kepler_target_kind", None) == "labels"  # FieldSelector
        )
        present, y = (
            frames.class_labels(frame[target])
            if labels_wanted
            else frames.regression_target(frame[target], target)
        )
        n_dropped = int(len(present) - present.sum())
        if n_dropped == len(present):
            raise DataError(
                f"target field {target!r} has no values in any row; "
                "check its name and that the search extracts it"
            )
        if n_dropped:
            rows = np.flatnonzero(present)
        if info.task == "classifier":
            _check_classes(y, target)
    _check_size(info.name, len(frame) - n_dropped)

    report(0.1, "reading the features")
    feature_types, X = frames.read_features(frame, features, rows=rows)
    # What apply will be given (the raw fields); with lags= or rolling= the model learns
    # from X with the lagged columns added, and the saved pipeline adds them itself.
    raw_features, raw_types, X_raw = list(features), feature_types, X
    lagger = None
    if spec.lags or spec.rolling:
        lagger, X_raw, raw_features, raw_types = _lag_step(frame, X, feature_types, spec, rows, by)
        if getattr(estimator, "kepler_raw_features", False):
            raise InvalidSpec(f"{info.name} models raw values; fit it without lags= or rolling=")
        report(0.12, "adding lag and rolling-window features")
        X = lagger.fit(X_raw).transform(X_raw)
        feature_types = {c: raw_types.get(c, frames.NUMERIC) for c in X.columns}

    pipeline = build_pipeline(estimator, feature_types, info.task, by=by)
    if grouped:
        pipeline.set_params(model__max_groups=max_groups)

    seed = params.get("random_state")
    seed = int(seed) if isinstance(seed, int) else 0
    report(0.15, "splitting off the holdout")
    labels = y if info.task == "classifier" else None
    if grouped:  # every group gets its share of the holdout
        labels = _group_labels(X, by, labels)
    # Only models that predict are scored on held-out rows; a FieldSelector keeps them all.
    scored = info.task in SUPERVISED
    split = splits.resolve(spec.split, spec.time_field, features)
    time_field = spec.time_field or splits.DEFAULT_TIME_FIELD
    order = _time_order(frame, time_field, rows) if split == splits.TIME else None
    folds: list[dict[str, Any]] = []
    cv_metrics: dict[str, float] = {}
    fold_skips: dict[str, str] = {}
    if spec.kfold_cv:
        if not scored or y is None:
            raise InvalidSpec(
                f"kfold_cv scores classifiers and regressors; {info.name} is "
                f"{_article(info.task)}: drop kfold_cv"
            )
        report(0.15, f"validating on {spec.kfold_cv} {split}-ordered folds")
        if grouped:  # each group's model is validated on folds of its own rows
            folds, cv_metrics, fold_skips = _cross_validate_groups(
                estimator, feature_types, info, X, y, spec, order, seed, by, max_groups
            )
        else:
            folds, cv_metrics = _cross_validate(
                estimator, feature_types, info, X, y, spec, order, seed, report
            )
        train_rows, holdout_rows = np.arange(len(X)), None  # the folds validated it
    elif order is not None and scored:
        train_rows, holdout_rows = splits.time_holdout(order, spec.holdout, spec.gap)
    else:
        train_rows, holdout_rows = _split(len(X), labels, spec.holdout if scored else 0.0, seed)
    # A gap leaves rows on neither side: the in-place shuffle needs every row placed.
    whole = holdout_rows is None or len(train_rows) + len(holdout_rows) == len(X)
    X_train, X_holdout = _hold_out(X, train_rows, holdout_rows, in_place=consume and whole)
    y_train = y if holdout_rows is None or y is None else y[train_rows]

    report(0.2, f"fitting {info.name} on {len(X_train):,} rows")
    fit_warnings = _fit(pipeline, X_train, y_train, info.name)
    if fold_skips:
        named = "; ".join(f"{k}: {why}" for k, why in list(fold_skips.items())[:NAMED_SKIPS])
        more = len(fold_skips) - NAMED_SKIPS
        fit_warnings.append(
            f"kfold_cv: {len(fold_skips)} groups could not be folded and have no fold scores "
            f"(each still gets its model where its rows allow): {named}"
            + (f"; and {more} more" if more > 0 else "")
        )

    report(0.8, "scoring")
    sample = None
    groups = None
    if folds:
        metrics = cv_metrics
        if grouped:  # each group's rows, and its folds' mean scores
            groups = _fold_groups(pipeline, info.task, X_train, folds, by)
    elif grouped:
        metrics, groups, sample = _score_grouped(
            pipeline, info.task, X_train, X_holdout, y, holdout_rows, seed
        )
    elif holdout_rows is not None:
        metrics = compute_metrics(
            pipeline,
            info.task,
            X_holdout,
            None if y is None else y[holdout_rows],
            seed=seed,
        )
        sample = holdout_sample(
            pipeline, info.task, X_holdout, None if y is None else y[holdout_rows], seed=seed
        )
    elif scored:
        metrics = {}  # scoring on the training rows would flatter the model
    else:
        metrics = compute_metrics(pipeline, info.task, X_train, seed=seed)

    report(0.9, "explaining")
    importances = explain(pipeline)
    classes = None
    if info.task == "classifier":
        classes = [str(c) for c in pipeline.named_steps["model"].classes_]
    if lagger is not None:
        pipeline = Pipeline([("lags", lagger), *pipeline.steps])
        X_train = X_raw.iloc[train_rows]
        X_holdout = X_raw.iloc[[] if holdout_rows is None else holdout_rows]
    meta = ModelMeta(
        algorithm=info.name,
        task=info.task,
        target=target,
        features=raw_features,
        feature_types=raw_types,
        classes=classes,
        probabilities=bool(spec.probabilities),
        output_name=spec.output_name,
        params=_jsonable(params),
        n_train=len(X_train),
        n_holdout=0 if holdout_rows is None else len(holdout_rows),
        n_dropped=n_dropped,
        holdout=float(spec.holdout) if holdout_rows is not None else 0.0,
        by=by,
        seed=seed,
        split_digest=split_digest(holdout_rows),
        split=split,
        time_field=time_field if split == splits.TIME else None,
        kfold_cv=int(spec.kfold_cv),
        gap=int(spec.gap),
        folds=folds,
        lags=list(spec.lags),
        rolling=list(spec.rolling),
    )
    report(0.95, "profiling the data for drift")
    baseline = try_fit_baseline(pipeline, meta, X_train, X_holdout, fit_warnings)
    forecast = None
    if info.task == "forecaster":
        report(0.97, "forecasting")
        model = pipeline.named_steps["model"]
        forecast = model.forecast()
        names = output_fields(pipeline, meta)  # MLTK's, or `as <out>`'s
        forecast = forecast.rename(columns=dict(zip(model.output_fields(), names, strict=True)))
    report(1.0, "done")
    trained = TrainedModel(
        pipeline,
        meta,
        metrics,
        importances,
        fit_warnings,
        baseline,
        sample,
        spec.to_dict(),
        forecast,
        groups,
    )
    if keep_holdout and holdout_rows is not None:
        trained.holdout_rows = (X_holdout, None if y is None else y[holdout_rows])
    return trained


def _silent(fraction: float, message: str) -> None:
    return None


def split_digest(holdout_rows: np.ndarray | None) -> str | None:
    """A short digest of which rows were held out (None: no holdout), so two fits can be
    shown to have scored on the same rows without storing the rows."""
    if holdout_rows is None:
        return None
    positions = np.ascontiguousarray(np.sort(holdout_rows), dtype="<i8")
    return hashlib.sha256(positions.tobytes()).hexdigest()[:16]


def _time_order(frame: pd.DataFrame, field: str, rows: np.ndarray | None) -> np.ndarray:
    """Positions of the kept rows (``rows``; None: all) in the order of ``field``."""
    if field not in frame.columns:
        raise DataError(
            f"time field {field!r} is not in the data; a time-ordered split needs it "
            "(name another with time_field=<field>, or fit with split=random)",
            detail={"field": field},
        )
    column = frame[field] if rows is None else frame[field].iloc[rows]
    return splits.time_order(column, field)


def _lag_step(
    frame: pd.DataFrame,
    X: pd.DataFrame,
    types: dict[str, str],
    spec: FitSpec,
    rows: np.ndarray | None,
    by: list[str],
) -> tuple[LagFeatures, pd.DataFrame, list[str], dict[str, str]]:
    """The lag step for ``spec``, the raw features it reads (the time field added when it
    is not one of them) and their types. With `by`, each group's lags come from its own
    rows, in time order (a `by` field itself is not lagged)."""
    time_field = spec.time_field or splits.DEFAULT_TIME_FIELD
    fields = [
        f for f, t in types.items() if t == frames.NUMERIC and f != time_field and f not in by
    ]
    if not fields:
        raise DataError("lags= and rolling= copy numeric fields; name at least one after `from`")
    raw_features, raw_types, X_raw = list(X.columns), dict(types), X
    if time_field not in X.columns:
        _time_order(frame, time_field, rows)  # a missing or empty time field says so here
        column = frame[time_field] if rows is None else frame[time_field].iloc[rows]
        X_raw = X.assign(**{time_field: frames.numeric_values(column)})
        raw_features.append(time_field)
        raw_types[time_field] = frames.NUMERIC
    lagger = LagFeatures(
        fields=tuple(fields),
        lags=spec.lags,
        rolling=spec.rolling,
        time_field=time_field,
        by=tuple(by),
        keep_time=time_field in X.columns,
    )
    return lagger, X_raw, raw_features, raw_types


def _cross_validate(
    estimator: Any,
    feature_types: dict[str, str],
    info: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    spec: FitSpec,
    order: np.ndarray | None,
    seed: int,
    report: Progress,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Per-fold rows and mean metrics over ``spec.kfold_cv`` folds: time-ordered when
    ``order`` is given, else shuffled (stratified for classifiers)."""
    from sklearn.base import clone

    k = spec.kfold_cv
    if order is not None:
        folds = [(order[a], order[b]) for a, b in splits.time_folds(len(order), k, spec.gap)]
    else:
        labels = y if info.task == "classifier" else None
        folds = splits.shuffled_folds(len(X), k, labels, seed)

    def fit(pipeline: Pipeline, X_fold: pd.DataFrame, y_fold: np.ndarray) -> None:
        _fit(pipeline, X_fold, y_fold, info.name)

    return cross_validate(
        lambda: build_pipeline(clone(estimator), feature_types, info.task),
        fit,
        info.task,
        X,
        y,
        folds,
        seed=seed,
        progress=lambda i: report(0.15 + 0.05 * i / k, f"fold {i} of {k}"),
    )


def _cross_validate_groups(
    estimator: Any,
    feature_types: dict[str, str],
    info: Any,
    X: pd.DataFrame,
    y: np.ndarray,
    spec: FitSpec,
    order: np.ndarray | None,
    seed: int,
    by: list[str],
    max_groups: int,
) -> tuple[list[dict[str, Any]], dict[str, float], dict[str, str]]:
    """``kfold_cv`` with `by`: each group's rows folded on their own (in time order when
    ``order`` is given), a fresh model per fold as the group's own model is fitted. The
    rows name the group's `by` values before the fold's; the means are over every fold
    of every group. Groups too small or too uniform to fold are left out, by key, with
    why (the third value); when none can be folded the fit fails."""
    keys = group_keys(X, by)
    groups = sorted({k for k in keys if k is not None})
    check_group_count(len(groups), by, max_groups)
    inner = [c for c in X.columns if c not in by]
    inner_types = {c: feature_types[c] for c in inner}
    rows: list[dict[str, Any]] = []
    means: list[dict[str, float]] = []
    skipped: dict[str, str] = {}
    for key in groups:
        members = np.flatnonzero(keys == key)
        group_order = None
        if order is not None:  # the group's rows, in time order, as positions among them
            position = np.full(len(X), -1, dtype=np.int64)
            position[members] = np.arange(len(members))
            group_order = position[order][position[order] >= 0]
        try:
            group_rows, group_means = _cross_validate(
                estimator,
                inner_types,
                info,
                X.iloc[members][inner],
                y[members],
                spec,
                group_order,
                seed,
                _silent,
            )
        except (DataError, BadParameter) as exc:
            skipped[key] = exc.message
            continue
        values = {b: key_part(X[b].iloc[members[0]]) for b in by}
        rows += [{**values, **row} for row in group_rows]
        means.append(group_means)
    if not rows:
        first = next(iter(skipped.items()), ("", "no rows"))
        raise DataError(
            f"kfold_cv={spec.kfold_cv} with `by {','.join(by)}`: no group can be folded (group "
            f"{first[0]}: {first[1]}); send more rows per group or ask for fewer folds",
            detail={"groups": len(groups)},
        )
    return rows, mean_metrics(means), skipped


def _fold_groups(
    pipeline: Pipeline,
    task: str,
    X: pd.DataFrame,
    folds: list[dict[str, Any]],
    by: list[str],
) -> list[dict[str, Any]]:
    """A `by` model's group rows (kepler.ml.grouped.score_groups) with each group's mean
    fold scores as its ``metric.<name>``."""
    from kepler.ml.grouped import score_groups

    _, groups = score_groups(pipeline, task, X.iloc[:0], None, holdout=False)
    scores: dict[str, list[dict[str, float]]] = {}
    skip = {"fold_number", "n_train", "n_test", *by}
    for fold in folds:
        key = ",".join(str(fold[b]) for b in by)
        scores.setdefault(key, []).append({k: v for k, v in fold.items() if k not in skip})
    for group in groups:
        means = mean_metrics(scores.get(str(group.get("group")), []))
        group.update({f"metric.{k}": v for k, v in sorted(means.items())})
    return groups


def _article(task: str) -> str:
    return {"clusterer": "a clusterer", "outlier": "an anomaly detector"}.get(task, f"a {task}")


def _by_fields(
    algorithm: str, estimator: Any, spec: FitSpec, features: list[str], columns: list[str]
) -> list[str]:
    """The `by` fields: one model per group of their values (kepler.ml.grouped), or for
    the estimators that group by themselves (DensityFunction: one value field, grouped by
    the raw values of the rest) their group fields. A forecaster follows one series."""
    forecaster = getattr(estimator, "kepler_forecaster", False)
    if spec.by and forecaster:
        raise InvalidSpec(
            f"`by` is not supported for {algorithm}: a forecaster follows one series; fit "
            "one model per series (one search per value of the field)"
        )
    grouped = getattr(estimator, "kepler_raw_features", False) and not forecaster
    if spec.target and spec.target in spec.by:
        raise InvalidSpec(f"{spec.target!r} is the target and a `by` field; group by other fields")
    if grouped and len(features) != 1:
        raise InvalidSpec(
            f"{algorithm} models one numeric field (got {len(features)}: "
            f"{', '.join(features)}); fit one model per field, and put group fields after `by`"
        )
    return expand_features(spec.by, columns) if spec.by else []


def _group_features(features: list[str], by: list[str], target: str | None) -> list[str]:
    inner = [f for f in features if f not in by]
    if not inner:
        raise InvalidSpec(
            f"every feature is a `by` field ({', '.join(by)}); name the fields each group's "
            "model learns from, as in `fit ... from temp vibration by site`"
        )
    return inner


def _group_labels(X: pd.DataFrame, by: list[str], labels: np.ndarray | None) -> np.ndarray:
    """What the holdout is stratified on for a `by` model: the group, and the class."""
    from kepler.ml.grouped import group_keys

    keys = pd.Series(group_keys(X, by), dtype=object).fillna("").astype(str)
    if labels is not None:
        keys = keys + "|" + pd.Series(labels, dtype=object).astype(str).to_numpy()
    return keys.to_numpy()


def _score_grouped(
    pipeline: Pipeline,
    task: str,
    X_train: pd.DataFrame,
    X_holdout: pd.DataFrame,
    y: np.ndarray | None,
    holdout_rows: np.ndarray | None,
    seed: int,
) -> tuple[dict[str, float], list[dict[str, Any]], dict[str, Any] | None]:
    """A `by` model's metrics overall and per group (on the holdout, or for unsupervised
    models the training rows), and the holdout sample for plots."""
    from kepler.ml.grouped import score_groups

    if holdout_rows is None:
        if y is not None:  # supervised without a holdout: no honest metrics
            _, groups = score_groups(pipeline, task, X_train.iloc[:0], None, holdout=False)
            return {}, groups, None
        metrics, groups = score_groups(pipeline, task, X_train, None, seed=seed, holdout=False)
        return metrics, groups, None
    y_holdout = None if y is None else y[holdout_rows]
    metrics, groups = score_groups(pipeline, task, X_holdout, y_holdout, seed=seed, holdout=True)
    has_model = pipeline.named_steps["model"].status(X_holdout) == "ok"
    sample = holdout_sample(
        pipeline,
        task,
        X_holdout[has_model],
        None if y_holdout is None else y_holdout[has_model],
        seed=seed,
    )
    return metrics, groups, sample


def _check_target(frame: pd.DataFrame, target: str | None, algorithm: str) -> None:
    if not target:
        raise DataError(
            f"{algorithm} predicts a field: name it before `from`, as in "
            f"`fit {algorithm} <target> from <fields>`"
        )
    if target not in frame.columns:
        shown = ", ".join(str(c) for c in list(frame.columns)[:12])
        more = f" and {len(frame.columns) - 12} more" if len(frame.columns) > 12 else ""
        raise DataError(
            f"target field {target!r} is not in the data; the data has: {shown}{more}",
            detail={"field": target},
        )


def _check_size(algorithm: str, n_rows: int) -> None:
    """Refuse, with the arithmetic, a fit that would hold an n-by-n matrix too big for
    memory: a clear error beats a worker killed by the kernel."""
    if algorithm not in QUADRATIC_MEMORY:
        return
    needed = n_rows * n_rows * 8
    if needed > MAX_QUADRATIC_BYTES:
        cap = int((MAX_QUADRATIC_BYTES / 8) ** 0.5)
        raise DataError(
            f"{algorithm} holds a rows-by-rows matrix: {n_rows:,} rows would need about "
            f"{needed / 2**30:,.0f} GiB of memory; fit it on at most {cap:,} rows "
            f"(in SPL, e.g. `| sample {cap}` before fit)",
            detail={"algorithm": algorithm, "rows": n_rows, "max_rows": cap},
        )


def _check_classes(y: np.ndarray, target: str) -> None:
    classes = pd.unique(y)
    if len(classes) < 2:
        raise DataError(
            f"target field {target!r} has only one class ({classes[0]!r}); a classifier needs "
            "rows of at least two classes",
            detail={"field": target},
        )


def _split(
    n: int, labels: np.ndarray | None, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """Row positions for training and holdout (``None``: no holdout), stratified by
    ``labels`` where every class has two rows and fits on both sides.

    One random permutation, grouped by class with a stable sort, each class giving its
    share (largest remainders settle the rounding): what scikit-learn's stratified split
    does, in a few vectorised passes over millions of rows.
    """
    rows = np.arange(n)
    if fraction <= 0 or n < MIN_ROWS_FOR_HOLDOUT:
        return rows, None
    n_holdout = min(max(1, round(n * fraction)), n - 1)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    codes: np.ndarray | None = None
    if labels is not None:
        codes, _ = pd.factorize(labels)  # hashing, not sorting: fast on text labels
        counts = np.bincount(codes)
        if counts.min() < 2 or len(counts) > min(n_holdout, n - n_holdout):
            codes = None
    if codes is None:
        holdout = order[:n_holdout]
    else:
        # Codes of 16 bits or fewer sort by radix, several times faster than int64's
        # merge sort; both sorts are stable, so the rows held out are the same.
        if len(counts) <= np.iinfo(np.int16).max:
            codes = codes.astype(np.int16)
        grouped = order[np.argsort(codes[order], kind="stable")]
        exact = counts * (n_holdout / n)
        take = np.floor(exact).astype(np.int64)
        short = n_holdout - int(take.sum())
        if short > 0:
            take[np.argsort(-(exact - take), kind="stable")[:short]] += 1
        take = np.minimum(np.maximum(take, 1), counts - 1)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        holdout = np.concatenate([grouped[a : a + t] for a, t in zip(starts, take, strict=True)])
    mask = np.zeros(n, dtype=bool)
    mask[holdout] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def _hold_out(
    X: pd.DataFrame, train_rows: np.ndarray, holdout_rows: np.ndarray | None, *, in_place: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``X``'s training rows and its holdout rows (``X`` and an empty frame without a
    holdout), each in ``X``'s order.

    ``in_place`` (``X``'s columns are the caller's to overwrite): each column is permuted
    through one scratch buffer, training rows first, and both frames are views of it.
    ``iloc`` would fill as much new memory again, and on a worker's first large job new
    memory is paid for page by page (a third of a second for 1M rows by 20 on a small VM).
    """
    if holdout_rows is None:
        return X, X.iloc[:0]
    if not in_place:
        return X.iloc[train_rows], X.iloc[holdout_rows]
    order = np.concatenate([train_rows, holdout_rows])
    cut = len(train_rows)
    scratch: dict[np.dtype[Any], np.ndarray] = {}
    train_cols: dict[Any, pd.Series] = {}
    holdout_cols: dict[Any, pd.Series] = {}
    index_train, index_holdout = X.index[train_rows], X.index[holdout_rows]
    for name in X.columns:
        column = X[name]
        values = _writable(column.to_numpy()) if isinstance(column.dtype, np.dtype) else None
        if values is None:  # an extension type, or memory we may not write: copy it
            train_cols[name] = column.iloc[train_rows]
            holdout_cols[name] = column.iloc[holdout_rows]
            continue
        buffer = scratch.setdefault(values.dtype, np.empty(len(values), values.dtype))
        np.take(values, order, out=buffer)
        values[:] = buffer
        train_cols[name] = pd.Series(
            values[:cut], index=index_train, dtype=values.dtype, copy=False
        )
        holdout_cols[name] = pd.Series(
            values[cut:], index=index_holdout, dtype=values.dtype, copy=False
        )
    return (
        pd.DataFrame(train_cols, index=index_train, columns=X.columns, copy=False),
        pd.DataFrame(holdout_cols, index=index_holdout, columns=X.columns, copy=False),
    )


def _writable(values: np.ndarray) -> np.ndarray | None:
    """``values`` made writable (pandas hands out read-only views of its blocks), or None
    where the memory beneath is read-only."""
    if values.flags.writeable:
        return values
    try:
        values.flags.writeable = True
    except ValueError:
        return None
    return values


def _fit(pipeline: Pipeline, X: pd.DataFrame, y: np.ndarray | None, algorithm: str) -> list[str]:
    from sklearn.utils._param_validation import InvalidParameterError

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if y is None:
                pipeline.fit(X)
            else:
                pipeline.fit(X, y)
        except InvalidParameterError as exc:
            raise BadParameter(f"{algorithm}: {exc}", detail={"algorithm": algorithm}) from exc
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise DataError(
                f"{algorithm} could not be fitted on this data: {exc}",
                detail={"algorithm": algorithm},
            ) from exc
        score_on_cpu(pipeline)  # before the holdout metrics: they predict on host data
    messages: list[str] = []
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        log.info("while fitting %s: %s", algorithm, text)
        if text not in messages and len(messages) < MAX_WARNINGS:
            messages.append(text)
    return messages


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, np.generic):
            v = v.item()
        out[k] = v
    return out
