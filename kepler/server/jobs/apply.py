"""Async apply jobs: accepted by the bridge (:func:`submit_apply`), run by a worker
(:func:`run_apply`).

``| kepler apply pump index=scores async=t`` stores the search's events as a dataset and
a worker runs :func:`run_apply`: the job's pinned version, from the process's model cache,
scores the dataset batch by batch (:func:`~kepler.server.scoring.score`) and each batch
is delivered through the worker's own sender (:func:`~kepler.server.scoring.deliver`: one
event per row, ``_time`` as the event's time). A batch counts as written once it is in
Splunk or in the disk queue, and the job records it, so a redelivered job resumes after
the last written batch.

With ``shadow`` (``apply pump shadow=pump@5 async=t``), the challenger pinned when the job
was queued scores every batch too (:class:`~kepler.server.scoring.shadow.Shadow`): one
``kepler:shadow`` event a batch, and the job's result sums them up.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from kepler.core import wire
from kepler.core.errors import DataError, HecNotConfigured, InvalidSpec
from kepler.core.refs import ModelRef
from kepler.hec import HecSender
from kepler.server.jobs.runner import run_once
from kepler.server.queue import enqueue_apply
from kepler.server.scoring import DEFAULT_SOURCETYPE, NOT_CONFIGURED, ScoreOptions, deliver, score
from kepler.server.scoring.shadow import Shadow, summarize
from kepler.server.stores.jobs import Job

if TYPE_CHECKING:
    from kepler.server.context import ServerContext

log = logging.getLogger(__name__)
BATCH_ROWS = 50_000


def submit_apply(ctx: ServerContext, request: dict[str, Any], *, user: str | None = None) -> Job:
    """The bridge's side: the model version is pinned now, the dataset must be complete."""
    if not ctx.settings.hec.enabled:
        # The workers write with the deployment's KEPLER_HEC_* (a token never travels
        # through the broker or the jobs table): the bridge shares that configuration.
        raise HecNotConfigured(NOT_CONFIGURED + " (async=t writes from the workers)")
    manifest = ctx.datasets.manifest(request["dataset_id"])
    if manifest.rows == 0:
        raise DataError("the dataset has no rows; check the search or frame you sent")
    version = ctx.models.resolve(ModelRef.parse(request["model"]))
    _, (_, meta) = ctx.cache.fetch(ModelRef(version.name, version=version.version))
    if meta.task == "forecaster":  # the workers score in batches; a series runs whole
        raise InvalidSpec(
            f"{version.name} is a {meta.algorithm}: a forecaster runs over one whole series "
            "at once, not in the workers' batches; apply it without async "
            f"(POST {wire.apply(version.name)}, kp.forecast, or `| kepler apply` "
            "with index=)"
        )
    shadow = None
    if request.get("shadow"):  # pinned now, as the champion is: one version scores the job
        challenger = ctx.models.resolve(ModelRef.parse(request["shadow"]))
        shadow = f"{challenger.name}@{challenger.version}"
    spec = {
        "model": version.name,
        "version": version.version,
        "index": request["index"],
        "sourcetype": request.get("sourcetype"),
        "output_name": request.get("output_name"),
        "probabilities": request.get("probabilities"),
        "rows": manifest.rows,
        "shadow": shadow,
    }
    job = ctx.jobs.create(
        "apply", spec, model=version.name, dataset_id=request["dataset_id"], user=user
    )
    enqueue_apply(ctx.celery, request["dataset_id"], job.id)
    return job


def run_apply(ctx: ServerContext, dataset_id: str, job_id: str) -> dict[str, Any]:
    """The worker's side: score a stored dataset with the job's pinned model version and
    write every row to HEC."""

    def work(job: Job) -> dict[str, Any]:
        done_batches = int((job.result or {}).get("batches_written") or 0)  # a redelivery resumes
        sender = ctx.senders.own(ctx.settings.hec)
        if sender is None:
            raise HecNotConfigured(NOT_CONFIGURED)
        return _apply(ctx, dataset_id, job_id, job.spec, sender, done_batches, user=job.user)

    result, ran = run_once(
        ctx.jobs, job_id, work, telemetry=ctx.telemetry, what="apply job", limits=ctx.limits
    )
    if ran:
        ctx.telemetry.flush()
    return result


def _apply(
    ctx: ServerContext,
    dataset_id: str,
    job_id: str,
    spec: dict[str, Any],
    sender: HecSender,
    done_batches: int,
    *,
    user: str | None = None,
) -> dict[str, Any]:
    import pyarrow as pa

    jobs, telemetry = ctx.jobs, ctx.telemetry
    name, version = str(spec["model"]), int(spec["version"])
    _, model = ctx.cache.fetch(ModelRef(name, version=version))
    options = ScoreOptions.of_job(spec)
    shadow = None
    if spec.get("shadow"):
        shadow = Shadow(
            ctx.cache,
            telemetry,
            (name, version),
            ModelRef.parse(str(spec["shadow"])),
            user=user,
            context={"mode": "async", "job": job_id},
        )
    datasets = ctx.datasets
    total = max(1, datasets.manifest(dataset_id).rows)
    rows_written = events = 0
    start_report = sender.report()
    for n, batch in enumerate(datasets.iter_batches(dataset_id, batch_size=BATCH_ROWS)):
        if n < done_batches:
            rows_written += batch.num_rows
            continue
        started = time.perf_counter()
        events += deliver(
            sender,
            score(model, pa.Table.from_batches([batch]), options, shadow=shadow),
            index=spec.get("index"),
            sourcetype=spec.get("sourcetype"),
            source=f"kepler:apply:{name}@{version}",
        ).events  # settled: in Splunk or in the disk queue before the batch counts
        rows_written += batch.num_rows
        jobs.checkpoint(job_id, {"batches_written": n + 1, "rows": rows_written})
        jobs.progress(job_id, rows_written / total, f"scored and wrote {rows_written:,} rows")
        telemetry.apply_batch(
            name,
            version,
            rows=batch.num_rows,
            latency_s=time.perf_counter() - started,
            mode="async",
        )
    report = sender.report()
    result: dict[str, Any] = {
        "model": name,
        "version": version,
        "rows": rows_written,
        "index": spec.get("index"),
        "sourcetype": spec.get("sourcetype") or DEFAULT_SOURCETYPE,
        "events_written": events,  # in Splunk, or in the worker's disk queue
        "rejected": report.rejected - start_report.rejected,
        "queued_on_disk": report.spooled,
    }
    if shadow is not None:
        result["shadow"] = summarize(shadow.events)
    return result
