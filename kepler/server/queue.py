"""The Celery application both sides build from settings: the bridge sends, workers run.

Redis (``redis://``) in production; kombu's SQLAlchemy transport over SQLite
(``sqla+sqlite://``) in the embedded default, so no server is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kepler.server.settings import ServerSettings

FIT_TASK = "kepler.fit"
APPLY_TASK = "kepler.apply"
SCORE_TASK = "kepler.score"
SQLITE_TRANSPORT = "kepler.server.sqlite_transport:SQLiteTransport"


def make_celery(s: ServerSettings) -> Any:
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
    )
    return app


def enqueue_fit(celery: Any, dataset_id: str, job_id: str) -> None:
    celery.send_task(FIT_TASK, args=[dataset_id, job_id])


def enqueue_apply(celery: Any, dataset_id: str, job_id: str) -> None:
    celery.send_task(APPLY_TASK, args=[dataset_id, job_id])


def enqueue_score(celery: Any, job_id: str) -> None:
    celery.send_task(SCORE_TASK, args=[job_id])
