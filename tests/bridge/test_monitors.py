"""The monitors routes in process (real app, real stores, the SDK over the app's
transport): auth, the two permission levels, bad input, lifecycle."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

import kepler as kp
from kepler.core.errors import BadParameter, Forbidden, ModelNotFound, MonitorNotFound
from kepler.server.settings import ServerSettings
from kepler.splunk.settings import SplunkSettings
from kepler_bridge.app import create_app
from tests.splunk.splunkd_rest import SplunkdRest

TOKEN = "monitors-route-token"
SPLUNK_TOKEN = "monitors-route-splunk-token"
BOB_KEY = "bob-session-key"
USER_TOKEN = "monitors-route-user-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
USER = {"Authorization": f"Bearer {USER_TOKEN}", "X-Kepler-Roles": "admin,kepler_admin"}


@pytest.fixture(scope="module")
def splunkd() -> Iterator[SplunkdRest]:
    with SplunkdRest(tokens=[SPLUNK_TOKEN]) as rest:
        rest.add_session(BOB_KEY, "bob", ["user"], ["search"])  # no schedule_search
        yield rest


def bridge(home: Path, splunk: SplunkSettings) -> TestClient:
    import pandas as pd

    from kepler.core.spec import FitSpec
    from kepler.ml.store import ModelStore
    from kepler.ml.training import train

    settings = ServerSettings(home=home, splunk=splunk)
    frame = pd.DataFrame({"x": [float(i) for i in range(40)], "y": [2.0 * i for i in range(40)]})
    trained = train(frame, FitSpec("LinearRegression", target="y", features=("x",)))
    ModelStore(settings.tracking_uri, settings.artifact_location).register(trained, "line")
    app = create_app(settings, TOKEN, user_token=USER_TOKEN)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A bridge with no Splunk credentials: monitors without their saved search."""
    splunk = SplunkSettings(url="http://127.0.0.1:9", token=None, username=None)
    with bridge(Path(tmp_path_factory.mktemp("home")), splunk) as client:
        yield client


@pytest.fixture(scope="module")
def with_splunk(
    tmp_path_factory: pytest.TempPathFactory, splunkd: SplunkdRest
) -> Iterator[TestClient]:
    splunk = SplunkSettings(url=splunkd.url, token=SecretStr(SPLUNK_TOKEN))
    with bridge(Path(tmp_path_factory.mktemp("home")), splunk) as client:
        yield client


@pytest.fixture(scope="module")
def as_bob(tmp_path_factory: pytest.TempPathFactory, splunkd: SplunkdRest) -> Iterator[TestClient]:
    splunk = SplunkSettings(url=splunkd.url, token=SecretStr(f"Splunk {BOB_KEY}"))
    with bridge(Path(tmp_path_factory.mktemp("home")), splunk) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/monitors"),
        ("post", "/v1/monitors"),
        ("get", "/v1/monitors/x"),
        ("delete", "/v1/monitors/x"),
        ("post", "/v1/monitors/x/run"),
        ("get", "/v1/monitors/x/runs"),
    ],
)
def test_monitor_routes_need_the_token(http: TestClient, method: str, path: str) -> None:
    assert getattr(http, method)(path).status_code == 401
    assert getattr(http, method)(path, headers={"Authorization": "Bearer no"}).status_code == 401


def body(**kw: object) -> dict[str, object]:
    return {"name": "line-drift", "search": "index=s", "model": "line", "every": "1h", **kw}


@pytest.mark.parametrize(
    ("method", "path", "payload", "what"),
    [
        ("post", "/v1/monitors", body(name="u"), "adding a monitor"),
        ("delete", "/v1/monitors/u", None, "deleting a monitor"),
        ("post", "/v1/monitors/u/run", None, "running a monitor now"),
    ],
)
def test_the_user_token_cannot_change_monitors_whatever_it_claims(
    http: TestClient, method: str, path: str, payload: object, what: str
) -> None:
    resp = http.request(method.upper(), path, headers=USER, json=payload)
    assert resp.status_code == 403, resp.text
    assert resp.json()["error"]["code"] == "forbidden" and what in resp.json()["error"]["message"]


