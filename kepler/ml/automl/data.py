"""AutoML's view of a dataset: checked target, typed features, the split every trial shares.

:func:`check` runs on the bridge before any worker starts (from the dataset's target column
and manifest alone); :func:`prepare` runs in each worker and gives every trial the same
training rows and the same held-out rows, from the seed alone, so trials in different
processes compare on equal terms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kepler.core.automl import MIN_BUDGET_S, AutoMLSpec, check_metric
from kepler.core.errors import BadParameter, DataError
from kepler.core.spec import expand_features
from kepler.ml import frames, splits
from kepler.ml.training import _split

# Each validation fold needs this many rows (and each class at least one per fold).
MIN_ROWS_PER_FOLD = 5
# Without cv=, small data gets 5 folds (a steadier estimate to choose the winner by, and
# cheap there), larger data 3.
AUTO_CV_ROWS = 5000
# A rough floor on one trial's cost: cells (rows x fields x folds) a quick model fits per s.
CELLS_PER_SECOND = 2_000_000
TIME_NAMES = ("_time", "time", "timestamp")


@dataclass
class Prepared:
    task: str  # classification | regression | anomaly
    engine_task: str  # classifier | regressor | outlier
    metric: str
    features: list[str]
    feature_types: dict[str, str]
    time_features: list[str]
    X_train: pd.DataFrame
    y_train: np.ndarray | None
    X_holdout: pd.DataFrame
    y_holdout: np.ndarray | None
    positive: Any = None  # anomaly: the label value of anomalies
    n_dropped: int = 0
    cv: int = 3  # validation folds every trial uses
    split: str = "random"  # time: X_train is in time order, the folds follow it


def infer_task(target: pd.Series) -> str:
    """Regression for a numeric target with many distinct values, else classification."""
    kind = frames._kind(target)
    values = target.dropna()
    if kind == "text":
        parsed = frames._parse(frames._text(values))
        if np.isnan(parsed).any():
            return "classification"
        values = pd.Series(parsed)
    elif kind == "bool":
        return "classification"
    distinct = values.nunique()
    integral = bool(np.all(np.mod(values.to_numpy(dtype="float64"), 1) == 0))
    return "classification" if distinct <= 20 and (integral or distinct <= 2) else "regression"


def check(
    spec: AutoMLSpec, target: pd.Series, columns: list[str], n_rows: int
) -> tuple[str, str, list[str]]:
    """Refuse, before any worker starts, what no trial could succeed on.

    Returns ``(task, metric, features)``. Raises :class:`DataError` for a target absent
    or constant and too few rows for the validation, :class:`BadParameter` for a metric
    that does not fit the task and a budget too short for one trial.
    """
    if spec.target not in columns:
        shown = ", ".join(columns[:20])
        raise DataError(
            f"target field {spec.target!r} is not in the data; the data has: {shown}",
            detail={"field": spec.target},
        )
    features = expand_features(spec.features, columns, exclude=(spec.target,))
    present = target[~_blank(target)]
    if present.empty:
        raise DataError(f"target field {spec.target!r} has no values in any row")
    distinct = present.astype(str).nunique()
    if distinct < 2:
        raise DataError(
            f"target field {spec.target!r} is constant ({present.iloc[0]!r} in every row): "
            "there is nothing to learn; check the search or pick another field",
            detail={"field": spec.target},
        )
    task = spec.task or infer_task(present)
    metric = spec.resolved_metric(task)
    check_metric(metric, task)
    n = len(present)
    n_train = n - round(n * spec.holdout)
    rarest: str | None = None
    count: int | None = None
    if task in ("classification", "anomaly"):
        counts = present.astype(str).value_counts()
        rarest, count = str(counts.index[-1]), int(counts.iloc[-1])
    cv = folds_for(spec, n_train, count)
    need = cv * MIN_ROWS_PER_FOLD
    if n_train < need:
        raise DataError(
            f"{n} rows with a value of {spec.target!r} are too few for a {spec.holdout:g} "
            f"holdout and {cv}-fold validation (each fold needs {MIN_ROWS_PER_FOLD} rows, "
            f"so at least {int(np.ceil(need / (1 - spec.holdout)))} rows); send more rows "
            "or lower cv=",
            detail={"rows": n, "cv": cv},
        )
    if count is not None and count < cv + 1:
        raise DataError(
            f"class {rarest!r} of {spec.target!r} has {count} row(s): {cv}-fold "
            f"validation with a holdout needs at least {cv + 1} per class; send more "
            "rows of it, lower cv=, or drop those rows",
            detail={"field": spec.target, "class": rarest, "rows": count},
        )
    cells = max(n_rows, n) * (1 - spec.holdout) * max(len(features), 1) * cv
    floor = max(MIN_BUDGET_S, cells / CELLS_PER_SECOND)
    if spec.time_budget < floor:
        raise BadParameter(
            f"time_budget={spec.time_budget:g}s is too short for one trial on {n_rows:,} rows "
            f"and {len(features)} fields ({cv}-fold validation): give at least "
            f"{int(np.ceil(floor))}s",
            detail={"parameter": "time_budget", "minimum_s": float(np.ceil(floor))},
        )
    return task, metric, features


def folds_for(spec: AutoMLSpec, n_train: int, rarest_count: int | None = None) -> int:
    """Validation folds: ``cv=`` when given, else 5 for small data that allows it, else 3."""
    if spec.cv:
        return int(spec.cv)
    small = 5 * MIN_ROWS_PER_FOLD <= n_train < AUTO_CV_ROWS
    if small and (rarest_count is None or rarest_count >= 6):
        return 5
    return 3


def _blank(col: pd.Series) -> np.ndarray:
    if frames._kind(col) == "text":
        return frames._blank(frames._text(col))
    return col.isna().to_numpy(dtype=bool)


def time_features(frame: pd.DataFrame, features: list[str]) -> list[str]:
    """Fields to expand into hour/weekday/month: datetime columns, and Splunk's ``_time``
    (epoch seconds as text) or a field named ``time``/``timestamp`` holding epoch numbers."""
    out = []
    for name in features:
        col = frame[name]
        kind = frames._kind(col)
        if kind == "time" or (name.lower() in TIME_NAMES and kind in ("number", "text")):
            out.append(name)
    return out


def prepare(frame: pd.DataFrame, spec: AutoMLSpec, task: str, metric: str) -> Prepared:
    """Target, features and the seeded holdout split, as every trial sees them."""
    engine_task = {"classification": "classifier", "regression": "regressor"}.get(task, "outlier")
    features = expand_features(
        spec.features, [str(c) for c in frame.columns], exclude=(spec.target,)
    )
    if task == "regression":
        present, y = frames.regression_target(frame[spec.target], spec.target)
    else:
        present, y = frames.class_labels(frame[spec.target])
    rows = None if present.all() else np.flatnonzero(present)
    types, X = frames.read_features(frame, features, rows=rows)
    times = time_features(frame, features)
    seed = spec.seed or 0
    labels = y if task != "regression" else None
    split = splits.resolve(spec.split, spec.time_field, features)
    if split == splits.TIME:
        # The latest rows are the holdout; the training rows stay in time order, so
        # every trial's folds are time-ordered too (trial.folds).
        order = _time_order(frame, spec.time_field or splits.DEFAULT_TIME_FIELD, rows)
        train_rows, holdout_rows = splits.time_holdout(order, spec.holdout)
    else:
        train_rows, holdout_rows = _split(len(X), labels, spec.holdout, seed)
    if holdout_rows is None:  # check() refuses this; keep the types honest
        raise DataError("too few rows for a holdout")
    positive = None
    if task == "anomaly":
        classes = np.sort(pd.unique(y))
        if len(classes) != 2:
            raise BadParameter(
                f"task=anomaly scores detectors against a two-valued label; {spec.target!r} "
                f"has {len(classes)} values"
            )
        positive = classes[1]
    rarest = None
    if task != "regression":
        rarest = int(pd.Series(y).value_counts().min())
    cv = folds_for(spec, len(train_rows), rarest)
    return Prepared(
        cv=cv,
        task=task,
        engine_task=engine_task,
        metric=metric,
        features=features,
        feature_types=types,
        time_features=times,
        X_train=X.iloc[train_rows].reset_index(drop=True),
        y_train=y[train_rows],
        X_holdout=X.iloc[holdout_rows].reset_index(drop=True),
        y_holdout=y[holdout_rows],
        positive=positive,
        n_dropped=int(len(present) - present.sum()),
        split=split,
    )


def _time_order(frame: pd.DataFrame, field: str, rows: np.ndarray | None) -> np.ndarray:
    """Positions of the kept rows (``rows``; None: all) in the order of ``field``."""
    if field not in frame.columns:
        raise DataError(
            f"time field {field!r} is not in the data; time-ordered validation needs it "
            "(name another with time_field=<field>, or use split=random)",
            detail={"field": field},
        )
    column = frame[field] if rows is None else frame[field].iloc[rows]
    return splits.time_order(column, field)
