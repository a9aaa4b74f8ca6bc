"""Module-level functions over one default client: ``kp.fit(...)``, ``kp.apply(...)``."""

from __future__ import annotations

import threading
from typing import Any

from kepler._client import Client
from kepler._results import AutoMLResult, FitResult, ModelSummary, ReproduceResult

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
    as_: str | None = None,
    probabilities: bool = False,
    holdout: float = 0.2,
    partial_fit: bool = False,
    split: str | None = None,
    time_field: str | None = None,
    kfold_cv: int | None = None,
    gap: int | None = None,
    lags: list[int] | None = None,
    rolling: list[str] | None = None,
    wait: bool = True,
    progress: bool = True,
    source: dict[str, Any] | None = None,
    by: list[str] | str | None = None,
    **params: Any,
) -> FitResult:
    """Train ``algorithm`` on ``df`` in a worker and register it as a new version of ``into``.

        result = kp.fit(df, "RandomForestClassifier", target="failure",
                        features=["temp", "vibration"], into="pump", n_estimators=200)
        result                 # a table in Jupyter: version, metrics, MLflow run link
        result.plot()          # importances, confusion matrix and ROC (or residuals)

    Args:
        df: the training rows (a pandas DataFrame; ``kp.from_splunk`` gives one).
        algorithm: a name from ``kp.algorithms()``, e.g. ``"LogisticRegression"``.
        target: the field to predict (supervised algorithms); leave out otherwise.
        features: the fields to learn from; default every column but the target.
            Wildcards as in SPL: ``["temp*", "vib*"]``.
        into: the model name; each fit adds a version (``pump@3``). Without it the fit
            is scored but nothing is registered.
        as_: the name of the output field ``apply`` adds (default ``predicted(target)``).
        probabilities: ``apply`` also returns class probabilities (classifiers).
        holdout: the share of rows held out to score the model (0 to 1; 0 for none).
        partial_fit: continue the latest version of ``into`` with these rows (SGD, naive
            Bayes, MLP, Birch, scalers: ``kp.algorithms()`` marks them); the result is a
            new version, tagged ``kepler.partial_fit.from`` with the one it continued.
        split: ``"time"``: the holdout is the latest rows by ``time_field``;
            ``"random"``: a shuffled (stratified) share. Default: ``"time"`` when
            ``_time`` is among the features or ``time_field`` is given, else random.
        time_field: the field that orders rows for ``split="time"`` (default ``_time``).
        kfold_cv: validate on k folds instead of a holdout (2 to 20): shuffled
            (stratified for classifiers), or time-ordered as scikit-learn's
            ``TimeSeriesSplit`` when the split is time; ``result.folds`` holds each
            fold's scores in MLTK's shape. The registered model is fitted on every row.
        gap: rows left out between training and validation rows in time order.
        lags: add each numeric field's value this many rows earlier, in time order
            (``[1, 2, 24]``: ``temp_lag1``, ``temp_lag2``, ``temp_lag24``).
        rolling: add a statistic over a window of rows up to each one (``["mean:12"]``:
            ``temp_rolling_mean12``; mean, min, max, std or sum). ``apply`` recomputes
            both from the events it gets, ordered by ``time_field``.
        wait: wait for the job; ``False`` returns at once with ``job_id`` set.
        progress: show a progress bar (terminal or notebook) while waiting.
        source: where the data came from (``search``, ``earliest``, ``latest``, ``sid``)
            for the model's lineage; a frame from ``kp.from_splunk`` brings its own.
        by: one model per group of these fields' values (``["site"]``), in one version,
            as SPL's ``by site``; ``kp.apply`` scores each row with its group's model.
        **params: the algorithm's own parameters (``n_estimators=200``, ``C=0.5``);
            ``kp.algorithms()`` lists them with their types and ranges.

    Returns:
        A :class:`FitResult`: ``ref`` (``pump@3``), ``metrics`` on the holdout rows,
        ``run_id`` and ``url`` (its MLflow UI page when ``KEPLER_MLFLOW_UI_URL`` is set),
        ``.summary()`` and ``.plot()``.
    """
    return client().fit(
        df,
        algorithm,
        target=target,
        features=features,
        into=into,
        as_=as_,
        probabilities=probabilities,
        holdout=holdout,
        partial_fit=partial_fit,
        split=split,
        time_field=time_field,
        kfold_cv=kfold_cv,
        gap=gap,
        lags=lags,
        rolling=rolling,
        wait=wait,
        progress=progress,
        source=source,
        by=by,
        **params,
    )


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


