"""The generating subcommands' rows: ``models``, ``summary``, ``jobs``, ``cancel`` and
``deletemodel``, each read from the bridge at getinfo so its errors surface at once."""

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
    """MLTK's summary shape: one row per feature with its importance or coefficient, the
    model's parameters and metrics on every row."""
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
    if d.retrain:  # fitted by a retraining schedule: what its gate decided, and why
        r = d.retrain
        common["retrain_gate"] = f"{r.get('decision')} {r.get('alias')}: {r.get('gate') or '-'}"
        common["retrain_reasons"] = list(r.get("reasons") or [])
    baseline = d.baseline or {}
    common["baseline_rows"] = baseline.get("rows")  # empty: no drift baseline (kp.baseline)
    profiles = baseline.get("fields") or {}
    explained = d.explained
    if not explained:
        return [{**common, "feature": ",".join(d.features or [])}]
    rows = []
    for item in explained:
        row = {**common, "feature": item["feature"]}
        # A one-hot column (site=north) shows its field's profile.
        field = item["feature"] if item["feature"] in profiles else item["feature"].split("=")[0]
        row.update(_baseline_cells(profiles.get(field)))
        for key in (
            "importance",
            "coefficient",
            "class",
            *("group", "type", "params", "BoundaryRanges", "cardinality"),  # DensityFunction
        ):
            if key in item:
                row[key] = item[key]
        rows.append(row)
    return rows


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
