"""Retraining runs of a schedule (``kepler schedule add ... --retrain``): fired like every
schedule's run (:data:`RETRAIN`, through :func:`kepler.server.jobs.score.fire`), run by a
worker (:func:`run_retrain`).

A run searches its interval, fits the schedule's spec (or the spec of the version the
schedule's model names now) into a new version of the model, and then judges it with the
schedule's gate (:mod:`kepler.core.gate`): each alias the gate names is resolved, its
version is scored on the **new fit's holdout** (the same rows for both), and the gate's
clauses compare the two. A version that passes moves the schedule's alias through
:func:`kepler.server.promote.move_alias` (so the move is recorded); one that fails leaves
it. Either way the decision and why are kept as the new version's ``kepler.retrain.*``
tags (``summary`` shows them) and sent as one ``kepler:retrain`` event via HEC.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

from kepler.core.errors import HecRejected, InvalidSpec
from kepler.core.refs import ModelRef
from kepler.server.jobs import recurring
from kepler.server.jobs.recurring import Run, RunKind
from kepler.server.queue import enqueue_retrain
from kepler.server.stores.schedules import Schedule

if TYPE_CHECKING:
    from kepler.core.spec import FitSpec
    from kepler.server.context import ServerContext

RETRAIN_KIND = "retrain"
RETRAIN_SOURCETYPE = "kepler:retrain"
PROMOTED, KEPT = "promoted", "kept"


def retrain_spec(line: str, into: str) -> dict[str, Any]:
    """A fit line (``"RandomForestClassifier failure from temp site"``) as the spec a
    retraining schedule fits into ``into``; a malformed one is refused now."""
    from kepler.server.jobs.fit import build_spec

    spec = build_spec(line=line)
    if spec.into and spec.into != into:
        raise InvalidSpec(
            f"the retraining spec fits into {spec.into!r} but the schedule's model is "
            f"{into!r}; drop `into` from the spec"
        )
    return dataclasses.replace(spec, into=into).to_dict()


def _own(sched: Schedule) -> dict[str, Any]:
    """What a retraining run's spec holds beside every recurring run's."""
    return {"gate": sched.gate, "alias": sched.alias, "fit_spec": sched.fit_spec}


def _retrain(run: Run) -> dict[str, Any]:
    from kepler.core.gate import parse_gate
    from kepler.hec import HecSender, make_event
    from kepler.ml.training import train

    ctx, job_id, spec, jobs = run.ctx, run.job_id, run.spec, run.ctx.jobs
    started = time.time()
    ref = ModelRef.parse(spec["model"])
    fit = _fit_spec(ctx, ref, spec.get("fit_spec"))
    gate = parse_gate(spec["gate"]) if spec.get("gate") else None
    alias = str(spec.get("alias") or "production")
    with HecSender(run.hec) as hec:  # checked before the search: a run that could not
        frame = recurring.search_frame(  # report does not fit
            run, ctx.settings.retrain_max_rows, "KEPLER_RETRAIN_MAX_ROWS"
        )
        jobs.progress(job_id, 0.3, f"fitting {fit.algorithm} on {len(frame):,} rows")
        trained = train(frame, fit, consume=True, keep_holdout=True)
        del frame
        jobs.progress(job_id, 0.8, f"registering a new version of {ref.name}")
        source = {k: spec.get(k) for k in ("search", "earliest", "latest")}
        registered = ctx.models.register(
            trained,
            ref.name,
            lineage={"source": source},
            job_id=job_id,
            user=f"schedule:{spec['schedule']}",
        )
        ctx.cache.forget(ref.name)
        jobs.progress(job_id, 0.9, "judging the new version with the gate")
        compared = _compare(ctx, ref.name, gate.aliases() if gate else (alias,), trained)
        if gate is None:
            passed, reasons = True, ["no gate: every new version is promoted"]
        else:
            passed, reasons = gate.decide(
                trained.metrics, {a: c and c["metrics"] for a, c in compared.items()}
            )
        result: dict[str, Any] = {
            "schedule": spec["schedule"],
            "model": ref.name,
            "version": registered.version,
            "rows": trained.meta.n_train + trained.meta.n_holdout,
            "alias": alias,
            "gate": gate.text if gate else None,
            "decision": PROMOTED if passed else KEPT,
            "promoted": passed,
            "reasons": reasons,
            "metrics": trained.metrics,
            "compared": compared,
        }
        if passed:
            move = _promote(ctx, ref.name, alias, registered.version, spec["schedule"])
            result["from_version"] = move["from_version"]
        ctx.models.tag_version(ref.name, registered.version, _tags(result))
        hec.send(
            make_event(
                {
                    **{k: v for k, v in result.items() if k != "schedule"},
                    "kepler_job": job_id,
                    "kepler_schedule": spec["schedule"],
                },
                time=started,
                source=f"kepler:schedule:{spec['schedule']}",
                sourcetype=RETRAIN_SOURCETYPE,
                index=spec.get("index"),
            )
        )
        report = hec.flush()
    result.update(sent=report.delivered, duration_s=round(time.time() - started, 3))
    if report.rejected:
        raise HecRejected(
            f"HEC refused the kepler:retrain event ({report.last_error or 'no reason given'}); "
            "check the schedule's index and the HEC token's allowed indexes",
            detail={k: v for k, v in result.items() if k != "schedule"},
        )
    return result


def _fit_spec(ctx: ServerContext, ref: ModelRef, given: dict[str, Any] | None) -> FitSpec:
    """The schedule's own spec, else the spec of the version ``ref`` names now."""
    from kepler.core.spec import FitSpec

    if given:
        return FitSpec.from_dict(given)
    _, (_, meta) = ctx.cache.fetch(ref)
    return FitSpec(
        algorithm=meta.algorithm,
        target=meta.target,
        features=tuple(meta.features),
        params=dict(meta.params),
        into=ref.name,
        output_name=meta.output_name,
        probabilities=bool(meta.probabilities),
        holdout=float(meta.holdout) or FitSpec.holdout,
        by=tuple(meta.by or ()),
    )


