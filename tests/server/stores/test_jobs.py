"""Job records: created queued, moved through states by workers, listed newest first."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from kepler.core.errors import JobNotFound
from kepler.server.db import Database
from kepler.server.settings import ServerSettings
from kepler.server.stores.jobs import CANCELLED, FAILED, QUEUED, RUNNING, SUCCEEDED, JobStore


@pytest.fixture
def store(settings: ServerSettings) -> JobStore:
    return JobStore(Database(settings.database_url))


def test_create_job_is_queued_with_spec(store: JobStore) -> None:
    job = store.create("fit", {"algorithm": "KMeans"}, model="m", dataset_id="d1")
    got = store.get(job.id)
    assert got.state == QUEUED
    assert got.spec == {"algorithm": "KMeans"}
    assert (got.model, got.dataset_id) == ("m", "d1")


def test_job_lifecycle_records_progress_result_and_duration(store: JobStore) -> None:
    job = store.create("fit", {})
    store.start(job.id, "host-1")
    store.progress(job.id, 0.4, "training")
    mid = store.get(job.id)
    assert (mid.state, mid.progress, mid.message, mid.worker) == (
        RUNNING,
        0.4,
        "training",
        "host-1",
    )
    store.succeed(job.id, {"version": 3})
    done = store.get(job.id)
    assert done.state == SUCCEEDED and done.progress == 1.0
    assert done.result == {"version": 3}
    assert done.to_dict()["duration_s"] is not None


def test_job_failure_keeps_error(store: JobStore) -> None:
    job = store.create("fit", {})
    store.fail(job.id, {"code": "data_error", "message": "target missing"})
    got = store.get(job.id)
    assert got.state == FAILED
    assert got.error == {"code": "data_error", "message": "target missing"}
    assert got.message == "target missing"


def test_progress_is_clamped(store: JobStore) -> None:
    job = store.create("fit", {})
    store.progress(job.id, 7.0, "x")
    assert store.get(job.id).progress == 1.0


def test_list_jobs_newest_first_and_by_state(store: JobStore) -> None:
    a = store.create("fit", {})
    b = store.create("fit", {})
    store.fail(a.id, {"message": "x"})
    assert [j.id for j in store.list()][:2] == [b.id, a.id]
    assert [j.id for j in store.list(state=FAILED)] == [a.id]


def test_get_unknown_job_not_found(store: JobStore) -> None:
    with pytest.raises(JobNotFound):
        store.get("nope")
    with pytest.raises(JobNotFound):
        store.progress("nope", 0.1, "x")


def test_jobs_keep_who_asked(store: JobStore) -> None:
    job = store.create("fit", {}, model="m", user="alice")
    assert store.get(job.id).user == "alice"
    assert store.get(job.id).to_dict()["user"] == "alice"
    assert store.get(store.create("fit", {}).id).user is None


def test_deletions_are_kept_latest_first(store: JobStore) -> None:
    store.record_deletion(
        "model", "a", user="bob", roles=["kepler_admin"], detail={"versions": [1]}
    )
    store.record_deletion("schedule", "b", user="eve")
    log = store.deletions()
    assert [(d["kind"], d["name"], d["user"]) for d in log] == [
        ("schedule", "b", "eve"),
        ("model", "a", "bob"),
    ]
    assert log[1]["roles"] == ["kepler_admin"] and log[1]["detail"] == {"versions": [1]}
    assert [d["name"] for d in store.deletions(name="a")] == ["a"]
    assert len(store.deletions(limit=1)) == 1


def test_a_database_from_before_users_gains_the_column(tmp_path: Path) -> None:
    """A jobs table made by an older Kepler (no user_name) keeps its rows and gets the
    column on first use."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE kepler_jobs (id VARCHAR(32) PRIMARY KEY, kind VARCHAR(16) NOT NULL, "
            "state VARCHAR(16) NOT NULL, model VARCHAR(128), dataset_id VARCHAR(64), "
            "spec TEXT NOT NULL, progress FLOAT NOT NULL, message TEXT NOT NULL, result TEXT, "
            "error TEXT, worker VARCHAR(255), created_at FLOAT NOT NULL, "
            "updated_at FLOAT NOT NULL, started_at FLOAT, finished_at FLOAT)"
        )
        db.execute(
            "INSERT INTO kepler_jobs VALUES ('old1', 'fit', 'succeeded', 'm', NULL, '{}', 1.0, "
            "'done', NULL, NULL, NULL, 1.0, 2.0, NULL, NULL)"
        )
    store = JobStore(Database(f"sqlite:///{path}"))
    assert store.get("old1").user is None
    assert store.get(store.create("fit", {}, user="alice").id).user == "alice"
    with sqlite3.connect(path) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(kepler_jobs)")]
    assert "user_name" in columns
    assert {"attempts", "heartbeat_at"} <= set(columns)
    assert store.get("old1").attempts == 0 and store.get("old1").heartbeat_at is None


def test_cancel_records_who_and_stays_final(store: JobStore) -> None:
    job = store.create("fit", {}, user="alice")
    store.start(job.id, "host-1")
    cancelled = store.cancel(job.id, user="bob")
    assert cancelled.state == CANCELLED and cancelled.finished
    assert cancelled.message == "cancelled by bob"
    assert cancelled.error is not None and cancelled.error["code"] == "job_cancelled"
    assert cancelled.error["detail"] == {"cancelled_by": "bob"}
    # The worker finishing (or failing) late changes nothing; its progress neither.
    assert store.succeed(job.id, {"version": 1}) is False
    assert store.fail(job.id, {"message": "late"}) is False
    store.progress(job.id, 0.9, "registering")
    assert store.get(job.id).state == CANCELLED and store.get(job.id).message == "cancelled by bob"
    assert store.start(job.id, "host-2") is False
    assert store.cancel(job.id, user="carol").message == "cancelled by bob"  # a no-op


def test_cancel_a_finished_job_is_a_conflict_naming_its_state(store: JobStore) -> None:
    from kepler.core.errors import Conflict

    job = store.create("fit", {})
    store.succeed(job.id, {})
    with pytest.raises(Conflict, match="already succeeded; only queued or running"):
        store.cancel(job.id, user="bob")
    with pytest.raises(JobNotFound):
        store.cancel("nope", user="bob")


def test_start_counts_attempts_and_leaves_a_job_alive_elsewhere(store: JobStore) -> None:
    job = store.create("fit", {})
    assert store.start(job.id, "host-1", stale_s=60) is True
    assert store.get(job.id).attempts == 1 and store.get(job.id).heartbeat_at is not None
    # The same message delivered again while its worker beats: not started twice.
    assert store.start(job.id, "host-2", stale_s=60) is False
    assert store.get(job.id).worker == "host-1"
    # Its worker went quiet: the next one takes it over, one attempt more.
    assert store.start(job.id, "host-2", stale_s=0.0) is True
    assert (store.get(job.id).attempts, store.get(job.id).worker) == (2, "host-2")
    assert store.heartbeat(job.id, attempt=1) is False  # the first worker's job no more
    assert store.heartbeat(job.id, attempt=2) is True
