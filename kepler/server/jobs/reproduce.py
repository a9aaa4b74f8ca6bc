"""Reproduce jobs: retrain a version from what it recorded into a new version of the same
model, and say metric by metric whether the numbers match.

The bridge (:func:`submit_reproduce`) refuses what cannot be reproduced before a worker
spends time on it: a version whose dataset was deleted, one AutoML made. The worker
(:func:`run_reproduce`) compares the package versions the original recorded with its own
(the worker is where the training happens, so its packages are the ones that count) and
refuses a difference unless the job was forced, in which case the difference is recorded
on the new version. It then trains the recorded spec (algorithm, parameters, seed,
holdout) on the recorded dataset, compares the result with the original under the rule of
:mod:`kepler.ml.reproduce`, and registers the new version tagged
``kepler.reproduces=<name>@<version>`` with the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kepler.core.errors import DatasetIncomplete, DatasetNotFound, NotReproducible
from kepler.core.refs import ModelRef
from kepler.core.spec import FitSpec
from kepler.server.jobs.fit import register_trained, train_on_dataset
from kepler.server.jobs.runner import run_once
from kepler.server.queue import enqueue_reproduce
from kepler.server.stores.jobs import Job

if TYPE_CHECKING:
    from kepler.ml.store import ModelStore
    from kepler.server.context import ServerContext

KIND = "reproduce"


@dataclass(frozen=True)
class Original:
    """What a version recorded that reproducing it needs."""

    ref: str  # name@version
    name: str
    version: int
    spec: dict[str, Any]  # a FitSpec's dict, into the same model
    dataset_id: str | None
    content_hash: str | None
    packages: dict[str, str]  # recorded at fit; empty: fitted before Kepler recorded them
    metrics: dict[str, float]
    meta: dict[str, Any]
    automl: bool


def original(models: ModelStore, ref: ModelRef) -> Original:
    """The version ``ref`` names, as its run recorded it."""
    from kepler.ml import environment

    info = models.resolve(ref)
    record = models.record(info)
    tags, summary = record["tags"], record["summary"]
    meta = summary.get("meta") or {}
    spec = summary.get("spec") or _spec_from_meta(meta)
    return Original(
        ref=f"{info.name}@{info.version}",
        name=info.name,
        version=info.version,
        spec={**spec, "into": info.name},
        dataset_id=tags.get("kepler.dataset.dataset_id"),
        content_hash=tags.get("kepler.dataset.content_hash"),
        packages=environment.from_tags(tags),
        metrics=dict(record["metrics"]),
        meta=meta,
        automl="mlflow.parentRunId" in tags,
    )


def _spec_from_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """A version fitted before Kepler kept its spec: the same fit, rebuilt from its meta
    (features as they were expanded)."""
    if not meta.get("algorithm"):
        raise NotReproducible(
            "this version records no algorithm or spec: it was not fitted by Kepler's fit"
        )
    by = list(meta.get("by") or [])
    return FitSpec(
        algorithm=meta["algorithm"],
        target=meta.get("target"),
        features=tuple(f for f in meta.get("features") or [] if f not in by),
        params=dict(meta.get("params") or {}),
        output_name=meta.get("output_name"),
        probabilities=bool(meta.get("probabilities")),
        holdout=float(meta.get("holdout") or 0.0),
        by=tuple(by),
    ).to_dict()


def check_dataset(ctx: ServerContext, found: Original) -> str:
    """The original's dataset id, refused clearly when it is gone or not the same data."""
    if found.automl:
        raise NotReproducible(
            f"{found.ref} was chosen by AutoML, whose search (trials, cross-validation, "
            "feature work) a single fit does not replay; run the same automl again with "
            "seed=<n> instead",
            detail={"ref": found.ref},
        )
    if not found.dataset_id:
        raise NotReproducible(
            f"{found.ref} records no dataset, so it cannot be retrained as it was",
            detail={"ref": found.ref},
        )
    try:
        manifest = ctx.datasets.manifest(found.dataset_id)
    except (DatasetNotFound, DatasetIncomplete):
        raise NotReproducible(
            f"{found.ref} cannot be reproduced: the dataset it was trained on "
            f"({found.dataset_id}) was deleted; fit the model again on new data instead",
            detail={"ref": found.ref, "dataset_id": found.dataset_id, "reason": "dataset"},
        ) from None
    if found.content_hash and manifest.content_hash and found.content_hash != manifest.content_hash:
        raise NotReproducible(
            f"{found.ref} cannot be reproduced: dataset {found.dataset_id} no longer holds "
            "the rows it was trained on (its content hash changed)",
            detail={"ref": found.ref, "dataset_id": found.dataset_id, "reason": "dataset"},
        )
    return found.dataset_id


