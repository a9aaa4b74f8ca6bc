"""Whether a job is still alive, and what becomes of one that is not: cancels, time
limits, attempt caps and the beat's reaper.

How liveness is known: from the job's row, never from Celery. The worker running a job
(:func:`kepler.server.jobs.runner.run_once`) keeps a :class:`Heartbeat` thread that sets the
row's ``heartbeat_at`` every ``KEPLER_JOB_HEARTBEAT_S``, for that attempt only. The same
UPDATE tells the worker whether the job is still its own: a job cancelled through the
bridge, failed by the reaper, or re-queued and started by another worker is not, and the
worker then stops the work. In a Celery pool process it kills itself (the lost hook the
worker installs, :func:`set_lost_hook`): Celery's pool replaces the process and hands the
message on, and whoever takes it finds the job ended and does nothing. The heartbeat also
enforces the job's time limit (``KEPLER_JOB_TIME_LIMIT_<KIND>``): past it, it fails the
job naming the setting and stops the work the same way.

Who reaps: the beat (``kepler beat``, started by ``kepler up``), with :func:`reap` every
few seconds, since Kepler has exactly one process that runs always and owns nothing else
that could die with a job. It finds

* running jobs past their time limit and :data:`GRACE_S` (Celery's hard ``time_limit``,
  set to the same, killed the worker's process; or the worker died): failed, naming the
  setting;
* running jobs whose heartbeat is older than ``KEPLER_JOB_STALE_S`` (their worker died
  whole: SIGKILL, out of memory, a lost machine; the SQL broker's message was consumed,
  Redis's comes back only after its visibility timeout): re-queued with a new message
  while attempts remain, else failed naming ``KEPLER_JOB_MAX_ATTEMPTS``;
* queued jobs untouched for ``KEPLER_JOB_RESEND_QUEUED_S`` (their message may have been
  lost with a broker): sent again.

Every change is a conditional UPDATE on the row as it was read, so two beats (or a beat
and a worker) never act twice; a message sent twice is harmless because a worker starts
a job only while it is queued, or running with a stale heartbeat (``JobStore.start``).

Attempts: each start counts one. A job started again while it was still ``running`` (its
last worker died: Celery re-delivered the message on ``task_reject_on_worker_lost``, or
the reaper re-queued it) whose count reached ``KEPLER_JOB_MAX_ATTEMPTS`` fails, naming why,
instead of starting: a fit that kills its worker every time stops after N tries.

AutoML jobs run as many short tasks on every worker and have their own sweep for lost
tasks (:func:`kepler.server.jobs.automl.sweep.sweep`); here they get only their time limit.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kepler.server.settings import ServerSettings
from kepler.server.stores.jobs import QUEUED, RUNNING, Job, JobStore

if TYPE_CHECKING:
    from kepler.server.queue import Broker

log = logging.getLogger(__name__)

# Beyond a job's time limit, how long the heartbeat gets to fail it before Celery's hard
# time limit kills the process and the reaper fails it.
GRACE_S = 30.0
KINDS = ("fit", "automl", "apply", "score")


@dataclass(frozen=True)
class JobLimits:
    """The lifecycle settings (``KEPLER_JOB_*``) as the worker and the beat use them."""

    time_limits: dict[str, float] = field(default_factory=dict)  # by kind; 0: none
    max_attempts: int = 3
    heartbeat_s: float = 5.0
    stale_s: float = 60.0
    resend_queued_s: float = 600.0

    @classmethod
    def from_settings(cls, s: ServerSettings) -> JobLimits:
        return cls(
            # A monitor run is a scheduled search as a score run is: the same limit; a
            # reproduction is a fit.
            time_limits={
                **{k: float(getattr(s, f"job_time_limit_{k}")) for k in KINDS},
                "monitor": float(s.job_time_limit_score),
                "reproduce": float(s.job_time_limit_fit),
                "retrain": float(s.job_time_limit_fit),  # a retraining run is a fit
            },
            max_attempts=s.job_max_attempts,
            heartbeat_s=s.job_heartbeat_s,
            stale_s=s.job_stale_s,
            resend_queued_s=s.job_resend_queued_s,
        )

    def time_limit(self, kind: str) -> float:
        return self.time_limits.get(kind, 0.0)


def time_limit_error(kind: str, limit: float) -> dict[str, Any]:
    return {
        "code": "time_limit",
        "status": 500,
        "message": f"the {kind} job ran past its time limit of {limit:g} s and was stopped; "
        f"raise KEPLER_JOB_TIME_LIMIT_{kind.upper()} (seconds, 0 for none) where the "
        "workers and the beat run, or give it less data",
        "detail": {"time_limit_s": limit},
    }


def died_error(attempts: int) -> dict[str, Any]:
    return {
        "code": "worker_lost",
        "status": 500,
        "message": f"the worker running this job died {attempts} time"
        f"{'s' if attempts != 1 else ''} (out of memory?); raise KEPLER_JOB_MAX_ATTEMPTS "
        "or give the worker more memory",
        "detail": {"attempts": attempts},
    }


# -- the worker's side -----------------------------------------------------------------

_lost_hook: Callable[[], None] | None = None


def set_lost_hook(hook: Callable[[], None] | None) -> None:
    """What a worker does when the job it runs is no longer its own (cancelled, failed
    by the time limit, re-queued elsewhere). Celery's pool processes install
    :func:`kill_this_process`; elsewhere (tests, a solo worker) the work runs on and its
    outcome is discarded, since an ended job is never overwritten."""
    global _lost_hook
    _lost_hook = hook


def kill_this_process() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class Heartbeat:
    """``with Heartbeat(jobs, job, limits):`` around the work of one attempt."""

    def __init__(self, jobs: JobStore, job: Job, limits: JobLimits) -> None:
        self.jobs = jobs
        self.job = job
        self.limits = limits
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job.id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.limits.heartbeat_s + 5)

    def _run(self) -> None:
        job, limit = self.job, self.limits.time_limit(self.job.kind)
        started = job.started_at or time.time()
        while not self._stop.wait(self.limits.heartbeat_s):
            try:
                if limit and time.time() - started > limit:
                    self.jobs.fail(job.id, time_limit_error(job.kind, limit), attempt=job.attempts)
                    log.warning("job %s ran past its time limit (%g s): stopping", job.id, limit)
                    mine = False
                else:
                    mine = self.jobs.heartbeat(job.id, job.attempts)
            except Exception:  # a database hiccup: the reaper's bound is many beats long
                log.warning("job %s: heartbeat failed; trying again", job.id, exc_info=True)
                continue
            if not mine:
                if self._stop.is_set():
                    return  # the work ended meanwhile: nothing to stop
                log.warning("job %s is no longer this worker's: stopping it", job.id)
                self.lost.set()
                if _lost_hook is not None:
                    _lost_hook()
                return


# -- the beat's side -------------------------------------------------------------------


def resend(celery: Broker, job: Job) -> None:
    """Send ``job``'s message to the workers again, as it was first sent."""
    from kepler.server.queue import (
        APPLY_TASK,
        AUTOML_TASK,
        FIT_TASK,
        MONITOR_TASK,
        REPRODUCE_TASK,
        RETRAIN_TASK,
        SCORE_TASK,
    )

    tasks = {
        "fit": FIT_TASK,
        "reproduce": REPRODUCE_TASK,
        "apply": APPLY_TASK,
        "automl": AUTOML_TASK,
    }
    by_job = {"score": SCORE_TASK, "monitor": MONITOR_TASK, "retrain": RETRAIN_TASK}
    if job.kind in by_job:
        celery.send_task(by_job[job.kind], args=[job.id], task_id=job.id)
    elif job.kind in tasks:
        celery.send_task(tasks[job.kind], args=[job.dataset_id, job.id], task_id=job.id)
    else:
        raise ValueError(f"job {job.id} has kind {job.kind!r}, which no task runs")


