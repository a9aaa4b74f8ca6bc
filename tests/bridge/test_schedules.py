"""The schedules routes in process (real app, real stores): auth, bad input, lifecycle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kepler.server.settings import ServerSettings
from kepler_bridge.app import create_app

TOKEN = "schedules-route-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    import pandas as pd

    from kepler.core.spec import FitSpec
    from kepler.ml.store import ModelStore
    from kepler.ml.training import train

    settings = ServerSettings(home=Path(tmp_path_factory.mktemp("home")))
    frame = pd.DataFrame({"x": [float(i) for i in range(20)], "y": [2.0 * i for i in range(20)]})
    trained = train(frame, FitSpec("LinearRegression", target="y", features=("x",)))
    ModelStore(settings.tracking_uri, settings.artifact_location).register(trained, "line")
    with TestClient(create_app(settings, TOKEN), raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/schedules"),
        ("post", "/v1/schedules"),
        ("get", "/v1/schedules/x"),
        ("delete", "/v1/schedules/x"),
        ("post", "/v1/schedules/x/run"),
        ("get", "/v1/schedules/x/runs"),
    ],
)
def test_schedule_routes_need_the_token(http: TestClient, method: str, path: str) -> None:
    assert getattr(http, method)(path).status_code == 401
    assert getattr(http, method)(path, headers={"Authorization": "Bearer no"}).status_code == 401


def body(**kw: object) -> dict[str, object]:
    return {"name": "line-5m", "search": "index=s", "model": "line", "every": "5m", **kw}


def test_schedule_lifecycle(http: TestClient) -> None:
    created = http.post("/v1/schedules", json=body(), headers=AUTH)
    assert created.status_code == 201, created.text
    assert created.json()["every"] == "5m" and created.json()["every_s"] == 300
    assert [s["name"] for s in http.get("/v1/schedules", headers=AUTH).json()] == ["line-5m"]
    assert http.get("/v1/schedules/line-5m", headers=AUTH).json()["model"] == "line"
    again = http.post("/v1/schedules", json=body(), headers=AUTH)
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"

    run = http.post("/v1/schedules/line-5m/run", headers=AUTH)
    assert run.status_code == 202 and run.json()["kind"] == "score"
    runs = http.get("/v1/schedules/line-5m/runs", headers=AUTH).json()
    assert [r["id"] for r in runs] == [run.json()["id"]]
    assert runs[0]["spec"]["trigger"] == "manual" and runs[0]["state"] == "queued"

    assert http.delete("/v1/schedules/line-5m", headers=AUTH).json()["deleted"] == "line-5m"

    # A challenger scored alongside each run: kept with the schedule, frozen into each run.
    shadowed = http.post("/v1/schedules", json=body(shadow="line@1"), headers=AUTH)
    assert shadowed.status_code == 201 and shadowed.json()["shadow"] == "line@1"
    run = http.post("/v1/schedules/line-5m/run", headers=AUTH)
    assert run.json()["spec"]["shadow"] == "line@1"
    assert http.delete("/v1/schedules/line-5m", headers=AUTH).status_code == 200
    gone = http.get("/v1/schedules/line-5m", headers=AUTH)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "schedule_not_found"


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"model": "nope"}, 404, "model_not_found"),
        ({"model": "line@9"}, 404, "version_not_found"),
        ({"shadow": "line@9"}, 404, "version_not_found"),
        ({"shadow": "nope"}, 404, "model_not_found"),
        ({"every": "often"}, 400, "bad_parameter"),
        ({"every": "0s"}, 400, "bad_parameter"),
        ({"name": "bad space"}, 400, "invalid_spec"),
        ({"search": ""}, 400, None),
    ],
)
def test_schedule_bad_input_is_refused(
    http: TestClient, change: dict[str, object], status: int, code: str | None
) -> None:
    resp = http.post("/v1/schedules", json=body(**{"name": "bad", **change}), headers=AUTH)
    assert resp.status_code == status, resp.text
    if code:
        assert resp.json()["error"]["code"] == code
    assert http.get("/v1/schedules/bad", headers=AUTH).status_code == 404


def test_a_retraining_schedule_keeps_its_gate_and_spec_and_runs_as_a_retrain_job(
    http: TestClient,
) -> None:
    created = http.post(
        "/v1/schedules",
        json=body(
            name="line-retrain",
            retrain=True,
            gate="r2>=production.r2-0.05",
            spec="LinearRegression y from x",
        ),
        headers=AUTH,
    )
    assert created.status_code == 201, created.text
    sched = created.json()
    assert sched["retrain"] is True and sched["alias"] == "production"
    assert sched["fit_spec"]["algorithm"] == "LinearRegression"
    assert sched["fit_spec"]["into"] == "line" and sched["fit_spec"]["target"] == "y"
    run = http.post("/v1/schedules/line-retrain/run", headers=AUTH)
    assert run.status_code == 202 and run.json()["kind"] == "retrain"
    assert run.json()["spec"]["gate"] == "r2>=production.r2-0.05"
    runs = http.get("/v1/schedules/line-retrain/runs", headers=AUTH).json()
    assert [r["id"] for r in runs] == [run.json()["id"]]
    assert http.delete("/v1/schedules/line-retrain", headers=AUTH).status_code == 200


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"retrain": True, "gate": "r2 >="}, "is not valid"),
        ({"retrain": True, "spec": "NoSuchAlgorithm y from x"}, "NoSuchAlgorithm"),
        ({"retrain": True, "spec": "LinearRegression y from x into other"}, "drop `into`"),
        ({"gate": "r2>=0.5"}, "add --retrain"),
    ],
)
def test_a_malformed_retraining_schedule_is_refused(
    http: TestClient, extra: dict[str, object], says: str
) -> None:
    answer = http.post("/v1/schedules", json=body(name="bad-retrain", **extra), headers=AUTH)
    assert answer.status_code == 400, answer.text
    assert says in answer.json()["error"]["message"]
    assert http.get("/v1/schedules/bad-retrain", headers=AUTH).status_code == 404
