"""Cancelling a job through the bridge (real app, real job store and broker; no worker)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kepler.server.db import Database
from kepler.server.settings import ServerSettings
from kepler.server.stores.jobs import JobStore
from kepler_bridge.app import create_app

ADMIN, USER = "admin-token-value", "user-token-value"


@pytest.fixture
def settings(tmp_path: Path) -> ServerSettings:
    return ServerSettings(home=tmp_path / "home")


@pytest.fixture
def http(settings: ServerSettings) -> Iterator[TestClient]:
    app = create_app(settings, ADMIN, user_token=USER)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def as_user(token: str, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "X-Kepler-User": user}


def test_cancel_job_by_any_token_holder_records_the_caller(
    http: TestClient, settings: ServerSettings
) -> None:
    jobs = JobStore(Database(settings.database_url))
    job = jobs.create("fit", {}, user="alice")
    resp = http.delete(f"/v1/jobs/{job.id}", headers=as_user(USER, "bob"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["state"], body["message"], body["user"]) == (
        "cancelled",
        "cancelled by bob",
        "alice",
    )
    assert body["error"]["detail"] == {"cancelled_by": "bob"}
    assert (
        http.get(f"/v1/jobs/{job.id}", headers=as_user(ADMIN, "x")).json()["state"] == "cancelled"
    )
    listed = http.get("/v1/jobs", params={"status": "cancelled"}, headers=as_user(ADMIN, "x"))
    assert [j["id"] for j in listed.json()] == [job.id]
    # Again: answered as it is, still naming bob.
    again = http.delete(f"/v1/jobs/{job.id}", headers=as_user(ADMIN, "carol"))
    assert again.status_code == 200 and again.json()["message"] == "cancelled by bob"


def test_cancel_finished_job_conflict(http: TestClient, settings: ServerSettings) -> None:
    jobs = JobStore(Database(settings.database_url))
    job = jobs.create("fit", {})
    jobs.fail(job.id, {"message": "target missing"})
    resp = http.delete(f"/v1/jobs/{job.id}", headers=as_user(ADMIN, "bob"))
    assert resp.status_code == 409
    error = resp.json()["error"]
    assert error["code"] == "conflict" and error["detail"] == {"state": "failed"}
    assert "already failed; only queued or running jobs can be cancelled" in error["message"]


def test_cancel_unknown_job_not_found(http: TestClient) -> None:
    resp = http.delete("/v1/jobs/nope", headers=as_user(ADMIN, "bob"))
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "job_not_found"
