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

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from kepler.core.errors import BadParameter, DataError, InvalidSpec
from kepler.core.spec import FitSpec, expand_features
from kepler.ml import frames, registry
from kepler.ml.devices import score_on_cpu
from kepler.ml.explain import explain
from kepler.ml.meta import ModelMeta
from kepler.ml.metrics import compute_metrics, holdout_sample
from kepler.ml.monitoring.baseline import try_fit_baseline
from kepler.ml.outputs import check_probabilities
from kepler.ml.pipeline import build_pipeline

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
    # With train(keep_holdout=True): the holdout's features and truth, so that another
    # version can be scored on the very same rows (a retraining gate). Never stored.
    holdout_rows: tuple[pd.DataFrame, np.ndarray | None] | None = field(default=None, repr=False)


def train(
    frame: pd.DataFrame,
    spec: FitSpec,
    *,
    progress: Progress | None = None,
    consume: bool = False,
    keep_holdout: bool = False,
) -> TrainedModel:
    """Fit ``spec.algorithm`` on ``frame`` as ``spec`` says; see the module docstring.

    ``consume``: the caller gives ``frame`` away (a worker that read it for this fit
    alone), so its columns may be reordered in place to hold rows out without copying
    them; the caller must not read it afterwards.
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
    by = _by_fields(info.name, estimator, spec, features, columns)
    features = [*features, *(b for b in by if b not in features)]

    y: np.ndarray | None = None
    rows: np.ndarray | None = None  # positions kept; None: every row
    n_dropped = 0
    if target is not None:
        report(0.05, f"reading the target {target}")
        present, y = (
            frames.class_labels(frame[target])
            if info.task == "classifier"
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

    pipeline = build_pipeline(estimator, feature_types, info.task)

    seed = params.get("random_state")
    seed = int(seed) if isinstance(seed, int) else 0
    report(0.15, "splitting off the holdout")
    labels = y if info.task == "classifier" else None
    train_rows, holdout_rows = _split(
        len(X), labels, spec.holdout if info.supervised else 0.0, seed
    )
    X_train, X_holdout = _hold_out(X, train_rows, holdout_rows, in_place=consume)
    y_train = y if holdout_rows is None or y is None else y[train_rows]

    report(0.2, f"fitting {info.name} on {len(X_train):,} rows")
    fit_warnings = _fit(pipeline, X_train, y_train, info.name)

    report(0.8, "scoring")
    sample = None
    if holdout_rows is not None:
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
    elif info.supervised:
        metrics = {}  # scoring on the training rows would flatter the model
    else:
        metrics = compute_metrics(pipeline, info.task, X_train, seed=seed)

    report(0.9, "explaining")
    importances = explain(pipeline)
    classes = None
    if info.task == "classifier":
        classes = [str(c) for c in pipeline.named_steps["model"].classes_]
    meta = ModelMeta(
        algorithm=info.name,
        task=info.task,
        target=target,
        features=list(features),
        feature_types=feature_types,
        classes=classes,
        probabilities=bool(spec.probabilities),
        output_name=spec.output_name,
        params=_jsonable(params),
        n_train=len(X_train),
        n_holdout=0 if holdout_rows is None else len(holdout_rows),
        n_dropped=n_dropped,
        holdout=float(spec.holdout) if holdout_rows is not None else 0.0,
        by=by,
    )
    report(0.95, "profiling the data for drift")
    baseline = try_fit_baseline(pipeline, meta, X_train, X_holdout, fit_warnings)
    report(1.0, "done")
    trained = TrainedModel(pipeline, meta, metrics, importances, fit_warnings, baseline, sample)
    if keep_holdout and holdout_rows is not None:
        trained.holdout_rows = (X_holdout, None if y is None else y[holdout_rows])
    return trained


def _silent(fraction: float, message: str) -> None:
    return None


def _by_fields(
    algorithm: str, estimator: Any, spec: FitSpec, features: list[str], columns: list[str]
) -> list[str]:
    """The `by` fields, for the estimators that group by themselves (DensityFunction: one
    value field, grouped by the raw values of the rest)."""
    grouped = getattr(estimator, "kepler_raw_features", False)
    if spec.by and not grouped:
        raise InvalidSpec(
            f"`by` is supported for DensityFunction; {algorithm} fits one model on all rows: "
            "drop the `by` clause"
        )
    if grouped and len(features) != 1:
        raise InvalidSpec(
            f"{algorithm} models one numeric field (got {len(features)}: "
            f"{', '.join(features)}); fit one model per field, and put group fields after `by`"
        )
    return expand_features(spec.by, columns) if spec.by else []


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