def test_monitor_lifecycle_and_the_user_token_reads(http: TestClient) -> None:
    created = http.post("/v1/monitors", json=body(label="y", threshold=0.2), headers=AUTH)
    assert created.status_code == 201, created.text
    mon = created.json()
    assert (mon["every"], mon["every_s"], mon["label"]) == ("1h", 3600, "y")
    assert (mon["method"], mon["threshold"]) == ("auto", 0.2)
    # Splunk is not configured: the monitor is made, its saved search is not, and the
    # answer says why and what to paste instead.
    assert mon["saved_search"] == "kepler_drift_line-drift"
    assert not mon["alert"]["done"] and "no Splunk credentials" in mon["alert"]["reason"]
    assert mon["alert"]["stanza"].startswith("[kepler_drift_line-drift]\n")
    listed = http.get("/v1/monitors", headers=USER)
    assert [m["name"] for m in listed.json()] == ["line-drift"]
    assert http.get("/v1/monitors/line-drift", headers=USER).json()["model"] == "line"
    again = http.post("/v1/monitors", json=body(), headers=AUTH)
    assert again.status_code == 409 and "kepler monitor remove" in again.json()["error"]["message"]

    run = http.post("/v1/monitors/line-drift/run", headers=AUTH)
    assert run.status_code == 202 and run.json()["kind"] == "monitor"
    runs = http.get("/v1/monitors/line-drift/runs", headers=USER).json()
    assert [r["id"] for r in runs] == [run.json()["id"]]
    assert runs[0]["spec"]["trigger"] == "manual" and runs[0]["spec"]["label"] == "y"
    assert runs[0]["spec"]["earliest"] == "-3600s" and runs[0]["state"] == "queued"
    # Monitors are not schedules: the schedules list does not show them.
    assert http.get("/v1/schedules", headers=AUTH).json() == []

    assert http.delete("/v1/monitors/line-drift", headers=AUTH).json()["deleted"] == "line-drift"
    gone = http.get("/v1/monitors/line-drift", headers=AUTH)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "monitor_not_found"
    deletions = http.get("/v1/audit/deletions", headers=AUTH).json()
    assert any(d["kind"] == "monitor" and d["name"] == "line-drift" for d in deletions)


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"model": "nope"}, 404, "model_not_found"),
        ({"model": "line@9"}, 404, "version_not_found"),
        ({"every": "often"}, 400, "bad_parameter"),
        ({"method": "median"}, 400, "bad_parameter"),
        ({"threshold": 0}, 400, "bad_parameter"),
        ({"label": ""}, 400, "invalid_spec"),
        ({"name": "bad space"}, 400, "invalid_spec"),
        ({"search": ""}, 400, "invalid_spec"),
        ({"colour": "red"}, 201, None),  # pydantic ignores extra keys, as every route does
    ],
)
def test_monitor_bad_input_is_refused(
    http: TestClient, change: dict[str, object], status: int, code: str | None
) -> None:
    resp = http.post("/v1/monitors", json=body(**{"name": "bad", **change}), headers=AUTH)
    assert resp.status_code == status, resp.text
    if code:
        assert resp.json()["error"]["code"] == code
    if status == 201:
        http.delete("/v1/monitors/bad", headers=AUTH)
    assert http.get("/v1/monitors/bad", headers=AUTH).status_code == 404


def test_sdk_monitor_calls_through_the_bridge(http: TestClient) -> None:
    admin = kp.Client("http://testserver", TOKEN, transport=http._transport)
    user = kp.Client("http://testserver", USER_TOKEN, transport=http._transport)
    mon = admin.monitor("sdk", "index=s", "line@1", every="30m", method="psi")
    assert (mon["model"], mon["every"], mon["method"]) == ("line@1", "30m", "psi")
    assert list(user.monitors()["name"]) == ["sdk"]
    with pytest.raises(Forbidden):
        user.remove_monitor("sdk")
    with pytest.raises(ModelNotFound):
        admin.monitor("typo", "index=s", "no_such_model")
    with pytest.raises(BadParameter, match="threshold"):
        admin.monitor("neg", "index=s", "line", threshold=-1.0)
    assert admin.run_monitor("sdk")["kind"] == "monitor"
    assert len(admin.monitor_runs("sdk")) == 1
    admin.remove_monitor("sdk")
    with pytest.raises(MonitorNotFound, match="kepler monitor list"):
        admin.run_monitor("sdk")


def test_a_monitor_makes_and_removes_its_disabled_saved_search_in_splunk(
    with_splunk: TestClient, splunkd: SplunkdRest
) -> None:
    created = with_splunk.post("/v1/monitors", json=body(name="pump.hot"), headers=AUTH)
    assert created.status_code == 201, created.text
    assert created.json()["alert"] == {"name": "kepler_drift_pump.hot", "done": True}
    made = splunkd.saved_searches.get("kepler", "kepler_drift_pump.hot")
    assert made is not None and made.settings["disabled"] == "1"
    assert 'monitor="pump.hot"' in made.settings["search"]
    listed = with_splunk.get("/v1/monitors", headers=USER).json()
    assert [m["saved_search"] for m in listed] == ["kepler_drift_pump.hot"]

    gone = with_splunk.delete("/v1/monitors/pump.hot", headers=AUTH)
    assert gone.json()["alert"] == {"name": "kepler_drift_pump.hot", "done": True}
    assert splunkd.saved_searches.get("kepler", "kepler_drift_pump.hot") is None


def test_splunk_refusing_the_saved_search_does_not_undo_the_monitor(
    as_bob: TestClient, splunkd: SplunkdRest
) -> None:
    created = as_bob.post("/v1/monitors", json=body(name="bobs"), headers=AUTH)
    assert created.status_code == 201, created.text
    alert = created.json()["alert"]
    assert not alert["done"] and "schedule_search" in alert["reason"]
    assert "savedsearches.conf" in alert["how"] and "enableSched = 1" in alert["stanza"]
    assert splunkd.saved_searches.get("kepler", "kepler_drift_bobs") is None
    assert as_bob.get("/v1/monitors/bobs", headers=AUTH).status_code == 200
    gone = as_bob.delete("/v1/monitors/bobs", headers=AUTH).json()
    assert gone["deleted"] == "bobs" and gone["alert"]["done"]  # nothing there to remove
