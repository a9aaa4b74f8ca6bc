"""The reaper and the heartbeat: jobs whose worker died are re-queued or failed with a
reason, jobs past their time limit fail naming the setting, lost messages are sent again,
and a worker stops a job that is no longer its own."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from typing import Any

import pytest
from pydantic import ValidationError

from kepler.server.db import Database
from kepler.server.liveness import Heartbeat, JobLimits, reap, set_lost_hook
from kepler.server.queue import make_celery
from kepler.server.settings import ServerSettings
from kepler.server.stores.jobs import CANCELLED, FAILED, QUEUED, RUNNING, JobStore

LIMITS = JobLimits(
    time_limits={"fit": 600.0, "automl": 600.0},
    max_attempts=3,
    heartbeat_s=0.05,
    stale_s=10.0,
    resend_queued_s=300.0,
)


@pytest.fixture
def jobs(settings: ServerSettings) -> JobStore:
    return JobStore(Database(settings.database_url))


@pytest.fixture
def celery(settings: ServerSettings) -> Any:
    return make_celery(settings)  # the embedded SQLite broker under the test's home


def sent(settings: ServerSettings) -> list[str]:
    """The task ids of the messages waiting in the embedded broker."""
    path = settings.broker_url.removeprefix("sqla+sqlite:///")
    with sqlite3.connect(path) as db:
        if not db.execute("SELECT name FROM sqlite_master WHERE name='kombu_message'").fetchall():
            return []  # nothing was ever sent
        payloads = [row[0] for row in db.execute("SELECT payload FROM kombu_message")]
    return [json.loads(p)["headers"]["id"] for p in payloads]


def running(jobs: JobStore, kind: str = "fit", attempts: int = 1, quiet_for: float = 60.0) -> str:
    job = jobs.create(kind, {}, dataset_id="d1")
    for n in range(attempts):
        assert jobs.start(job.id, f"host-{n}")
    jobs._update(job.id, heartbeat_at=time.time() - quiet_for)
    return job.id


def test_reap_requeues_a_job_whose_worker_went_quiet(
    jobs: JobStore, celery: Any, settings: ServerSettings
) -> None:
    job_id = running(jobs, quiet_for=60.0)
    alive = running(jobs, quiet_for=1.0)
    assert reap(time.time(), jobs=jobs, celery=celery, limits=LIMITS) == [(job_id, "requeued")]
    job = jobs.get(job_id)
    assert job.state == QUEUED and "stopped answering" in job.message
    assert "attempt 2 of 3" in job.message
    assert jobs.get(alive).state == RUNNING
    assert sent(settings) == [job_id]  # its message again, under the job's id
    # The next pass finds nothing to do: re-queued once.
    assert reap(time.time(), jobs=jobs, celery=celery, limits=LIMITS) == []


def test_reap_fails_a_job_whose_worker_died_max_attempts_times(
    jobs: JobStore, celery: Any, settings: ServerSettings
) -> None:
    job_id = running(jobs, attempts=3, quiet_for=60.0)
    assert reap(time.time(), jobs=jobs, celery=celery, limits=LIMITS) == [(job_id, "failed")]
    job = jobs.get(job_id)
    assert job.state == FAILED and job.error is not None
    assert job.message.startswith("the worker running this job died 3 times (out of memory?)")
    assert "raise KEPLER_JOB_MAX_ATTEMPTS" in job.message
    assert sent(settings) == []


def test_reap_fails_a_job_past_its_time_limit_naming_the_setting(
    jobs: JobStore, celery: Any
) -> None:
    job_id = running(jobs, kind="automl", quiet_for=0.0)  # alive, but too long
    jobs._update(job_id, started_at=time.time() - 700)
    assert reap(time.time(), jobs=jobs, celery=celery, limits=LIMITS) == [(job_id, "failed")]
    job = jobs.get(job_id)
    assert job.state == FAILED and "time limit of 600 s" in job.message
    assert "KEPLER_JOB_TIME_LIMIT_AUTOML" in job.message


def test_reap_sends_a_long_queued_job_again(
    jobs: JobStore, celery: Any, settings: ServerSettings
) -> None:
    old = jobs.create("score", {})
    jobs._update(old.id, updated_at=time.time() - 400)
    young = jobs.create("fit", {}, dataset_id="d1")
    assert reap(time.time(), jobs=jobs, celery=celery, limits=LIMITS) == [(old.id, "resent")]
    assert sent(settings) == [old.id]
    assert (
        jobs.get(old.id).state == QUEUED and "sent to the workers again" in jobs.get(old.id).message
    )
    assert jobs.get(young.id).message == "queued"


def test_heartbeat_stops_a_job_cancelled_while_it_runs(jobs: JobStore) -> None:
    job = jobs.create("fit", {})
    jobs.start(job.id, "host-1")
    stopped = threading.Event()
    set_lost_hook(stopped.set)
    try:
        with Heartbeat(jobs, jobs.get(job.id), LIMITS) as beat:
            first = jobs.get(job.id).heartbeat_at
            assert first is not None
            jobs.cancel(job.id, user="bob")
            assert stopped.wait(10), "the heartbeat saw the cancel"
        assert beat.lost.is_set()
    finally:
        set_lost_hook(None)
    assert jobs.get(job.id).state == CANCELLED


def test_heartbeat_fails_a_job_past_its_time_limit(jobs: JobStore) -> None:
    job = jobs.create("fit", {})
    jobs.start(job.id, "host-1")
    limits = JobLimits(time_limits={"fit": 0.2}, heartbeat_s=0.05, stale_s=10.0)
    with Heartbeat(jobs, jobs.get(job.id), limits) as beat:
        assert beat.lost.wait(10)
    failed = jobs.get(job.id)
    assert failed.state == FAILED and "KEPLER_JOB_TIME_LIMIT_FIT" in failed.message


def test_settings_refuse_a_stale_bound_within_two_heartbeats(tmp_path: Any) -> None:
    with pytest.raises(ValidationError, match=r"KEPLER_JOB_STALE_S .* more than twice"):
        ServerSettings(home=tmp_path, job_heartbeat_s=10, job_stale_s=15)
    with pytest.raises(ValidationError, match="job_max_attempts"):
        ServerSettings(home=tmp_path, job_max_attempts=0)


def test_celery_hard_time_limits_follow_the_settings(tmp_path: Any) -> None:
    app = make_celery(ServerSettings(home=tmp_path, job_time_limit_fit=100, job_time_limit_score=0))
    assert app.conf.task_annotations["kepler.fit"] == {"time_limit": 130.0}
    assert "kepler.score" not in app.conf.task_annotations  # 0: no limit