def reap(now: float, *, jobs: JobStore, celery: Broker, limits: JobLimits) -> list[tuple[str, str]]:
    """One pass of the reaper (see the module's docstring). Returns ``(job id, what was
    done)`` for each job it acted on: ``failed``, ``requeued`` or ``resent``."""
    acted: list[tuple[str, str]] = []
    for job in jobs.unfinished():
        try:
            what = _reap_one(job, now, jobs=jobs, celery=celery, limits=limits)
        except Exception:  # one job the broker refused must not stop the others
            log.exception("reaper: could not act on job %s", job.id)
            continue
        if what:
            acted.append((job.id, what))
    return acted


def _reap_one(job: Job, now: float, *, jobs: JobStore, celery: Broker, limits: JobLimits) -> str:
    if job.state == QUEUED:
        if now - job.updated_at < limits.resend_queued_s:
            return ""
        waited = now - job.created_at
        if jobs.resent(job, f"queued; sent to the workers again after {waited:.0f} s"):
            resend(celery, job)
            log.warning("job %s: still queued after %.0f s; sent again", job.id, waited)
            return "resent"
        return ""
    if job.state != RUNNING:
        return ""
    limit = limits.time_limit(job.kind)
    if limit and job.started_at and now - job.started_at > limit + GRACE_S:
        if jobs.fail(job.id, time_limit_error(job.kind, limit), attempt=job.attempts):
            log.warning("job %s: past its time limit of %g s; failed", job.id, limit)
            return "failed"
        return ""
    if job.kind == "automl":  # many tasks, no one heartbeat: automl.sweep watches them
        return ""
    last = job.last_seen
    if now - last <= limits.stale_s:
        return ""
    if job.attempts >= limits.max_attempts:
        if jobs.fail(job.id, died_error(job.attempts), attempt=job.attempts):
            log.warning("job %s: its worker died %d times; failed", job.id, job.attempts)
            return "failed"
        return ""
    note = (
        f"re-queued: the worker running it ({job.worker or 'unknown'}) stopped answering "
        f"{now - last:.0f} s ago; attempt {job.attempts + 1} of {limits.max_attempts} next"
    )
    if jobs.requeue(job, note):
        resend(celery, job)
        log.warning("job %s: %s", job.id, note)
        return "requeued"
    return ""
