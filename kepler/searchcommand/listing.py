"""The generating subcommands' rows: ``models``, ``summary``, ``jobs``, ``cancel``,
``deletemodel`` and ``leaderboard``, each read from the bridge at getinfo so its errors
surface at once."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from kepler.core import wire
from kepler.core.errors import InvalidSpec
from kepler.core.refs import ModelRef
from kepler.searchcommand.bridge import BridgeClient


def model_rows(bridge: BridgeClient) -> list[dict[str, Any]]:
    rows = []
    for v in bridge.json("GET", wire.MODELS, params={"versions": "true"}):
        rows.append(
            {
                "model": v["name"],
                "version": v["version"],
                "latest": v["latest"],
                "aliases": v.get("aliases") or [],
                "algorithm": v.get("algorithm"),
                "task": v.get("task"),
                **{k: val for k, val in sorted((v.get("metrics") or {}).items())},
                "created": v.get("created"),
                "created_by": v.get("user"),
                "run_id": v.get("run_id"),
            }
        )
    return rows


def summary_rows(bridge: BridgeClient, ref: ModelRef) -> list[dict[str, Any]]:
    """MLTK's summary shape: one row per feature with its importance or coefficient (one
    per group for a `by` model), the model's parameters and metrics on every row."""
    d = wire.ModelView.from_dict(bridge.json("GET", wire.model(ref)))
    common = {
        "model": d.name,
        "version": d.version,
        "algorithm": d.algorithm,
        "target": d.target,
        "created_by": d.user,
        **{f"param.{k}": v for k, v in sorted((d.params or {}).items())},
        **{f"metric.{k}": v for k, v in sorted((d.metrics or {}).items())},
    }
    common["aliases"] = [f"{a}={v['version']}" for v in d.versions for a in v.get("aliases") or []]
    common["alias_moves"] = [_move_text(m) for m in d.alias_moves]
    if d.reproduces:  # what this version reproduces, and how close it came
        common["reproduces"] = d.reproduces.get("of")
        common["reproduce_verdict"] = d.reproduces.get("verdict")
        common["reproduce_forced"] = bool(d.reproduces.get("forced"))
    # The versions that reproduce this one: "pump@5 exact", a multivalue field.
    common["reproductions"] = [
        f"{d.name}@{r.get('version')} {r.get('verdict')}{' forced' if r.get('forced') else ''}"
        for r in d.reproductions
    ]
    # How the metrics were validated: split=time|random, and kfold_cv's fold scores.
    common.update(split=d.split, time_field=d.time_field, kfold_cv=d.kfold_cv or None)
    common["folds"] = [_fold_text(f) for f in d.folds]
    if d.retrain:  # fitted by a retraining schedule: what its gate decided, and why
        r = d.retrain
        common["retrain_gate"] = f"{r.get('decision')} {r.get('alias')}: {r.get('gate') or '-'}"
        common["retrain_reasons"] = list(r.get("reasons") or [])
    baseline = d.baseline or {}
    common["baseline_rows"] = baseline.get("rows")  # empty: no drift baseline (kp.baseline)
    registered = (d.lineage or {}).get("registered")
    if isinstance(registered, dict):  # kp.register: a model fitted elsewhere
        common["registered_env"] = registered_env(registered)
    profiles = baseline.get("fields") or {}
    if d.groups:  # a `by` model: one row per group, with its rows and holdout metrics
        return [{**common, **group} for group in d.groups]
    explained = d.explained
    if not explained:
        return [{**common, "feature": ",".join(d.features or [])}]
    rows = []
    # DensityFunction: MLTK's summary has a column per `by` field (the model's other fields).
    by = tuple(d.features or [])[1:] if d.algorithm == "DensityFunction" else ()
    for item in explained:
        row = {**common, "feature": item["feature"]}
        # A one-hot column (site=north) shows its field's profile.
        field = item["feature"] if item["feature"] in profiles else item["feature"].split("=")[0]
        row.update(_baseline_cells(profiles.get(field)))
        for key in (
            "importance",
            "coefficient",
            "class",
            *by,  # DensityFunction, then its summary (Kepler's columns and MLTK's)
            *("group", "type", "params", "BoundaryRanges", "cardinality"),
            *("min", "max", "mean", "std", "distance", "other"),
            *("score", "p-value", "selected"),  # FieldSelector
            "StateSpaceForecast Summary",  # MLTK's three lines (kepler.ml.forecast)
        ):
            if key in item:
                row[key] = item[key]
        rows.append(row)
    return rows


