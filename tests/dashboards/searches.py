"""The rows each dashboard search answers, for the preview's fixtures.

The `| kepler ...` searches are run for real: the app's command under the protocol v2
harness against a real bridge and worker. What Splunk itself computes after them
(`| stats`, `| chart`, `| where` ...) and the searches over indexes (`| mstats`,
`sourcetype=kepler:score`, `kepler:apply`) are done here in Python over those rows and over
the events the stack sent to the HEC double, one small function per data source: a
preview of shapes, not a second Splunk. A data source with no function here has no
fixture, which the preview shows as an error.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]
CLS = ["accuracy", "precision", "recall", "f1", "roc_auc"]
REG = ["r2", "rmse", "mae", "mse", "explained_variance"]


@dataclass
class Results:
    """What the real runs produced: command answers and the HEC double's events."""

    models: list[Row]  # | kepler models
    jobs: list[Row]  # | kepler jobs limit=500
    summary: dict[str, list[Row]]  # | kepler summary <model>
    leaderboard: list[Row]  # | kepler leaderboard "*" (the newest AutoML search's trials)
    events: list[dict[str, Any]] = field(default_factory=list)  # HEC envelopes
    model: str = ""  # the model the inputs select first

    def sourcetype(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("sourcetype") == name and e["event"] != "metric"]

    def metrics(self, prefix: str) -> list[tuple[float, str, float, dict[str, Any]]]:
        out = []
        for e in self.events:
            if e.get("event") != "metric":
                continue
            for key, value in e["fields"].items():
                if key.startswith(f"metric_name:{prefix}"):
                    out.append((float(e["time"]), key.split(":", 1)[1], float(value), e["fields"]))
        return out


def table(rows: Iterable[Mapping[str, Any]], fields: list[str] | None = None) -> Row:
    """Rows as Dashboard Studio's data set ({fields, columns}); `fields` as `| table`
    keeps them (one that no row has is left out, as Splunk does)."""
    rows = list(rows)
    names: list[str] = []
    for row in rows:
        names += [k for k in row if k not in names]
    if fields is not None:
        names = [f for f in fields if any(f in r for r in rows)]
    return {
        "fields": [{"name": n} for n in names],
        "columns": [[_cell(r.get(n)) for r in rows] for n in names],
    }


def _cell(value: Any) -> Any:
    if value is None or value == "":
        return None
    return value


def _hour(t: float) -> str:
    return _iso(math.floor(t / 3600) * 3600)


def _iso(t: float) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%S.000+00:00", time.gmtime(t))


