"""The beat's tick: one recorded, queued job per due schedule, with the schedule frozen in."""

from __future__ import annotations

from pathlib import Path

import pytest

from kepler.server.beat import tick
from kepler.server.context import ServerContext
from kepler.server.jobs.score import fire
from kepler.server.queue import make_celery
from kepler.server.settings import ServerSettings
from kepler.server.stores.jobs import FAILED, QUEUED


def test_tick_fires_due_schedules_once(settings: ServerSettings) -> None:
    # The embedded SQLite broker under the test's home.
    ctx = ServerContext(settings, component="beat", celery=make_celery(settings))
    schedules = ctx.schedules
    due = schedules.create(
        "pump", search="index=s", model="pump:prod", every="30s", index="scores", start_now=True
    )
    schedules.create("later", search="index=s", model="pump", every="1h")
    now = due.next_run_at + 0.5

    fired = tick(ctx, now)
    assert [j.spec["schedule"] for j in fired] == ["pump"]
    (job,) = fired
    assert job.kind == "score" and job.state == QUEUED and job.model == "pump:prod"
    assert job.spec | {"schedule_id": None} == {
        "schedule": "pump",
        "schedule_id": None,
        "search": "index=s",
        "earliest": "-30s",
        "latest": "now",
        "model": "pump:prod",
        "index": "scores",
        "sourcetype": None,
        "shadow": None,
        "trigger": "beat",
    }
    assert schedules.get("pump").last_job_id == job.id
    assert tick(ctx, now) == []  # claimed
    assert len(tick(ctx, now + 30)) == 1


def test_run_the_broker_refuses_is_recorded_as_failed(tmp_path: Path) -> None:
    from kepler._stack import free_port

    down = ServerSettings(
        home=tmp_path / "home", broker_url=f"redis://127.0.0.1:{free_port()}/0"
    )  # nothing listens there
    ctx = ServerContext(down, component="bridge", celery=make_celery(down))
    jobs = ctx.jobs
    sched = ctx.schedules.create("pump", search="index=s", model="pump", every="1m", start_now=True)
    with pytest.raises(Exception):
        fire(ctx, sched, trigger="manual")
    (job,) = jobs.list()
    assert job.state == FAILED and "could not be queued" in job.message
    assert "KEPLER_BROKER_URL" in (job.error or {})["message"]


def test_tick_fires_due_monitors_once_beside_schedules(settings: ServerSettings) -> None:
    ctx = ServerContext(settings, component="beat", celery=make_celery(settings))
    mon = ctx.monitors.create(
        "pump-drift", search="index=s", model="pump", every="1h", label="failure", start_now=True
    )
    ctx.monitors.create("later", search="index=s", model="pump", every="1d")
    now = mon.next_run_at + 0.5

    fired = tick(ctx, now)
    (job,) = fired
    assert job.kind == "monitor" and job.state == QUEUED and job.user == "monitor:pump-drift"
    assert job.spec | {"monitor_id": None} == {
        "monitor": "pump-drift",
        "monitor_id": None,
        "search": "index=s",
        "earliest": "-3600s",
        "latest": "now",
        "model": "pump",
        "label": "failure",
        "method": "auto",
        "threshold": None,
        "index": None,
        "trigger": "beat",
    }
    assert ctx.monitors.get("pump-drift").last_job_id == job.id
    assert tick(ctx, now) == []  # claimed
    assert [j.kind for j in tick(ctx, now + 3600)] == ["monitor"]
