"""The Celery application both sides build from settings: the bridge sends, workers run.

Redis (``redis://``) in production; kombu's SQLAlchemy transport over SQLite
(``sqla+sqlite://``) in the embedded default, so no server is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from kepler.server.settings import ServerSettings

# Every task name, in one place: the bridge and the beat send them, the workers register
# them (kepler_workers.tasks), the time limits key on them.
FIT_TASK = "kepler.fit"
REPRODUCE_TASK = "kepler.reproduce"
APPLY_TASK = "kepler.apply"
SCORE_TASK = "kepler.score"
MONITOR_TASK = "kepler.monitor"
RETRAIN_TASK = "kepler.retrain"
AUTOML_TASK = "kepler.automl"
AUTOML_TRIAL_TASK = "kepler.automl_trial"
AUTOML_FINALISE_TASK = "kepler.automl_finalise"
SQLITE_TRANSPORT = "kepler.server.sqlite_transport:SQLiteTransport"


class Broker(Protocol):
    """What Kepler asks of a Celery application: send a task by name (tests give a
    queue of their own)."""

    def send_task(self, name: str, args: Any = None, **options: Any) -> Any: ...


def make_celery(s: ServerSettings) -> Any:  # a celery.Celery (untyped)
    from celery import Celery

    if s.broker_url.startswith("sqla+sqlite:///"):
        Path(s.broker_url.removeprefix("sqla+sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    broker, transport = s.broker_url, None
    if broker.startswith("sqla+"):
        broker, transport = broker.removeprefix("sqla+"), SQLITE_TRANSPORT
    app = Celery("kepler", broker=broker)
    if transport:
        app.conf.broker_transport = transport
    app.conf.update(
        # Ids in, ids out; never pickle what crosses the broker.
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        # A task is acknowledged when done, so a worker lost mid-fit hands it on.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue="kepler",
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        worker_concurrency=s.worker_concurrency,
        # Pool processes import the ML stack when they start (see kepler_workers.app):
        # give them longer than Celery's 4 s to report in on a busy machine.
        worker_proc_alive_timeout=120,
        enable_utc=True,
        # Celery's hard time limit per task: the backstop of the job's own (the heartbeat
        # fails the job at its KEPLER_JOB_TIME_LIMIT_<KIND>; see kepler.server.liveness).
        task_annotations=_time_limits(s),
    )
    return app


def _time_limits(s: ServerSettings) -> dict[str, dict[str, float]]:
    from kepler.server.liveness import GRACE_S

    by_task = {
        FIT_TASK: s.job_time_limit_fit,
        REPRODUCE_TASK: s.job_time_limit_fit,
        APPLY_TASK: s.job_time_limit_apply,
        SCORE_TASK: s.job_time_limit_score,
        MONITOR_TASK: s.job_time_limit_score,
        RETRAIN_TASK: s.job_time_limit_fit,
        AUTOML_TASK: s.job_time_limit_automl,
        AUTOML_TRIAL_TASK: s.job_time_limit_automl,
        AUTOML_FINALISE_TASK: s.job_time_limit_automl,
    }
    return {task: {"time_limit": limit + GRACE_S} for task, limit in by_task.items() if limit}


# A job's task carries the job's id as its own, so that a cancel can revoke it.


def enqueue_fit(celery: Broker, dataset_id: str, job_id: str) -> None:
    celery.send_task(FIT_TASK, args=[dataset_id, job_id], task_id=job_id)


def enqueue_reproduce(celery: Broker, dataset_id: str, job_id: str) -> None:
    celery.send_task(REPRODUCE_TASK, args=[dataset_id, job_id], task_id=job_id)


def enqueue_apply(celery: Broker, dataset_id: str, job_id: str) -> None:
    celery.send_task(APPLY_TASK, args=[dataset_id, job_id], task_id=job_id)


def enqueue_score(celery: Broker, job_id: str) -> None:
    celery.send_task(SCORE_TASK, args=[job_id], task_id=job_id)


def enqueue_monitor(celery: Broker, job_id: str) -> None:
    celery.send_task(MONITOR_TASK, args=[job_id], task_id=job_id)


def enqueue_retrain(celery: Broker, job_id: str) -> None:
    celery.send_task(RETRAIN_TASK, args=[job_id], task_id=job_id)


def enqueue_automl(celery: Broker, dataset_id: str, job_id: str) -> None:
    celery.send_task(AUTOML_TASK, args=[dataset_id, job_id], task_id=job_id)


def enqueue_trial(celery: Broker, job_id: str, lane: int, trial: int | None = None) -> None:
    """Lane ``lane`` of AutoML job ``job_id``; ``trial``: a seeded round's drawn trial to
    evaluate (None: the lane asks for its own). Many tasks per job: no task id of its own."""
    celery.send_task(AUTOML_TRIAL_TASK, args=[job_id, lane, trial])


def enqueue_finalise(celery: Broker, job_id: str) -> None:
    celery.send_task(AUTOML_FINALISE_TASK, args=[job_id])


def revoke(celery: Any, settings: ServerSettings, job_id: str) -> bool:
    """Ask every worker to drop job ``job_id``'s task, killing the process that runs it.
    Only a broker with broadcasts (Redis) carries the request; on the embedded SQL broker
    the job's heartbeat stops it instead. Best effort: False when not sent."""
    if settings.broker_url.startswith("sqla+"):
        return False
    try:
        celery.control.revoke(job_id, terminate=True, signal="SIGKILL")
    except Exception:  # the row says cancelled; the heartbeat stops the work anyway
        return False
    return True
