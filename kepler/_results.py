"""What the SDK hands back: fit, AutoML and model summaries that render in notebooks.

Each result shows itself as an HTML table in Jupyter (``_repr_html_``, :mod:`kepler._display`)
and draws its charts with ``.plot()`` (:mod:`kepler._plots`, matplotlib, optional). A fit's
holdout charts (confusion matrix, ROC, residuals) read the bounded holdout sample the fit
stored with the model, which the result fetches through the client that made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from kepler import _display, _plots
from kepler.core.errors import BadParameter

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from kepler._client import Client


class ModelSummary(dict[str, Any]):
    """One model version as the bridge describes it (``kp.summary("pump@3")``).

    Still the plain mapping it always was (``summary["metrics"]``, ``json.dumps``), with an
    HTML view in notebooks, ``.url`` (the MLflow run in its UI, where one is configured)
    and ``.plot()``.
    """

    url: str | None = None

    def _repr_html_(self) -> str:
        return _display.summary_html(self, self.url)

    def plot(self, kind: str = "all", *, ax: Any = None) -> Figure:
        """Draw ``kind``: ``importances`` (or coefficients), ``confusion`` and ``roc``
        (classifiers), ``residuals`` (regressors), or ``all`` that apply, side by side.
        ``ax`` draws one kind into your own matplotlib axes."""
        return _plots.plot_summary(self, kind, ax=ax)


class _VersionResult:
    """What every job result shares: the version it names (``ref``, ``summary()``) and
    the connection that fetches it, which neither ``to_dict`` nor pickling carries."""

    job_id: str
    model: str | None
    version: int | None
    client: Client | None

    @property
    def ref(self) -> str | None:
        return f"{self.model}@{self.version}" if self.model and self.version is not None else None

    def __getstate__(self) -> dict[str, Any]:  # a pickled result leaves its connection
        return {**self.__dict__, "client": None}

    def to_dict(self) -> dict[str, Any]:
        """The result's fields as plain values, without its connection to the bridge."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "client"}  # type: ignore[arg-type]

    def summary(self) -> ModelSummary:
        """The version's summary (importances, holdout sample, lineage)."""
        if self.client is None or self.version is None or not self.model:
            raise BadParameter(
                "this result names no registered version (fit with into=, and wait=True); "
                "for a model that has one, use kp.summary('name@version')"
            )
        return self.client.summary(f"{self.model}@{self.version}")


@dataclass(frozen=True)
class FitResult(_VersionResult):
    """What a finished fit produced; ``url`` is its MLflow run in the UI, where configured."""

    job_id: str
    model: str | None
    version: int | None
    run_id: str | None
    metrics: dict[str, float] = field(default_factory=dict)
    rows: int | None = None
    duration_s: float | None = None
    url: str | None = None
    client: Client | None = field(default=None, repr=False, compare=False)
    split: str | None = None  # how it was validated: random or time order
    # With kfold_cv: one dict per fold in MLTK's shape (fold_number, accuracy, f1, ...).
    folds: list[dict[str, Any]] = field(default_factory=list)

    def _repr_html_(self) -> str:
        return _display.fit_html(self)

    def plot(self, kind: str = "all", *, ax: Any = None) -> Figure:
        """Charts of the registered version: see :meth:`ModelSummary.plot`."""
        return self.summary().plot(kind, ax=ax)


@dataclass(frozen=True)
class AutoMLResult(_VersionResult):
    """What a finished AutoML search produced: the registered winner and the leaderboard.

    ``leaderboard`` is a DataFrame, best first: ``rank``, ``algorithm``, ``params``, the
    task's metrics (means over the validation folds), ``fit_seconds``,
    ``latency_ms_per_row``, ``model_mb``, ``feasible`` and ``violations`` (constraints a
    trial broke; such a trial never ranks above one that broke none), ``worker``.
    ``metrics`` are the winner's, on the holdout rows no trial saw.
    """

    job_id: str
    model: str | None
    version: int | None
    run_id: str | None
    parent_run_id: str | None
    algorithm: str | None
    params: dict[str, Any]
    metric: str | None
    best_cv_score: float | None
    metrics: dict[str, float]
    leaderboard: Any  # pandas.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    workers: list[str] = field(default_factory=list)
    duration_s: float | None = None
    url: str | None = None
    client: Client | None = field(default=None, repr=False, compare=False)

    def _repr_html_(self) -> str:
        return _display.automl_html(self)

    def plot(self, kind: str = "leaderboard", *, ax: Any = None) -> Figure:
        """``leaderboard`` (score by trial and algorithm, and latency against score),
        ``trials``, ``latency``, or one of the winner's charts (``importances``,
        ``confusion``, ``roc``, ``residuals``, ``all``: see :meth:`ModelSummary.plot`)."""
        if kind in _plots.LEADERBOARD_KINDS:
            return _plots.plot_leaderboard(self.leaderboard, self.metric, kind, ax=ax)
        return self.summary().plot(kind, ax=ax)


