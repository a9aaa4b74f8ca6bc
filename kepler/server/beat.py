"""The beat: fire due schedules, one job each, onto the workers' queue; reap jobs whose
worker died, ran out of time or lost their message (:func:`kepler.server.liveness.reap`,
every :data:`REAP_EVERY_S` at most); and every :data:`SWEEP_EVERY_S` have AutoML runs
that lost their tasks finalised (:func:`kepler.server.automl.sweep`).

A loop over the schedules table (what ``kepler beat`` runs and ``kepler up`` starts): every
``tick`` seconds it claims each due schedule (a conditional UPDATE, so two beats never fire
one slot twice), records a ``score`` job and sends its id to the workers. All state is in
the database: a beat stopped and started again picks up where the table says, and a
schedule whose slots passed while nothing ran fires once, not once per missed slot.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path
from typing import Any

from kepler.server import automl
from kepler.server.jobs import Job, JobStore
from kepler.server.liveness import JobLimits, reap
from kepler.server.queue import enqueue_score
from kepler.server.scheduled import SCORE_KIND, schedule_spec
from kepler.server.schedules import Schedule, ScheduleStore
from kepler.server.settings import ServerSettings

log = logging.getLogger("kepler.beat")

TICK_S = 1.0
REAP_EVERY_S = 5.0  # at most; more often when KEPLER_JOB_HEARTBEAT_S is shorter
SWEEP_EVERY_S = 30.0  # how often the beat looks for AutoML runs that lost their tasks
# A beat whose last good tick is older than this is unhealthy (`kepler beat --check`).
HEALTHY_WITHIN_S = 30.0


def heartbeat_path(settings: ServerSettings) -> Path:
    """The file a beat touches after each good tick: one per host, so a container's
    health check reads its own beat's."""
    return settings.home / f"beat-{socket.gethostname()}.alive"


def healthy(settings: ServerSettings, within_s: float = HEALTHY_WITHIN_S) -> bool:
    """Whether this host's beat completed a tick in the last ``within_s`` seconds."""
    try:
        return time.time() - heartbeat_path(settings).stat().st_mtime < within_s
    except FileNotFoundError:
        return False


def fire(
    sched: Schedule,
    *,
    jobs: JobStore,
    schedules: ScheduleStore,
    celery: Any,
    trigger: str,
    user: str | None = None,
) -> Job:
    """Record a run of ``sched`` as a job and queue it; a run the broker refused is
    recorded as failed, not left queued forever. The job's user is whoever ran it now
    (``user``), else the schedule itself (``schedule:<name>``) for the beat's runs."""
    job = jobs.create(
        SCORE_KIND,
        schedule_spec(sched, trigger=trigger),
        model=sched.model,
        user=user or f"schedule:{sched.name}",
    )
    schedules.ran(sched.id, job.id, job.created_at)
    try:
        enqueue_score(celery, job.id)
    except Exception as exc:
        jobs.fail(
            job.id,
            {
                "code": "internal",
                "status": 500,
                "message": f"the run of schedule {sched.name!r} could not be queued: the "
                f"broker did not take it ({type(exc).__name__}); check KEPLER_BROKER_URL",
            },
        )
        raise
    return job


def tick(now: float, *, jobs: JobStore, schedules: ScheduleStore, celery: Any) -> list[Job]:
    fired = []
    for sched in schedules.due(now):
        if schedules.claim(sched, now) is None:
            continue  # another beat fired this slot
        fired.append(fire(sched, jobs=jobs, schedules=schedules, celery=celery, trigger="beat"))
        log.info("schedule %s fired job %s", sched.name, fired[-1].id)
    return fired


def run_beat(
    settings: ServerSettings, stop: threading.Event | None = None, tick_s: float = TICK_S
) -> None:
    from kepler.server.queue import make_celery

    stop = stop or threading.Event()
    from kepler.server.telemetry import Telemetry

    jobs = JobStore(settings.database_url, telemetry=Telemetry(settings.hec, component="beat"))
    schedules = ScheduleStore(settings.database_url)
    celery = make_celery(settings)
    log.info("beat started: %d schedule(s)", len(schedules.list()))
    alive = heartbeat_path(settings)
    alive.parent.mkdir(parents=True, exist_ok=True)
    limits = JobLimits.from_settings(settings)
    reap_every = min(REAP_EVERY_S, limits.heartbeat_s)
    swept = reaped = 0.0
    while not stop.is_set():
        try:
            now = time.time()
            tick(now, jobs=jobs, schedules=schedules, celery=celery)
            if now - reaped >= reap_every:
                reaped = now
                reap(now, jobs=jobs, celery=celery, limits=limits)
            if now - swept >= SWEEP_EVERY_S:
                swept = now
                for job_id in automl.sweep(now, settings, celery):
                    log.warning("automl job %s lost its tasks: finalising it", job_id)
            alive.touch()  # only a tick that reached the database and broker counts
        except Exception:  # a database or broker hiccup must not end the beat
            log.exception("beat tick failed; trying again")
        stop.wait(tick_s)
    log.info("beat stopped")
