"""Scores back into Splunk: scored rows as HEC events, and the async apply job.

``| kepler apply pump index=scores`` writes each scored row as one event (the row's fields
as a JSON object, ``_time`` as the event's time, Splunk's other ``_`` fields left out)
through the bridge's sender; ``async=t`` stores the search's events as a dataset and a
worker scores it batch by batch with :func:`run_apply_job`, writing through its own
sender. A batch counts as written once ``flush()`` says it is in Splunk or in the disk
queue, and the job records it, so a redelivered job resumes after the last written batch.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from typing import Any

from kepler.core.errors import HecNotConfigured
from kepler.hec import HecEvent, HecSender, HecSettings, make_event
from kepler.server.jobs import JobStore, run_once
from kepler.server.liveness import JobLimits
from kepler.server.settings import ServerSettings

log = logging.getLogger(__name__)
DEFAULT_SOURCETYPE = "kepler:score"
BATCH_ROWS = 50_000
NOT_CONFIGURED = (
    "writing scores to an index needs Splunk's HTTP Event Collector: set KEPLER_HEC_URL and "
    "KEPLER_HEC_TOKEN where the bridge and workers run, or fill in the HEC tab of Kepler's "
    "setup page in Splunk"
)


def hec_target(base: HecSettings, headers: dict[str, str] | None = None) -> HecSettings:
    """The bridge's HEC settings, overridden by what Splunk's setup page sent in
    ``X-Kepler-Hec-*`` headers (the token only ever in a header, never in a URL or log)."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    url = headers.get("x-kepler-hec-url")
    token = headers.get("x-kepler-hec-token")
    if not (url and token):
        return base
    ack = headers.get("x-kepler-hec-ack", "")
    verify = headers.get("x-kepler-hec-verify-tls", "")
    return HecSettings(
        **{
            **base.model_dump(),
            "url": url,
            "token": token,
            "ack": ack.lower() in ("1", "true", "t", "yes") if ack else base.ack,
            "verify_tls": verify.lower() not in ("0", "false", "f", "no") if verify else True,
            "index": headers.get("x-kepler-hec-index") or base.index,
        }
    )


def rows_to_events(
    rows: list[dict[str, Any]],
    *,
    index: str | None,
    sourcetype: str | None,
    source: str,
    host: str | None = None,
) -> Iterator[HecEvent]:
    """One event per scored row; ``_time`` (epoch seconds, as Splunk sends it) becomes the
    event's time, other ``_`` fields and empty cells are left out."""
    for row in rows:
        when = row.get("_time")
        payload = {
            k: v
            for k, v in row.items()
            if not k.startswith("_") and v is not None and v != "" and not _nan(v)
        }
        yield make_event(
            payload,
            time=_epoch(when),
            index=index,
            sourcetype=sourcetype or DEFAULT_SOURCETYPE,
            source=source,
            host=host,
        )


def _nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _epoch(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) else None


def write_table(
    sender: HecSender,
    table: Any,
    *,
    index: str | None,
    sourcetype: str | None,
    source: str,
) -> int:
    """Send a scored Arrow table's rows; returns how many."""
    return sender.send_many(
        rows_to_events(table.to_pylist(), index=index, sourcetype=sourcetype, source=source)
    )


def run_apply_job(dataset_id: str, job_id: str, settings: ServerSettings) -> dict[str, Any]:
    """Score a stored dataset with the job's pinned model version and write every row to HEC."""
    from kepler.server.telemetry import Telemetry, sender_for

    telemetry = Telemetry(settings.hec, component="worker")
    jobs = JobStore(settings.database_url, telemetry=telemetry)

    def work(job: Any) -> dict[str, Any]:
        done_batches = int((job.result or {}).get("batches_written") or 0)  # a redelivery resumes
        sender = sender_for(settings.hec)
        if sender is None:
            raise HecNotConfigured(NOT_CONFIGURED)
        return _apply(dataset_id, job_id, job.spec, sender, jobs, telemetry, settings, done_batches)

    result, ran = run_once(
        jobs,
        job_id,
        work,
        telemetry=telemetry,
        what="apply job",
        limits=JobLimits.from_settings(settings),
    )
    if ran:
        telemetry.flush()
    return result


def _apply(
    dataset_id: str,
    job_id: str,
    spec: dict[str, Any],
    sender: HecSender,
    jobs: JobStore,
    telemetry: Any,
    settings: ServerSettings,
    done_batches: int,
) -> dict[str, Any]:
    import pyarrow as pa

    from kepler.server.fitting import dataset_store, model_store
    from kepler.server.scoring import score_table

    name, version = str(spec["model"]), int(spec["version"])
    pipeline, meta = model_store(settings).load(name, version)
    datasets = dataset_store(settings)
    total = max(1, datasets.manifest(dataset_id).rows)
    source = f"kepler:apply:{name}@{version}"
    rows_written = events = 0
    start_report = sender.report()
    for n, batch in enumerate(datasets.iter_batches(dataset_id, batch_size=BATCH_ROWS)):
        if n < done_batches:
            rows_written += batch.num_rows
            continue
        started = time.perf_counter()
        scored = score_table(
            pipeline,
            meta,
            pa.Table.from_batches([batch]),
            probabilities=spec.get("probabilities"),
            output_name=spec.get("output_name"),
        )
        events += write_table(
            sender,
            scored,
            index=spec.get("index"),
            sourcetype=spec.get("sourcetype"),
            source=source,
        )
        sender.flush()  # in Splunk or in the disk queue before the batch counts as written
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
    return {
        "model": name,
        "version": version,
        "rows": rows_written,
        "index": spec.get("index"),
        "sourcetype": spec.get("sourcetype") or DEFAULT_SOURCETYPE,
        "events_written": events,  # in Splunk, or in the worker's disk queue
        "rejected": report.rejected - start_report.rejected,
        "queued_on_disk": report.spooled,
    }