def forecast(df: Any, model: str, *, k: int | str = 0, **kw: Any) -> Any:
    """A forecaster's predictions for ``df``'s rows and ``k`` rows after them, with MLTK's
    columns (``predicted(<field>)``, ``lower95(predicted(<field>))``, ...)."""
    return client().forecast(df, model, k=k, **kw)


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


def register(fitted: Any, into: str, **kw: Any) -> ModelSummary:
    """Register a model fitted anywhere (scikit-learn, XGBoost, Kepler's torch MLP, a
    plugin's estimator) as the next version of ``into``; see ``Client.register``."""
    return client().register(fitted, into, **kw)


def models() -> Any:
    """Every model with its latest version: a DataFrame with flat columns (``versions``
    counted, ``aliases`` as text, ``metrics.<name>``), ``created``/``updated`` as datetimes."""
    return client().models()


def summary(model: str) -> ModelSummary:
    """Everything known about a model version (``pump``, ``pump@3``, ``pump:production``):
    a mapping that renders as HTML in notebooks and draws with ``.plot()``."""
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


def promote(ref: str, alias: str) -> dict[str, Any]:
    """Point ``alias`` at the version ``ref`` names: ``kp.promote("pump@4", "production")``
    (admin token). Recorded with who and the version the alias left (``kp.summary``)."""
    return client().promote(ref, alias)


def unalias(model: str, alias: str) -> dict[str, Any]:
    """Remove ``alias`` of ``model`` (admin token); its version stays."""
    return client().unalias(model, alias)


def compare(first: str, second: str) -> Any:
    """Two versions side by side: ``kp.compare("pump@3", "pump@4")`` (a DataFrame)."""
    return client().compare(first, second)


def reproduce(ref: str, *, force: bool = False, wait: bool = True) -> ReproduceResult:
    """Retrain ``ref`` (``"pump@3"``) from its stored dataset, spec, seed and split into a
    new version tagged ``kepler.reproduces=pump@3``; the result says metric by metric
    whether it matches (exactly for seeded deterministic algorithms, else within a stated
    tolerance), renders as a table in notebooks and has ``.frame``. Refused when the
    dataset was deleted or package versions differ (``force=True`` goes ahead and records
    the difference on the new version)."""
    return client().reproduce(ref, force=force, wait=wait)


def deletions(limit: int = 100, name: str | None = None) -> Any:
    """Who deleted which model or schedule, and when (the bridge's audit log)."""
    return client().deletions(limit, name)


def jobs(limit: int = 100) -> Any:
    """The newest ``limit`` jobs: a DataFrame with flat columns and UTC datetimes."""
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
    """Score ``search``'s results with ``model`` every ``every`` and write them via HEC; with
    ``retrain=True`` (and ``gate=``), fit a new version instead (see ``Client.schedule``)."""
    return client().schedule(name, search, model, every=every, **kw)


def schedules() -> Any:
    return client().schedules()


def unschedule(name: str) -> None:
    client().unschedule(name)


def monitor(name: str, search: str, model: str, *, every: str = "1h", **kw: Any) -> dict[str, Any]:
    """Watch ``model`` on ``search``'s events every ``every``: drift per field (and live
    metrics with ``label=``) written as metric events via HEC; see ``Client.monitor``."""
    return client().monitor(name, search, model, every=every, **kw)


def monitors() -> Any:
    return client().monitors()


def remove_monitor(name: str) -> dict[str, Any]:
    return client().remove_monitor(name)