def _compare(
    ctx: ServerContext, name: str, aliases: tuple[str, ...], trained: Any
) -> dict[str, dict[str, Any] | None]:
    """Each alias's version and its metrics on the new fit's holdout (None: unset)."""
    from kepler.ml.metrics import compute_metrics
    from kepler.server.promote import current_version

    out: dict[str, dict[str, Any] | None] = {}
    for alias in aliases:
        version = current_version(ctx, name, alias)
        if version is None or trained.holdout_rows is None:
            out[alias] = None
            continue
        _, (pipeline, meta) = ctx.cache.fetch(ModelRef(name, version=version))
        X, y = trained.holdout_rows
        missing = [f for f in meta.features if f not in X.columns]
        metrics = {} if missing else compute_metrics(pipeline, meta.task, X, y)
        out[alias] = {"version": version, "metrics": metrics, "rows": len(X)}
    return out


def _promote(ctx: ServerContext, name: str, alias: str, version: int, schedule: str) -> Any:
    from kepler.server.promote import move_alias

    return move_alias(ctx, name, alias, version, user=f"schedule:{schedule}")


def _tags(result: dict[str, Any]) -> dict[str, str]:
    """The decision as the version's tags (``summary`` reads them back)."""
    return {
        "kepler.retrain.schedule": str(result["schedule"]),
        "kepler.retrain.decision": str(result["decision"]),
        "kepler.retrain.alias": str(result["alias"]),
        "kepler.retrain.gate": str(result["gate"] or ""),
        "kepler.retrain.reasons": "; ".join(result["reasons"])[:4000],
    }


RETRAIN = RunKind(RETRAIN_KIND, "schedule", "retraining run", enqueue_retrain, _own, step=_retrain)
# The worker's side: run job ``job_id`` (``splunk``, ``hec``: default, the process's settings).
run_retrain = RETRAIN.run
