"""What every worker-side job does around its work: once, failed with a safe message."""

from __future__ import annotations

import pytest

from kepler.server.db import Database
from kepler.server.settings import ServerSettings
from kepler.server.stores.jobs import FAILED, SUCCEEDED, JobStore


@pytest.fixture
def store(settings: ServerSettings) -> JobStore:
    return JobStore(Database(settings.database_url))


class _Flushes:
    def __init__(self) -> None:
        self.count = 0

    def flush(self) -> None:
        self.count += 1


def test_run_once_runs_work_and_records_its_result(store: JobStore) -> None:
    from kepler.server.jobs.runner import run_once

    job = store.create("fit", {"x": 1})
    seen: list[dict[str, object]] = []
    result, ran = run_once(
        store, job.id, lambda j: seen.append(j.spec) or {"version": 2}, telemetry=_Flushes()
    )
    assert (result, ran, seen) == ({"version": 2}, True, [{"x": 1}])
    assert store.get(job.id).state == SUCCEEDED
    # A redelivered message: the stored result, work not run again.
    again, ran = run_once(store, job.id, lambda j: seen.append(j.spec) or {}, telemetry=_Flushes())
    assert (again, ran, len(seen)) == ({"version": 2}, False, 1)


def test_run_once_fails_the_job_with_the_errors_message(store: JobStore) -> None:
    from kepler.core.errors import DataError
    from kepler.server.jobs.runner import run_once

    job = store.create("fit", {})

    def work(_: object) -> dict[str, object]:
        raise DataError("field 'temp' has no values")

    flushes = _Flushes()
    result, ran = run_once(store, job.id, work, telemetry=flushes)
    assert ran is False and result["error"]["message"] == "field 'temp' has no values"
    assert store.get(job.id).state == FAILED and flushes.count == 1


def test_run_once_crash_fails_the_job_without_internals_and_propagates(store: JobStore) -> None:
    from kepler.server.jobs.runner import run_once

    job = store.create("fit", {})

    def work(_: object) -> dict[str, object]:
        raise RuntimeError("/secret/path/model.pkl: boom")

    with pytest.raises(RuntimeError):
        run_once(store, job.id, work, telemetry=_Flushes())
    failed = store.get(job.id)
    assert failed.state == FAILED
    assert failed.error is not None and "secret" not in failed.error["message"]
    assert failed.error["code"] == "internal"


def test_run_once_skips_a_cancelled_job(store: JobStore) -> None:
    from kepler.server.jobs.runner import run_once

    job = store.create("fit", {})
    store.cancel(job.id, user="bob")
    ran: list[str] = []
    result, did = run_once(store, job.id, lambda j: ran.append(j.id) or {}, telemetry=_Flushes())
    assert (ran, did, result["error"]["code"]) == ([], False, "job_cancelled")


def test_run_once_fails_a_job_whose_workers_died_max_attempts_times(store: JobStore) -> None:
    from kepler.server.jobs.runner import run_once
    from kepler.server.liveness import JobLimits

    limits = JobLimits(max_attempts=2, heartbeat_s=0.05, stale_s=0.2)
    job = store.create("fit", {})
    for attempt in (1, 2):  # a worker starts it, then dies whole
        assert store.start(job.id, f"host-{attempt}", stale_s=0.0)
    store._update(job.id, heartbeat_at=0.0)  # its last sign of life, long ago
    ran: list[str] = []
    _, did = run_once(
        store, job.id, lambda j: ran.append(j.id) or {}, telemetry=_Flushes(), limits=limits
    )
    assert ran == [] and did is False
    failed = store.get(job.id)
    assert failed.state == FAILED
    assert failed.message == (
        "the worker running this job died 2 times (out of memory?); raise "
        "KEPLER_JOB_MAX_ATTEMPTS or give the worker more memory"
    )
