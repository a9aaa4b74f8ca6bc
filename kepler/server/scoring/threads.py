"""Small batches predicted on the calling thread: :func:`single_threaded`.

A forest trained with ``n_jobs=-1`` starts a thread pool on every ``predict``; for a few
rows that costs several times the work (measured on a 100-tree forest, one row, 2 cores:
about 19 ms as trained, 5 ms single-threaded). The online path keeps one copy of the
fitted pipeline per registration with ``n_jobs=1`` wherever scikit-learn reads it at
predict time, sharing the fitted arrays and trees (nothing is copied but the estimator
objects). A copy rather than a flag on the shared model, or joblib's thread-local
``parallel_config(backend="sequential")`` (as fast, measured), so that no per-call
context is needed and the model that large batches use is never touched.
"""

from __future__ import annotations

import copy
from typing import Any


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
    if not changed and threads in (1, None):
        return obj, False
    out = copy.copy(obj)
    for name, value in changed.items():
        setattr(out, name, value)
    if threads not in (1, None):
        out.n_jobs = 1
    return out, True


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
