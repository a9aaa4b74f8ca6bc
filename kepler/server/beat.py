"""The beat: fire due schedules, one job each, onto the workers' queue; reap jobs whose
worker died, ran out of time or lost their message (:func:`kepler.server.liveness.reap`,
every :data:`REAP_EVERY_S` at most); and every :data:`SWEEP_EVERY_S` have AutoML runs
that lost their tasks finalised (:func:`kepler.server.jobs.automl.sweep.sweep`); every
``KEPLER_DATASET_RETENTION_EVERY_S`` remove the datasets retention allows
(:func:`kepler.server.datasets.catalog.retain`).

A loop over the schedules and monitors tables (what ``kepler beat`` runs and ``kepler up``
starts): every ``tick`` seconds it claims each due schedule or monitor (a conditional
UPDATE, so two beats never fire one slot twice), records a ``score`` (or ``monitor``) job
and sends its id to the workers (:func:`kepler.server.jobs.score.fire`,
:func:`kepler.server.jobs.monitor.fire`). All state is in
the database: a beat stopped and started again picks up where the table says, and a
schedule whose slots passed while nothing ran fires once, not once per missed slot.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kepler.server.datasets.catalog import retain
from kepler.server.jobs import monitor
from kepler.server.jobs.automl.sweep import sweep
from kepler.server.jobs.score import fire
from kepler.server.liveness import reap
from kepler.server.settings import ServerSettings
from kepler.server.stores.jobs import Job

if TYPE_CHECKING:
    from kepler.server.context import ServerContext

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


def tick(ctx: ServerContext, now: float) -> list[Job]:
    fired = []
    for sched in ctx.schedules.due(now):
        if ctx.schedules.claim(sched, now) is None:
            continue  # another beat fired this slot
        fired.append(fire(ctx, sched, trigger="beat"))
        log.info("schedule %s fired job %s", sched.name, fired[-1].id)
    for mon in ctx.monitors.due(now):
        if ctx.monitors.claim(mon, now) is None:
            continue
        fired.append(monitor.fire(ctx, mon, trigger="beat"))
        log.info("monitor %s fired job %s", mon.name, fired[-1].id)
    return fired


def run_beat(
    settings: ServerSettings, stop: threading.Event | None = None, tick_s: float = TICK_S
) -> None:
    from kepler.server.context import ServerContext

    stop = stop or threading.Event()
    ctx = ServerContext(settings, component="beat")
    try:
        _loop(ctx, stop, tick_s)
    finally:
        ctx.close()


def _loop(ctx: ServerContext, stop: threading.Event, tick_s: float) -> None:
    settings = ctx.settings
    log.info("beat started: %d schedule(s)", len(ctx.schedules.list()))
    alive = heartbeat_path(settings)
    alive.parent.mkdir(parents=True, exist_ok=True)
    limits = ctx.limits
    reap_every = min(REAP_EVERY_S, limits.heartbeat_s)
    swept = reaped = retained = 0.0
    while not stop.is_set():
        try:
            now = time.time()
            tick(ctx, now)
            if now - reaped >= reap_every:
                reaped = now
                reap(now, jobs=ctx.jobs, celery=ctx.celery, limits=limits)
            if now - swept >= SWEEP_EVERY_S:
                swept = now
                for job_id in sweep(ctx, now):
                    log.warning("automl job %s lost its tasks: finalising it", job_id)
            if now - retained >= settings.dataset_retention_every_s:
                retained = now
                for dataset_id in retain(ctx, now):
                    log.info("dataset %s removed by retention", dataset_id)
            alive.touch()  # only a tick that reached the database and broker counts
        except Exception:  # a database or broker hiccup must not end the beat
            log.exception("beat tick failed; trying again")
        stop.wait(tick_s)
    log.info("beat stopped")
