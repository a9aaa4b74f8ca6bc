"""AutoML in MLflow: one parent run per search, one child run per finished trial.

The parent run holds the spec, the counts and the leaderboard (``kepler/leaderboard.json``);
each child run holds one trial's algorithm, parameters, validation metrics and cost
figures; the registered winner's own run is a child of the parent too.
"""

from __future__ import annotations

import time
from typing import Any

from mlflow.entities import Metric, Param, RunTag

from kepler.ml.store import ModelStore

LEADERBOARD_ARTIFACT = "kepler/leaderboard.json"


def start_parent(store: ModelStore, model: str, job_id: str, spec: dict[str, Any]) -> str:
    run = store.client.create_run(
        store.experiment_id,
        run_name=f"{model} automl",
        tags={"kepler.model": model, "kepler.job_id": job_id, "kepler.automl": "true"},
    )
    run_id = str(run.info.run_id)
    params = [
        Param(k, str(v)[:500]) for k, v in sorted(spec.items()) if v not in (None, [], (), "")
    ]
    store.client.log_batch(run_id, params=params[:100])
    return run_id


def log_trials(store: ModelStore, parent_run_id: str, rows: list[dict[str, Any]]) -> None:
    """One child run per leaderboard row."""
    client = store.client
    now = int(time.time() * 1000)
    for row in rows:
        run = client.create_run(
            store.experiment_id,
            run_name=f"trial {row['trial']} {row['algorithm']}",
            tags={
                "mlflow.parentRunId": parent_run_id,
                "kepler.algorithm": row["algorithm"],
                "kepler.automl.trial": str(row["trial"]),
                "kepler.automl.rank": str(row["rank"]),
                "kepler.automl.worker": str(row.get("worker") or ""),
                "kepler.automl.feasible": str(row["feasible"]).lower(),
            },
        )
        params = [Param("algorithm", row["algorithm"])]
        params += [Param(k, str(v)[:500]) for k, v in sorted(row["params"].items())]
        params += [
            Param("interactions", str(row["interactions"]).lower()),
            Param("select_percentile", str(row["select_percentile"])),
        ]
        metrics = [Metric(f"cv_{k}", float(v), now, 0) for k, v in row["metrics"].items()]
        for key in ("fit_seconds", "latency_ms_per_row", "model_mb"):
            if row.get(key) is not None:
                metrics.append(Metric(key, float(row[key]), now, 0))
        broken = "; ".join(row["violations"])
        tags = [RunTag("kepler.automl.violations", broken[:5000])] if broken else []
        client.log_batch(run.info.run_id, metrics=metrics, params=params[:100], tags=tags)
        client.set_terminated(run.info.run_id)


def finish_parent(
    store: ModelStore,
    parent_run_id: str,
    rows: list[dict[str, Any]],
    counts: dict[str, int],
    metric: str,
    *,
    failed: bool = False,
) -> None:
    client = store.client
    now = int(time.time() * 1000)
    metrics = [Metric(f"n_{k}", float(v), now, 0) for k, v in counts.items()]
    if rows and rows[0]["feasible"]:
        metrics.append(Metric(f"best_cv_{metric}", float(rows[0]["score"]), now, 0))
    client.log_batch(parent_run_id, metrics=metrics)
    client.log_dict(parent_run_id, {"metric": metric, "leaderboard": rows}, LEADERBOARD_ARTIFACT)
    client.set_terminated(parent_run_id, status="FAILED" if failed else "FINISHED")
