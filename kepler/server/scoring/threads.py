"""Small batches predicted on the calling thread: :func:`single_threaded`.

A forest trained with ``n_jobs=-1`` starts a thread pool on every ``predict``; for a few
rows that costs several times the work (measured on a 100-tree forest, one row, 2 cores:
about 19 ms as trained, 5 ms single-threaded). The online path keeps one copy of the
fitted pipeline per registration with ``n_jobs=1`` wherever scikit-learn reads it at
predict time, sharing the fitted arrays and trees (nothing is copied but the estimator
objects). A copy rather than a flag on the shared model, or joblib's thread-local
``parallel_config(backend="sequential")`` (as fast, measured), so that no per-call
context is needed and the model that large batches use is never touched.

A forest's copy goes one step further: even on one thread, scikit-learn hands each tree
to joblib's ``Parallel`` as a task of its own, and for one row that bookkeeping is most of
the time (100 trees, one row: 12 ms through ``predict_proba`` with ``n_jobs=1``, 1.1 ms
in a plain loop). Its copy is of a serial subclass (:class:`SerialForestClassifier`,
:class:`SerialForestRegressor`) that validates the rows once, as the forest does (a
frame of the fitted columns with finite numbers is converted at once, as
scikit-learn's checks would), then asks each tree's ``tree_`` in order for what the
tree's own ``predict_proba``/``predict(X, check_input=False)`` would answer (without
its per-call fitted-state and feature-count checks, already made for the forest) and
sums them in scikit-learn's order: the same numbers, bit for bit (tests compare them).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np


def single_threaded(estimator: Any) -> Any:
    """A copy of a fitted scikit-learn estimator (a pipeline, a wrapper) in which every
    step with ``n_jobs`` predicts on the calling thread; fitted arrays and trees are
    shared, not copied. ``estimator`` itself when nothing in it starts threads."""
    one, _ = _one_thread(estimator, 0)
    return one


def _one_thread(obj: Any, depth: int) -> tuple[Any, bool]:
    # Only scikit-learn's and Kepler's own estimators: their n_jobs is read at predict
    # time through joblib. XGBoost or torch keep threads in a shared booster or in the
    # process: changing those on a copy would change them for every request.
    module = type(obj).__module__
    if depth > 8 or not module.startswith(("sklearn.", "kepler.")) or not hasattr(obj, "fit"):
        return obj, False
    changed: dict[str, Any] = {}
    for name, value in vars(obj).items():
        new, moved = _walk(value, depth + 1)
        if moved:
            changed[name] = new
    threads = getattr(obj, "n_jobs", 1)
    serial = _serial_class(type(obj))
    if not changed and threads in (1, None) and serial is None:
        return obj, False
    out = copy.copy(obj)
    for name, value in changed.items():
        setattr(out, name, value)
    if threads not in (1, None):
        out.n_jobs = 1
    if serial is not None and getattr(obj, "n_outputs_", 1) == 1:
        out.__class__ = serial  # same state, a serial predict (SerialForestClassifier)
    return out, True


def _rows(forest: Any, X: Any) -> Any:
    """``X`` as the forest's trees read it: what its ``_validate_X_predict`` answers.

    The common case, a frame of the fitted columns in order (or an array when fitted on
    one) with finite numbers, is converted here at once; scikit-learn's generic checks
    cost more than a one-row predict. Anything else (other columns, missing values,
    text, sparse input) goes through the forest's own validation, with its errors."""
    names = getattr(forest, "feature_names_in_", None)
    columns = getattr(X, "columns", None)
    if names is not None:
        fast = (
            columns is not None
            and len(columns) == len(names)
            and all(a == b for a, b in zip(columns, names, strict=True))
        )
    else:
        fast = columns is None and isinstance(X, np.ndarray)
    if fast:
        try:
            rows = np.ascontiguousarray(X, dtype=np.float32)
        except (TypeError, ValueError):
            rows = None
        if (
            rows is not None
            and rows.ndim == 2
            and rows.shape[1] == forest.n_features_in_
            and np.isfinite(rows).all()
        ):
            return rows
    return forest._validate_X_predict(X)


class SerialForestClassifier:
    """Mixed in before a scikit-learn forest classifier: its trees called in a plain loop
    on the calling thread, in scikit-learn's order and arithmetic (single output)."""

    def predict_proba(self, X: Any) -> Any:
        X = _rows(self, X)
        trees = self.estimators_  # type: ignore[attr-defined]
        classes = int(self.n_classes_)  # type: ignore[attr-defined]
        proba = np.zeros((X.shape[0], classes), dtype=np.float64)
        for tree in trees:  # what each tree's predict_proba(X, check_input=False) answers
            proba += tree.tree_.predict(X)[:, :classes]
        proba /= len(trees)
        return proba


class SerialForestRegressor:
    """Mixed in before a scikit-learn forest regressor: as :class:`SerialForestClassifier`."""

    def predict(self, X: Any) -> Any:
        X = _rows(self, X)
        trees = self.estimators_  # type: ignore[attr-defined]
        out = np.zeros(X.shape[0], dtype=np.float64)
        for tree in trees:  # what each tree's predict(X, check_input=False) answers
            out += tree.tree_.predict(X)[:, 0]
        out /= len(trees)
        return out


_SERIAL: dict[type, type | None] = {}


def _serial_class(cls: type) -> type | None:
    """The serial subclass of a scikit-learn forest class (None for any other class)."""
    if cls not in _SERIAL:
        _SERIAL[cls] = _make_serial(cls)
    return _SERIAL[cls]


def _make_serial(cls: type) -> type | None:
    if not cls.__module__.startswith("sklearn.ensemble"):
        return None
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )

    if issubclass(cls, RandomForestClassifier | ExtraTreesClassifier):
        mixin: type = SerialForestClassifier
    elif issubclass(cls, RandomForestRegressor | ExtraTreesRegressor):
        mixin = SerialForestRegressor
    else:
        return None
    return type(f"Serial{cls.__name__}", (mixin, cls), {"__module__": __name__})


def _walk(value: Any, depth: int) -> tuple[Any, bool]:
    if isinstance(value, list | tuple):
        # Steps and transformers: (name, estimator, ...) tuples; a forest's trees are a
        # list of estimators without n_jobs, walked and left as they are.
        items = [_walk(v, depth) for v in value]
        if not any(moved for _, moved in items):
            return value, False
        rebuilt = [v for v, _ in items]
        return (rebuilt if isinstance(value, list) else tuple(rebuilt)), True
    if hasattr(value, "get_params") and hasattr(value, "fit"):
        return _one_thread(value, depth)
    return value, False