def submit_reproduce(
    ctx: ServerContext, ref: ModelRef, *, force: bool = False, user: str | None = None
) -> Job:
    """The bridge's side: check that ``ref`` can be reproduced, record the job, queue it."""
    found = original(ctx.models, ref)
    dataset_id = check_dataset(ctx, found)
    spec = {**found.spec, "reproduces": found.ref, "force": bool(force)}
    job = ctx.jobs.create(KIND, spec, model=found.name, dataset_id=dataset_id, user=user)
    enqueue_reproduce(ctx.celery, dataset_id, job.id)
    return job


def run_reproduce(ctx: ServerContext, dataset_id: str, job_id: str) -> dict[str, Any]:
    """The worker's side; the job's result names the new version and holds the report."""
    telemetry = ctx.telemetry
    result, ran = run_once(
        ctx.jobs,
        job_id,
        lambda job: _reproduce(ctx, dataset_id, job_id, job.spec, user=job.user),
        telemetry=telemetry,
        what="reproduce job",
        limits=ctx.limits,
    )
    if ran and telemetry.enabled:
        telemetry.fit(job_id, result, ctx.jobs.get(job_id).to_dict().get("duration_s"))
        telemetry.flush()
    return result


def package_refusal(ref: str, differences: list[dict[str, Any]], recorded: bool) -> NotReproducible:
    if not recorded:
        return NotReproducible(
            f"{ref} records no package versions (it was fitted before Kepler recorded "
            "them), so a reproduction cannot be checked against them; reproduce it with "
            "force=true to go ahead (the new version records that it was forced)",
            detail={"ref": ref, "reason": "packages", "packages": []},
        )
    listed = "; ".join(
        f"{d['package']}: recorded {d['recorded']}, installed {d['installed'] or 'none'}"
        for d in differences
    )
    return NotReproducible(
        f"{ref} was fitted with other package versions than this worker has ({listed}); "
        "install the recorded versions, or reproduce with force=true to go ahead (the "
        "difference is recorded on the new version)",
        detail={"ref": ref, "reason": "packages", "packages": differences},
    )


def _reproduce(
    ctx: ServerContext,
    dataset_id: str,
    job_id: str,
    spec_dict: dict[str, Any],
    *,
    user: str | None,
) -> dict[str, Any]:
    from kepler.ml import environment
    from kepler.ml import reproduce as rules
    from kepler.ml.store import reproduction_tags

    ref = ModelRef.parse(str(spec_dict["reproduces"]))
    force = bool(spec_dict.get("force"))
    found = original(ctx.models, ref)  # read again: what the run records now
    check_dataset(ctx, found)
    differences = environment.differences(found.packages)
    if (differences or not found.packages) and not force:
        raise package_refusal(found.ref, differences, bool(found.packages))
    if not found.packages:
        differences = [{"package": "*", "recorded": None, "installed": "(not recorded)"}]
    forced = force and bool(differences)  # what force=true let through, if anything
    spec = FitSpec.from_dict(found.spec)
    trained, manifest = train_on_dataset(ctx, dataset_id, job_id, spec)
    rule = rules.rule_for(spec.algorithm, trained.pipeline.named_steps["model"])
    rows = rules.compare(
        found.metrics,
        trained.metrics,
        rule,
        split=(found.meta, trained.meta.to_dict()),
    )
    verdict = rules.verdict(rows)
    kept: list[dict[str, Any]] = list(differences) if forced else []
    report: dict[str, Any] = {
        "reproduces": found.ref,
        "verdict": verdict,
        "rule": rule.to_dict(),
        "forced": forced,
        "package_differences": kept,
        "comparison": rows,
    }
    registered = register_trained(
        ctx,
        job_id,
        trained,
        found.name,
        manifest,
        user=user,
        tags=reproduction_tags(found.ref, verdict, rule.kind, forced, kept),
        notes={"reproduction": report},
    )
    return {
        **report,
        "model": registered.name,
        "version": registered.version,
        "run_id": registered.run_id,
        "user": user,
        "algorithm": spec.algorithm,
        "metrics": trained.metrics,
        "rows": manifest.rows,
        "dataset_id": dataset_id,
    }
