"""Which rows train and which rows score: shuffled or in time order.

A shuffled split is honest when rows are exchangeable. On time-indexed data (sensors,
energy, anything with a trend or autocorrelation) it is not: the holdout's neighbours in
time sit in the training rows, so the model interpolates where it will have to
extrapolate, and its metrics leak the future. In time order the holdout is the latest
rows and every validation fold lies after the rows its model was fitted on, as
scikit-learn's ``TimeSeriesSplit`` does (with its ``gap``: rows left out between the two
sides, so that lagged neighbours of a test row are not in training either).

Row positions only: the callers hold the data. :func:`time_order` turns a time column
into the positions in time order (stable, so ties keep the data's order).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kepler.core.errors import DataError
from kepler.ml import frames

RANDOM = "random"
TIME = "time"
DEFAULT_TIME_FIELD = "_time"


def resolve(split: str | None, time_field: str | None, features: list[str]) -> str:
    """``time`` or ``random``: as given, else time order when a time field is named or
    ``_time`` is among the features (the data is time-indexed), else shuffled."""
    if split in (RANDOM, TIME):
        return split
    if time_field or DEFAULT_TIME_FIELD in features:
        return TIME
    return RANDOM


def time_order(column: pd.Series, name: str) -> np.ndarray:
    """Positions of ``column``'s rows in time order (epoch seconds, datetimes or their text).

    A row without a time cannot be placed: that is a :class:`DataError` naming how many.
    """
    values = frames.numeric_values(column)
    missing = int(np.isnan(values).sum())
    if missing:
        raise DataError(
            f"time field {name!r} has no usable time in {missing:,} of {len(values):,} rows; "
            "a time-ordered split needs a time on every row (epoch seconds or a timestamp): "
            f"fill it, filter those rows out, or fit with split=random",
            detail={"field": name, "missing": missing},
        )
    return np.argsort(values, kind="stable")


def time_holdout(
    order: np.ndarray, fraction: float, gap: int = 0
) -> tuple[np.ndarray, np.ndarray | None]:
    """Training and holdout positions: the latest ``fraction`` of rows (in ``order``) held
    out, ``gap`` rows before them left out of both. Each side in time order."""
    n = len(order)
    if fraction <= 0 or n < 2:
        return np.arange(n), None
    n_holdout = min(max(1, round(n * fraction)), n - 1)
    n_train = n - n_holdout - gap
    if n_train < 1:
        raise DataError(
            f"gap={gap} leaves no training rows before a holdout of {n_holdout:,} of "
            f"{n:,} rows; use a smaller gap or holdout"
        )
    return order[:n_train], order[n - n_holdout :]


def time_folds(n: int, k: int, gap: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` expanding-window folds over ``n`` rows already in time order, as
    ``TimeSeriesSplit(n_splits=k, gap=gap)``: the rows are cut into ``k + 1`` blocks (the
    first takes the remainder), fold ``i`` validates on block ``i + 1`` and trains on every
    row before it but the ``gap`` just before it."""
    test_size = n // (k + 1)
    if k < 2 or test_size < 1 or n - k * test_size - gap < 1:
        raise DataError(
            f"{n:,} rows are too few for {k} time-ordered folds"
            + (f" with gap={gap}" if gap else "")
            + "; each fold validates on n/(k+1) rows after at least one training row: "
            "send more rows or ask for fewer folds"
        )
    out = []
    for start in range(n - k * test_size, n, test_size):
        out.append((np.arange(start - gap), np.arange(start, start + test_size)))
    return out


def shuffled_folds(
    n: int, k: int, labels: np.ndarray | None, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` shuffled folds, stratified by ``labels`` (a classifier's target) where every
    class has at least ``k`` rows; else plain ``KFold``."""
    from sklearn.model_selection import KFold, StratifiedKFold

    if k < 2 or n < k:
        raise DataError(f"{n:,} rows are too few for {k} folds; send more rows or lower kfold_cv")
    if labels is not None and int(pd.Series(labels).value_counts().min()) >= k:
        splitter = StratifiedKFold(k, shuffle=True, random_state=seed)
        return list(splitter.split(np.zeros(n), labels))
    return list(KFold(k, shuffle=True, random_state=seed).split(np.zeros(n)))
