"""What every worker-side job runner does around its work: once, and failed with a safe
message (:func:`run_once`). The job kinds (:mod:`kepler.server.jobs`) call it."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from kepler.core.errors import KeplerError
from kepler.server.stores.jobs import CANCELLED, FAILED, RUNNING, SUCCEEDED, Job, JobStore

if TYPE_CHECKING:
    from kepler.server.liveness import JobLimits

_log = logging.getLogger(__name__)


class Flushes(Protocol):
    """What :func:`run_once` needs of telemetry: its events settled before a task ends."""

    def flush(self) -> None: ...


def run_once(
    jobs: JobStore,
    job_id: str,
    work: Callable[[Job], dict[str, Any]],
    *,
    telemetry: Flushes,
    what: str = "job",
    limits: JobLimits | None = None,
) -> tuple[dict[str, Any], bool]:
    """What every worker-side job runner does around its ``work``: a job already ended
    (succeeded, failed, cancelled) returns its stored outcome (a redelivered message does
    nothing twice); otherwise it is marked started, ``work(job)`` runs, and the job ends
    succeeded with its result or failed with the error's user-safe message. An unexpected
    exception fails the job with a message pointing at the worker's log and propagates
    (Celery records it).

    With ``limits`` (kepler.server.liveness) a heartbeat runs beside ``work``, a job that
    another worker runs (its heartbeat fresh) is left to it, and a job whose workers died
    ``max_attempts`` times fails naming why instead of starting again.

    Returns ``(result, ran)``: ``ran`` is true only when ``work`` ran and succeeded now.
    """
    from contextlib import nullcontext

    from kepler.server.liveness import Heartbeat, died_error

    job = jobs.get(job_id)
    if job.state == SUCCEEDED and job.result:
        return job.result, False
    if job.state in (FAILED, CANCELLED):
        return {"error": job.error}, False
    stale_s = limits.stale_s if limits is not None else None
    if (
        limits is not None
        and job.state == RUNNING
        and job.attempts >= limits.max_attempts
        and time.time() - job.last_seen > limits.stale_s
    ):
        error = died_error(job.attempts)
        jobs.fail(job_id, error, attempt=job.attempts)
        _log.warning("%s %s: %s", what, job_id, error["message"])
        telemetry.flush()
        return {"error": error}, False
    if not jobs.start(job_id, socket.gethostname(), stale_s=stale_s):
        now = jobs.get(job_id)
        _log.info("%s %s not started: it is %s", what, job_id, now.state)
        return {"skipped": True, "state": now.state}, False
    job = jobs.get(job_id)  # this attempt's number and start
    try:
        with Heartbeat(jobs, job, limits) if limits is not None else nullcontext():
            result = work(job)
    except KeplerError as exc:
        jobs.fail(job_id, exc.to_dict())
        _log.info("%s %s failed: %s", what, job_id, exc.message)
        telemetry.flush()
        return {"error": exc.to_dict()}, False
    except Exception:
        _log.exception("%s %s crashed", what, job_id)
        jobs.fail(job_id, internal_error(job_id))
        telemetry.flush()
        raise
    if not jobs.succeed(job_id, result):  # cancelled (or failed by its time limit) meanwhile
        return {"error": jobs.get(job_id).error}, False
    return result, True


def internal_error(job_id: str) -> dict[str, Any]:
    """A failed job's error when the worker crashed: no internals, where to look."""
    return {
        "code": "internal",
        "status": 500,
        "message": f"the worker hit an internal error on job {job_id}; its log has the details",
    }