def registered_env(registered: dict[str, Any]) -> str:
    """``python 3.12.1; scikit-learn==1.6.1, xgboost==3.0.0; requires: lightgbm>=4``."""
    parts = []
    if registered.get("python"):
        parts.append(f"python {registered['python']}")
    packages = registered.get("packages") or {}
    if packages:
        parts.append(", ".join(f"{k}=={v}" for k, v in sorted(packages.items())))
    if registered.get("requirements"):
        parts.append("requires: " + ", ".join(registered["requirements"]))
    return "; ".join(parts) or "unknown"


def _fold_text(fold: dict[str, Any]) -> str:
    """``1: accuracy=0.93 f1=0.92 ...``: one fold's scores as one multivalue entry."""
    scores = " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in fold.items()
        if k != "fold_number"
    )
    return f"{fold.get('fold_number')}: {scores}"


def _move_text(move: dict[str, Any]) -> str:
    """``production 3->4 by bob at 2026-12-06T01:02:03Z`` (``-`` where there is no version)."""
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(move.get("at") or 0)))
    before, after = move.get("from_version"), move.get("to_version")
    return (
        f"{move.get('alias')} {'-' if before is None else before}->"
        f"{'-' if after is None else after} by {move.get('user')} at {at}"
    )


def _baseline_cells(profile: Any) -> dict[str, Any]:
    """A feature's training profile in a few ``baseline.*`` cells (drift compares with it)."""
    if not isinstance(profile, dict):
        return {}
    cells = {f"baseline.{k}": v for k, v in profile.items() if k not in ("type", "top")}
    if profile.get("top"):
        cells["baseline.top"] = ",".join(f"{k}={v}" for k, v in profile["top"].items())
    return cells


def job_rows(bridge: BridgeClient, options: Mapping[str, Any]) -> list[dict[str, Any]]:
    params = {"limit": options.get("limit", 100), "status": options.get("status")}
    return [job_row(j) for j in bridge.json("GET", wire.JOBS, params=params)]


def job_row(answer: dict[str, Any]) -> dict[str, Any]:
    """One job as ``| kepler jobs`` shows it, progress in percent."""
    j = wire.JobView.from_dict(answer)
    return {
        "job_id": j.id,
        "kind": j.kind,
        "state": j.state,
        "progress": j.percent,
        "message": j.message,
        "model": j.model,
        "version": j.outcome.get("version"),
        "error": (j.error or {}).get("message"),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(j.created_at)),
        "duration_s": j.duration_s,
        "worker": j.worker,
        "user": j.user,
        "attempts": j.attempts,
    }


JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def cancel_target(rest: list[str]) -> str:
    """The one job id ``cancel`` takes, checked before the bridge is asked."""
    if len(rest) != 1 or not JOB_ID.fullmatch(rest[0]):
        got = " ".join(rest) or "nothing"
        raise InvalidSpec(
            f"cancel takes one job id, e.g. | kepler cancel 3f9c...; got {got!r} "
            "(the ids are in the job_id field of | kepler jobs)"
        )
    return rest[0]


def cancel(bridge: BridgeClient, job_id: str) -> dict[str, Any]:
    return job_row(bridge.json("DELETE", wire.job(job_id)))


def delete_model(bridge: BridgeClient, name: str) -> dict[str, Any]:
    bridge.json("DELETE", wire.model(name))
    return {"model": name, "deleted": True, "message": "every version was deleted"}


def leaderboard_target(rest: list[str]) -> str:
    """The one AutoML job id or model ``leaderboard`` takes (``*``: the newest run)."""
    if len(rest) != 1 or not rest[0].strip('"'):
        got = " ".join(rest) or "nothing"
        raise InvalidSpec(
            "leaderboard takes one AutoML job id or model, e.g. | kepler leaderboard pump "
            f"(pump@3: the run that made version 3; *: the newest run); got {got!r}"
        )
    return rest[0].strip('"')


def leaderboard_rows(bridge: BridgeClient, target: str) -> list[dict[str, Any]]:
    """One row per trial, best first: MLTK-style flat cells, the trial's metrics as
    columns (``accuracy``, ``r2`` ...) beside the search's ``score``."""
    board = bridge.json("GET", wire.automl_leaderboard(target))
    rows = []
    for t in board.get("trials") or []:
        rows.append(
            {
                "rank": t.get("rank"),
                "trial": t.get("trial"),
                "algorithm": t.get("algorithm"),
                "params": t.get("params"),
                "score": t.get("score"),
                "metric": board.get("metric"),
                "fit_seconds": t.get("fit_seconds"),
                "latency_ms_per_row": t.get("latency_ms_per_row"),
                "model_mb": t.get("model_mb"),
                "status": t.get("status"),
                **{k: v for k, v in sorted((t.get("metrics") or {}).items())},
                "violations": t.get("violations") or [],
                "model": board.get("model"),
                "version": t.get("version"),
                "job_id": board.get("job_id"),
                "job_state": board.get("state"),
            }
        )
    return rows