def _num(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _timechart(
    points: Iterable[tuple[float, str, float]], agg: Callable[[list[float]], float]
) -> Row:
    """`| timechart span=1h agg(x) BY series` over (time, series, value)."""
    cells: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    series: list[str] = []
    for t, name, value in points:
        cells[_hour(t)][name].append(value)
        if name not in series:
            series.append(name)
    rows = [
        {"_time": hour, **{s: agg(v[s]) for s in series if v.get(s)}}
        for hour, v in sorted(cells.items())
    ]
    return table(rows, ["_time", *series])


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def models_dashboard(r: Results) -> dict[str, Row]:
    versions = [v for v in r.models if v["model"] == r.model]
    by_version = sorted(versions, key=lambda v: int(v["version"]))
    importances: dict[str, float] = {}
    for row in r.summary[r.model]:
        weight = _num(row.get("importance"))
        if weight is None and _num(row.get("coefficient")) is not None:
            weight = abs(float(row["coefficient"]))
        if weight is not None:
            importances[row["feature"]] = max(weight, importances.get(row["feature"], weight))
    top = sorted(importances.items(), key=lambda kv: -kv[1])[:20]
    aliases = [
        {"alias": a, "version": v["version"], "algorithm": v["algorithm"], "created": v["created"]}
        for v in versions
        for a in (v["aliases"] if isinstance(v.get("aliases"), list) else [v.get("aliases")])
        if a
    ]
    runs = [
        {
            "version": v["version"],
            "run_id": v["run_id"],
            "run_url": "set the kepler_mlflow_ui macro to link MLflow",  # the macro's default
        }
        for v in reversed(by_version)
    ]
    first = ["model", "version", "latest", "aliases", "algorithm", "task", "created", "created_by"]
    return {
        "ds_model_list": table([{"model": m} for m in sorted({v["model"] for v in r.models})]),
        "ds_versions": table(versions),
        "ds_version_count": table([{"versions": len(versions)}]),
        "ds_metrics": table(by_version, ["version", *CLS, *REG]),
        "ds_version_table": table([{k: v.get(k) for k in first} | v for v in reversed(by_version)]),
        "ds_aliases": table(aliases),
        "ds_runs": table(runs),
        "ds_importances": table([{"feature": f, "weight": w} for f, w in top]),
    }


def jobs_dashboard(r: Results) -> dict[str, Row]:
    jobs = sorted(r.jobs, key=lambda j: j["created"], reverse=True)
    active = [j for j in jobs if j["state"] in ("queued", "running")]
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    for j in jobs:
        by_kind[j["kind"]][j["state"]] += 1
    states = sorted({j["state"] for j in jobs})
    running = [
        {
            "job_id": j["job_id"],
            "kind": j["kind"],
            "state": j["state"],
            "progress_pct": round(float(j["progress"]))
            if _num(j["progress"]) is not None
            else None,
            "message": j["message"],
            "model": j["model"],
            "created": j["created"],
            "worker": j["worker"],
        }
        for j in active
    ]
    recent = ["created", "job_id", "kind", "state", "progress", "model", "version", "duration_s"]
    return {
        "ds_model_list": table([{"model": m} for m in sorted({v["model"] for v in r.models})]),
        "ds_jobs": table(jobs),
        "ds_active": table([{"active": len(active)}]),
        "ds_failed_count": table([{"failed": sum(j["state"] == "failed" for j in jobs)}]),
        "ds_by_state": table(
            [{"kind": k, **{s: c.get(s, 0) for s in states}} for k, c in sorted(by_kind.items())]
        ),
        "ds_running": table(running),
        "ds_recent": table(jobs[:50], [*recent, "attempts", "user"]),
        "ds_errors": table(
            [j for j in jobs if j["state"] in ("failed", "cancelled")],
            ["created", "job_id", "kind", "state", "model", "error", "message"],
        ),
    }


def automl_dashboard(r: Results) -> dict[str, Row]:
    board = sorted(r.leaderboard, key=lambda x: int(x["rank"]))
    latency = [
        {
            "algorithm": x["algorithm"],
            "latency_ms_per_row": x["latency_ms_per_row"],
            "score": x["score"],
        }
        for x in board
    ]
    first = [
        *("rank", "trial", "algorithm", "status", "score", "fit_seconds", "latency_ms_per_row"),
        *("params", "model", "version", "model_mb"),
    ]
    automl_jobs = [j for j in r.jobs if j["kind"] == "automl"]
    return {
        "ds_model_list": table([{"model": m} for m in sorted({v["model"] for v in r.models})]),
        "ds_leaderboard": table(board),
        "ds_score_by_rank": table(board, ["rank", *CLS, *REG]),
        "ds_latency": table(latency),
        "ds_lb_table": table([{k: x.get(k) for k in first} | x for x in board]),
        "ds_automl_jobs": table(
            automl_jobs,
            ["created", "job_id", "state", "progress", "model", "version", "duration_s", "error"],
        ),
    }


def health_dashboard(r: Results) -> dict[str, Row]:
    drift = [m for m in r.metrics("kepler.drift.") if m[3].get("model") == r.model]
    latest: dict[tuple[str, str, str], tuple[float, Row]] = {}
    for t, name, value, dims in drift:
        key = (dims["version"], dims["field"], name)
        if key not in latest or latest[key][0] <= t:
            latest[key] = (
                t,
                {
                    "field": dims["field"],
                    "version": dims["version"],
                    "method": name.removeprefix("kepler.drift."),
                    "statistic": value,
                    "drifted": dims["drifted"],
                },
            )
    now = sorted((row for _, row in latest.values()), key=lambda x: -x["statistic"])
    newest: dict[str, Row] = {}
    for row in now:
        newest.setdefault(row["field"], row)
    holdout = {
        k.removeprefix("metric."): float(v)
        for k, v in r.summary[r.model][0].items()
        if k.startswith("metric.") and _num(v) is not None
    }
    live: dict[str, Row] = defaultdict(dict)
    for t, name, value, dims in r.metrics("kepler.live."):
        if dims.get("model") != r.model:
            continue
        metric = name.removeprefix("kepler.live.")
        live[_hour(t)][f"live_{metric}"] = value
        if metric in holdout:
            live[_hour(t)][f"holdout_{metric}"] = holdout[metric]
    applies = [e for e in r.sourcetype("kepler:apply") if e["event"].get("model") == r.model]
    rows_by_hour: dict[str, Row] = defaultdict(lambda: {"rows_scored": 0, "errors": 0})
    for e in applies:
        rows_by_hour[_hour(e["time"])]["rows_scored"] += e["event"]["rows"]
        rows_by_hour[_hour(e["time"])]["errors"] += e["event"]["errors"]
    drift_events = [
        {"_time": _iso(e["time"]), **e["event"], "drifted_fields": ", ".join(e["event"]["drifted"])}
        for e in sorted(r.sourcetype("kepler:drift"), key=lambda e: -e["time"])
        if e["event"].get("model") == r.model
    ]
    return {
        "ds_model_list": table([{"model": m} for m in sorted({v["model"] for v in r.models})]),
        "ds_drift_time": _timechart(((t, d["field"], v) for t, _, v, d in drift), max),
        "ds_drift_latest": table(now),
        "ds_drifted": table([{"drifted": sum(x["drifted"] == "true" for x in newest.values())}]),
        "ds_live": table([{"_time": h, **v} for h, v in sorted(live.items())]),
        "ds_apply_rows": table([{"_time": h, **v} for h, v in sorted(rows_by_hour.items())]),
        "ds_apply_latency": _timechart(
            ((e["time"], e["event"]["mode"], e["event"]["latency_ms"]) for e in applies), p95
        ),
        "ds_drift_events": table(
            drift_events,
            ["_time", "model", "version", "monitor", "drifted_fields", "max_statistic"],
        ),
    }


SOURCE = re.compile(r"^kepler:apply:([^@]+)@(\d+)$")


def scores_dashboard(r: Results) -> dict[str, Row]:
    scores = []
    for e in r.sourcetype("kepler:score"):
        found = SOURCE.match(e.get("source", ""))
        model = e["event"].get("kepler_model") or (found and found[1])
        version = e["event"].get("kepler_version") or (found and found[2])
        scores.append((e["time"], {**e["event"], "kepler_model": model, "kepler_version": version}))
    recent = [
        {
            "_time": _iso(t),
            **{k: v for k, v in row.items() if k.startswith(("kepler_", "pred", "prob"))},
        }
        for t, row in sorted(scores, key=lambda s: -s[0])[:20]
    ]
    versions = Counter(f"{row['kepler_model']}@{row['kepler_version']}" for _, row in scores)
    return {
        "ds_model_list": table([{"model": m} for m in sorted({v["model"] for v in r.models})]),
        "ds_score_count": table([{"scored": len(scores)}]),
        "ds_scores_time": _timechart(((t, row["kepler_model"], 1.0) for t, row in scores), len),
        "ds_scores_version": table(
            [{"version": v, "count": c} for v, c in sorted(versions.items())]
        ),
        "ds_scores_recent": table(recent),
    }


FIXTURES: dict[str, Callable[[Results], dict[str, Row]]] = {
    "kepler_models": models_dashboard,
    "kepler_jobs": jobs_dashboard,
    "kepler_automl": automl_dashboard,
    "kepler_health": health_dashboard,
    "kepler_scores": scores_dashboard,
}
