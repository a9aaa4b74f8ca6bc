"""Module-level functions over one default client: ``kp.fit(...)``, ``kp.apply(...)``."""

from __future__ import annotations

import threading
from typing import Any

from kepler._client import AutoMLResult, Client, FitResult

_default: Client | None = None
_lock = threading.Lock()


def connect(url: str | None = None, token: str | None = None, **kw: Any) -> Client:
    """Point the module-level functions at a bridge (default: KEPLER_URL / KEPLER_TOKEN,
    then the local embedded stack)."""
    global _default
    with _lock:
        if _default is not None:
            _default.close()
        _default = Client(url, token, **kw)
        return _default


def client() -> Client:
    global _default
    with _lock:
        if _default is None:
            _default = Client()
        return _default


def fit(
    df: Any,
    algorithm: str,
    *,
    target: str | None = None,
    features: list[str] | None = None,
    into: str | None = None,
    **kw: Any,
) -> FitResult:
    """Train ``algorithm`` on ``df`` in a worker; ``into`` registers a new model version."""
    return client().fit(df, algorithm, target=target, features=features, into=into, **kw)


def automl(
    df: Any,
    *,
    target: str,
    into: str,
    time_budget: str | float = "10m",
    metric: str | None = None,
    seed: int | None = None,
    **kw: Any,
) -> AutoMLResult:
    """Search for the best model of ``target`` within ``time_budget`` (seconds or "10m")
    over every worker; register it as a new version of ``into``. The result carries
    ``.leaderboard`` (a DataFrame) and the registered ``.version``."""
    return client().automl(
        df, target=target, into=into, time_budget=time_budget, metric=metric, seed=seed, **kw
    )


def apply(df: Any, model: str, **kw: Any) -> Any:
    """``df`` with the output fields of ``model`` (``pump``, ``pump@3``, ``pump:prod``)."""
    return client().apply(df, model, **kw)


def score(
    df: Any,
    metric: str,
    fields: str | list[str],
    against: str | list[str] | None = None,
    **options: Any,
) -> Any:
    """MLTK's ``score``: ``kp.score(df, "accuracy_score", "failure", "predicted(failure)")``
    returns the table ``| kepler score accuracy_score failure against predicted(failure)``
    shows (options as keywords: ``average="macro"``, ``pos_label="yes"``, ``popmean=3``)."""
    from kepler._score import score as _score

    return _score(client(), df, metric, fields, against, **options)


def predict(data: Any, model: str, **kw: Any) -> Any:
    """Score a few rows with ``model`` from the bridge's memory (the online path): a list
    of records gives a list of dicts of output fields, a DataFrame a DataFrame of them."""
    return client().predict(data, model, **kw)


def drift(df: Any, model: str, *, method: str = "auto", threshold: float | None = None) -> Any:
    """Drift of ``df`` (a window of events) against ``model``'s baseline, one row per field:
    field, method, statistic, threshold, drifted, missing then and now."""
    return client().drift(df, model, method=method, threshold=threshold)


def baseline(model: str, df: Any, *, replace: bool = False) -> dict[str, Any]:
    """Make the drift baseline of ``model`` (``"pump@3"``) from ``df``: for a version fitted
    before Kepler kept one."""
    return client().baseline(model, df, replace=replace)


def models() -> Any:
    return client().models()


def summary(model: str) -> dict[str, Any]:
    return client().summary(model)


def delete_model(model: str) -> None:
    client().delete_model(model)


def datasets() -> Any:
    """Every dataset, newest first: id, name, rows, bytes, schema hash, created, source
    search, complete or not, and the model versions trained on it."""
    return client().datasets()


def dataset(dataset: str) -> Any:
    """A dataset (its id, or the name given with ``kp.fit(..., dataset_name=...)``) read
    back as a DataFrame, in the types it was uploaded with."""
    return client().dataset(dataset)


def deletions(limit: int = 100, name: str | None = None) -> Any:
    """Who deleted which model or schedule, and when (the bridge's audit log)."""
    return client().deletions(limit, name)


def jobs(limit: int = 100) -> Any:
    return client().jobs(limit)


def cancel(job_id: str) -> dict[str, Any]:
    """Cancel a queued or running job; returns it, now ``cancelled``."""
    return client().cancel(job_id)


def algorithms() -> list[dict[str, Any]]:
    """Every algorithm the bridge can train: its task, parameters and ``devices``, where the
    workers can run it (``["cpu"]``, or ``["cpu", "cuda:0 <GPU name>"]`` for an algorithm
    with a ``device`` parameter once a worker with a GPU has started)."""
    return client().algorithms()


def schedule(name: str, search: str, model: str, *, every: str = "5m", **kw: Any) -> dict[str, Any]:
    """Score ``search``'s results with ``model`` every ``every`` and write them via HEC."""
    return client().schedule(name, search, model, every=every, **kw)


def schedules() -> Any:
    return client().schedules()


def unschedule(name: str) -> None:
    client().unschedule(name)