@dataclass(frozen=True)
class ReproduceResult(_VersionResult):
    """What a finished reproduction found (``kp.reproduce("pump@3")``).

    ``model``/``version`` name the new version (``ref``), ``reproduces`` the original;
    ``verdict`` is ``exact`` (every item the same number), ``within_tolerance`` or
    ``differs``; ``rule`` says which applied to the metrics and why (``kind`` ``exact``
    or ``tolerance``, with its bounds); ``comparison`` holds one row per item (each
    ``metric.<name>``, the ``split`` and the row counts): ``original``, ``reproduced``,
    ``difference``, ``rule``, ``tolerance``, ``match``. ``forced`` and
    ``package_differences`` (package, recorded, installed) say what ``force=True`` let
    through. ``frame`` is the comparison as a DataFrame; notebooks show it as a table.
    """

    job_id: str
    model: str | None
    version: int | None
    reproduces: str | None
    verdict: str | None
    rule: dict[str, Any] = field(default_factory=dict)
    comparison: list[dict[str, Any]] = field(default_factory=list)
    forced: bool = False
    package_differences: list[dict[str, Any]] = field(default_factory=list)
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    duration_s: float | None = None
    url: str | None = None
    client: Client | None = field(default=None, repr=False, compare=False)

    @property
    def matched(self) -> bool:
        """Every item matched under its rule (``exact`` or ``within_tolerance``)."""
        return self.verdict in ("exact", "within_tolerance")

    @property
    def frame(self) -> Any:
        """The comparison as a DataFrame, one row per item."""
        import pandas as pd

        columns = ["item", "original", "reproduced", "difference", "rule", "tolerance", "match"]
        return pd.DataFrame(self.comparison, columns=columns)

    def _repr_html_(self) -> str:
        return _display.reproduce_html(self)


def leaderboard_frame(rows: list[dict[str, Any]]) -> Any:
    """The bridge's leaderboard rows as a DataFrame, metrics as columns."""
    import pandas as pd

    flat = []
    for r in rows:
        row = {"rank": r["rank"], "algorithm": r["algorithm"], "params": r["params"]}
        row.update(r.get("metrics") or {})
        for key in (
            "fit_seconds",
            "latency_ms_per_row",
            "model_mb",
            "feasible",
            "violations",
            "interactions",
            "select_percentile",
            "trial",
            "worker",
        ):
            row[key] = r.get(key)
        flat.append(row)
    return pd.DataFrame(flat)


def run_url(ui_url: str, run_id: str | None) -> str | None:
    """The MLflow UI's page of ``run_id`` (its ``#/runs/<id>`` route finds the experiment)."""
    if not ui_url.strip() or not run_id:
        return None
    return f"{ui_url.strip().rstrip('/')}/#/runs/{run_id}"


def models_frame(rows: list[dict[str, Any]]) -> Any:
    """``kp.models()``: one row per model, flat. ``versions`` is how many there are,
    ``aliases`` reads ``production=3, staging=4``, each metric of the latest version is a
    ``metrics.<name>`` column, and ``created``/``updated`` are UTC datetimes."""
    import pandas as pd

    flat = []
    for r in rows:
        row = {k: v for k, v in r.items() if k not in ("metrics", "aliases", "versions")}
        row["versions"] = len(r.get("versions") or [])
        row["aliases"] = ", ".join(f"{a}={v}" for a, v in sorted((r.get("aliases") or {}).items()))
        for name, value in sorted((r.get("metrics") or {}).items()):
            row[f"metrics.{name}"] = value
        flat.append(row)
    columns = ["name", "latest_version", "versions", "aliases", "algorithm", "task", "user"]
    frame = pd.DataFrame(flat, columns=_ordered(columns, flat))
    for name in ("created", "updated"):
        if name in frame:
            frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601")
    return frame


# What a job row keeps of its nested spec, result and error, as flat columns.
_JOB_SPEC = ("algorithm", "target", "time_budget", "metric")
_JOB_RESULT = ("version", "run_id", "rows")
_JOB_TIMES = ("created_at", "started_at", "finished_at", "updated_at", "heartbeat_at")


def jobs_frame(rows: list[dict[str, Any]]) -> Any:
    """``kp.jobs()``: one row per job, flat: the spec's ``algorithm``/``target``/...,
    the result's ``version``/``run_id``/``rows`` and ``metrics.<name>``, the error's
    ``error`` (message) and ``error_code``; times are UTC datetimes."""
    import json

    import pandas as pd

    flat = []
    for r in rows:
        spec, result, error = r.get("spec") or {}, r.get("result") or {}, r.get("error") or {}
        row = {k: v for k, v in r.items() if k not in ("spec", "result", "error")}
        row.update({k: spec.get(k) for k in _JOB_SPEC})
        row.update({k: result.get(k) for k in _JOB_RESULT})
        for name, value in sorted((result.get("metrics") or {}).items()):
            row[f"metrics.{name}"] = value
        row["error"] = error.get("message")
        row["error_code"] = error.get("code")
        for key, value in row.items():  # whatever a newer bridge nests, as text
            if isinstance(value, dict | list):
                row[key] = json.dumps(value, default=str)
        flat.append(row)
    columns = ["id", "kind", "state", "progress", "model", "user", "message"]
    frame = pd.DataFrame(flat, columns=_ordered(columns, flat))
    for name in _JOB_TIMES:
        if name in frame:
            frame[name] = pd.to_datetime(frame[name], unit="s", utc=True)
    return frame


def _ordered(first: list[str], rows: list[dict[str, Any]]) -> list[str]:
    """``first``, then every other key the rows have, in the order first seen."""
    out = list(first)
    for row in rows:
        out.extend(k for k in row if k not in out)
    return out
