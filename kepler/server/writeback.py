"""Scores back into Splunk: where a caller's events may go, and the async apply job.

:func:`hec_target` decides the HEC target of a request (the bridge's own, or one an admin
allowed). ``| kepler apply pump index=scores async=t`` stores the search's events as a
dataset and a worker runs :func:`run_apply_job`: the job's pinned version, from this worker
process's model cache, scores the dataset batch by batch (:func:`~kepler.server.scoring.score`)
and each batch is delivered through the worker's own sender
(:func:`~kepler.server.scoring.deliver`: one event per row, ``_time`` as the event's time).
A batch counts as written once it is in Splunk or in the disk queue, and the job records
it, so a redelivered job resumes after the last written batch.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlsplit

from kepler.core.errors import Forbidden, HecNotConfigured
from kepler.core.refs import ModelRef
from kepler.hec import HecSender, HecSettings
from kepler.hec._settings import base_url_problem, safe_url
from kepler.server.jobs import JobStore, run_once
from kepler.server.liveness import JobLimits
from kepler.server.scoring import DEFAULT_SOURCETYPE, NOT_CONFIGURED, ScoreOptions, deliver, score
from kepler.server.settings import ServerSettings

log = logging.getLogger(__name__)
BATCH_ROWS = 50_000


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

    from kepler.server.fitting import dataset_store
    from kepler.server.model_cache import process_cache

    name, version = str(spec["model"]), int(spec["version"])
    _, model = process_cache(settings).fetch(ModelRef(name, version=version))
    options = ScoreOptions.of_job(spec)
    datasets = dataset_store(settings)
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
            score(model, pa.Table.from_batches([batch]), options),
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
