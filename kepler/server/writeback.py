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
from urllib.parse import urlsplit

from kepler.core.errors import Forbidden, HecNotConfigured, HecUnavailable
from kepler.hec import HecEvent, HecReport, HecSender, HecSettings, make_event
from kepler.hec._settings import base_url_problem, safe_url
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
    ``X-Kepler-Hec-*`` headers (the token only ever in a header, never in a URL or log).

    Design: a caller chooses its target only among those an admin allowed. Holding a
    bridge token must not let anyone make the bridge POST anywhere (an open relay into
    internal networks) or switch TLS checks off; so the URL must match
    ``KEPLER_HEC_ALLOWED_URLS`` (base URLs: scheme, host and port equal, the path a prefix
    at a ``/``; parsed, never compared as strings, so ``https://splunk:8088.evil`` is not
    ``https://splunk:8088``) or be the bridge's own ``KEPLER_HEC_URL`` (the only one by
    default); and
    ``X-Kepler-Hec-Verify-Tls: false`` is honoured only with
    ``KEPLER_HEC_ALLOW_TLS_VERIFY_OFF=true``. A refused target is a 403 naming the setting
    (the request is refused rather than quietly sent elsewhere, so the Splunk user sees why).
    The token is the caller's: it is kept only in memory, and the disk queue is keyed by a
    hash of URL and token, so a queued batch only ever goes back to its own target."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    url = headers.get("x-kepler-hec-url")
    token = headers.get("x-kepler-hec-token")
    if not (url and token):
        return base
    ack = headers.get("x-kepler-hec-ack", "")
    verify = headers.get("x-kepler-hec-verify-tls", "")
    verify_tls = verify.lower() not in ("0", "false", "f", "no") if verify else True
    target = HecSettings(
        **{
            **base.model_dump(),
            "url": url,
            "token": token,
            "ack": ack.lower() in ("1", "true", "t", "yes") if ack else base.ack,
            "verify_tls": verify_tls,
            "index": headers.get("x-kepler-hec-index") or base.index,
        }
    )
    problem = base_url_problem(target.url)
    if problem:
        raise HecNotConfigured(
            f"the HEC URL Splunk sent (X-Kepler-Hec-Url, the setup page's HEC tab) "
            f"{problem}: give one such as https://splunk.example.com:8088"
        )
    allowed = [*base.allowed_urls, *([base.url] if base.url else [])]
    if not any(_allows(entry, target.url) for entry in allowed):
        listed = ", ".join(safe_url(a) for a in allowed) or "none"
        raise Forbidden(
            f"this bridge does not write to HEC at {target.safe_url()} (the URL in the setup "
            f"page's HEC tab, sent as X-Kepler-Hec-Url); allowed: {listed}. An admin allows it "
            "by adding it to KEPLER_HEC_ALLOWED_URLS (comma-separated base URLs) where the "
            "bridge runs, or the setup page can name an allowed URL",
            detail={"setting": "KEPLER_HEC_ALLOWED_URLS", "url": target.safe_url()},
        )
    if not verify_tls and not base.allow_tls_verify_off:
        raise Forbidden(
            f"the setup page's HEC tab asks to write to {target.safe_url()} without checking "
            "its TLS certificate, which this bridge does not allow: turn 'verify TLS' on in "
            "the HEC tab (with a certificate the bridge trusts: KEPLER_HEC_CA_BUNDLE), or an "
            "admin sets KEPLER_HEC_ALLOW_TLS_VERIFY_OFF=true where the bridge runs",
            detail={"setting": "KEPLER_HEC_ALLOW_TLS_VERIFY_OFF", "url": target.safe_url()},
        )
    return target


def _allows(entry: str, url: str) -> bool:
    if entry == "*":
        return True
    a, b = urlsplit(entry.rstrip("/")), urlsplit(url.rstrip("/"))
    default = {"http": 80, "https": 443}
    if a.scheme != b.scheme or (a.hostname or "") != (b.hostname or ""):
        return False
    if (a.port or default.get(a.scheme)) != (b.port or default.get(b.scheme)):
        return False
    prefix = a.path.rstrip("/")
    return b.path == prefix or b.path.startswith(prefix + "/")


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
    """Send a scored Arrow table's rows, all or none (a full queue raises HecQueueFull and
    takes none of them); returns how many."""
    return sender.send_many(
        rows_to_events(table.to_pylist(), index=index, sourcetype=sourcetype, source=source),
        atomic=True,
    )


def settle(sender: HecSender, sent: int) -> HecReport:
    """Wait, at most ``KEPLER_HEC_FLUSH_TIMEOUT``, until what was sent is in Splunk or in the
    disk queue; past it, HecUnavailable (the events stay with the sender: not lost)."""
    s = sender.settings
    report = sender.flush(s.flush_timeout)
    if report.pending:
        raise HecUnavailable(
            f"HEC at {s.safe_url()} did not take {sent} events within {s.flush_timeout:g}s "
            f"(KEPLER_HEC_FLUSH_TIMEOUT; last error: {report.last_error or 'none'}) and they "
            "could not be written to the disk queue yet; they are kept and sent when HEC "
            "answers. Check Splunk's HTTP Event Collector and the disk of the HEC queue",
            detail={"hec_url": s.safe_url(), "pending": report.pending},
        )
    return report


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
        settle(sender, events)  # in Splunk or in the disk queue before the batch counts
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
