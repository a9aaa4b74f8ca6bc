"""Kepler's events and metrics as HEC events: shapes a Splunk dashboard can rely on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kepler.hec import HecSettings
from kepler.server.db import Database
from kepler.server.senders import SenderPool
from kepler.server.stores.jobs import JobStore
from kepler.server.telemetry import Telemetry, disabled
from tests.hec.receiver import HecReceiver

TOKEN = "12121212-3434-5656-7878-909090909090"


@pytest.fixture
def rx() -> Iterator[HecReceiver]:
    with HecReceiver(token=TOKEN) as receiver:
        yield receiver


@pytest.fixture
def hec(rx: HecReceiver, tmp_path: Path) -> HecSettings:
    return HecSettings(
        url=rx.url,
        token=TOKEN,
        index="kepler",
        metrics_index="kepler_metrics",
        linger=0.01,
        queue_dir=tmp_path / "q",
    )


def test_job_state_changes_become_events(rx: HecReceiver, hec: HecSettings, tmp_path: Path) -> None:
    telemetry = Telemetry(hec, component="bridge", senders=SenderPool())
    jobs = JobStore(Database(f"sqlite:///{tmp_path / 'jobs.db'}"), telemetry=telemetry)
    job = jobs.create("fit", {"algorithm": "X"}, model="pump")
    jobs.start(job.id, "w1")
    jobs.fail(job.id, {"code": "data_error", "message": "no rows"})
    telemetry.flush()
    events = [e for e in rx.events if e["sourcetype"] == "kepler:job"]
    assert [e["event"]["state"] for e in events] == ["queued", "running", "failed"]
    assert events[-1]["event"]["error_code"] == "data_error"
    assert {e["index"] for e in events} == {"kepler"}
    assert all(e["event"]["job_id"] == job.id and e["source"] == "kepler" for e in events)


def test_metrics_use_hecs_metric_event_format(rx: HecReceiver, hec: HecSettings) -> None:
    telemetry = Telemetry(hec, component="worker", senders=SenderPool())
    telemetry.apply_batch("pump", 3, rows=500, latency_s=0.25, mode="async")
    telemetry.fit(
        "job1",
        {
            "model": "pump",
            "version": 4,
            "rows": 10,
            "algorithm": "A",
            "metrics": {"r2": 0.5},
            "user": "alice",
        },
        1.5,
    )
    telemetry.flush()
    metrics = [e for e in rx.events if e["event"] == "metric"]
    assert {m["index"] for m in metrics} == {"kepler_metrics"}
    apply_fields = metrics[0]["fields"]
    assert apply_fields["metric_name:kepler.apply.rows"] == 500.0
    assert apply_fields["metric_name:kepler.apply.latency_ms"] == 250.0
    assert apply_fields["metric_name:kepler.apply.errors"] == 0.0
    assert (apply_fields["model"], apply_fields["version"], apply_fields["mode"]) == (
        "pump",
        "3",
        "async",
    )
    fit_fields = metrics[1]["fields"]
    assert fit_fields["metric_name:kepler.fit.r2"] == 0.5
    assert fit_fields["metric_name:kepler.fit.duration_s"] == 1.5
    created = [e["event"] for e in rx.events if e["sourcetype"] == "kepler:model"]
    assert created == [
        {
            "component": "worker",
            "action": "version_created",
            "model": "pump",
            "version": 4,
            "algorithm": "A",
            "run_id": None,
            "job_id": "job1",
            "user": "alice",
        }
    ]


def test_jobs_and_deletions_name_their_user(
    rx: HecReceiver, hec: HecSettings, tmp_path: Path
) -> None:
    telemetry = Telemetry(hec, component="bridge", senders=SenderPool())
    jobs = JobStore(Database(f"sqlite:///{tmp_path / 'jobs.db'}"), telemetry=telemetry)
    jobs.create("fit", {}, model="pump", user="alice")
    jobs.record_deletion(
        "model", "pump", user="bob", roles=("kepler_admin",), detail={"versions": [1, 2]}
    )
    jobs.record_deletion("schedule", "nightly", user="bob")
    telemetry.flush()
    (job,) = [e["event"] for e in rx.events if e["sourcetype"] == "kepler:job"]
    assert job["user"] == "alice"
    (model,) = [e["event"] for e in rx.events if e["sourcetype"] == "kepler:model"]
    assert model == {
        "component": "bridge",
        "action": "deleted",
        "kind": "model",
        "model": "pump",
        "user": "bob",
        "roles": ["kepler_admin"],
        "versions": [1, 2],
    }
    (audit,) = [e["event"] for e in rx.events if e["sourcetype"] == "kepler:audit"]
    assert (audit["action"], audit["name"], audit["user"]) == ("deleted", "nightly", "bob")


def test_without_hec_telemetry_does_nothing(tmp_path: Path) -> None:
    telemetry = disabled("bridge")
    assert not telemetry.enabled
    telemetry.apply_batch("pump", 1, rows=1, latency_s=0.1)  # no error, nothing sent
    assert SenderPool().own(HecSettings(url="", token=None)) is None


def test_one_sender_per_process_and_settings(hec: HecSettings) -> None:
    pool = SenderPool()
    assert pool.own(hec) is pool.own(hec.model_copy())
