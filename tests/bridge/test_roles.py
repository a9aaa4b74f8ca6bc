"""Two permission levels on the bridge: the token decides, never a header; every deletion
is recorded with who asked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kepler.server.settings import ServerSettings
from kepler_bridge.app import create_app

ADMIN = "admin-token-value-0123456789"
USER = "user-token-value-0123456789"


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = ServerSettings(home=tmp_path_factory.mktemp("home"))
    app = create_app(settings, ADMIN, user_token=USER)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def auth(token: str, **claims: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if "user" in claims:
        headers["X-Kepler-User"] = claims["user"]
    if "roles" in claims:
        headers["X-Kepler-Roles"] = claims["roles"]
    return headers


def test_both_tokens_read_and_a_wrong_one_is_refused(http: TestClient) -> None:
    assert http.get("/v1/models", headers=auth(ADMIN)).status_code == 200
    assert http.get("/v1/models", headers=auth(USER)).status_code == 200
    assert http.get("/v1/models", headers=auth("nope")).status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "body", "what"),
    [
        ("delete", "/v1/models/pump", None, "deleting a model"),
        ("put", "/v1/models/pump/aliases/prod", {"version": 1}, "moving a model alias"),
        ("delete", "/v1/models/pump/aliases/prod", None, "moving a model alias"),
        (
            "post",
            "/v1/schedules",
            {"name": "s", "search": "search index=x", "model": "pump", "every": "5m"},
            "adding a schedule",
        ),
        ("delete", "/v1/schedules/s", None, "deleting a schedule"),
        ("post", "/v1/schedules/s/run", None, "running a schedule now"),
    ],
)
def test_the_user_token_cannot_do_admin_things_whatever_it_claims(
    http: TestClient, method: str, path: str, body: object, what: str
) -> None:
    claims = auth(USER, user="admin", roles="admin,kepler_admin")
    resp = http.request(method.upper(), path, headers=claims, json=body)
    assert resp.status_code == 403, resp.text
    error = resp.json()["error"]
    assert error["code"] == "forbidden"
    assert what in error["message"] and "'kepler_admin'" in error["message"]
    assert USER not in resp.text and ADMIN not in resp.text


def test_the_admin_token_passes_the_level_check(http: TestClient) -> None:
    # The model does not exist: past the level check, the route's own answer (404).
    resp = http.delete("/v1/models/nosuch", headers=auth(ADMIN, user="bob"))
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "model_not_found"


def test_deletions_are_recorded_with_who_and_when(http: TestClient) -> None:
    body = {"name": "s1", "search": "search index=x", "model": "pump", "every": "5m"}
    # A schedule needs an existing model: register one through the store the bridge uses.
    store = http.app.state.kepler.models  # type: ignore[attr-defined]
    _register(store, "pump")
    created = http.post("/v1/schedules", headers=auth(ADMIN, user="bob"), json=body)
    assert created.status_code == 201, created.text
    gone = http.delete("/v1/schedules/s1", headers=auth(ADMIN, user="bob", roles="kepler_admin"))
    assert gone.status_code == 200 and gone.json()["user"] == "bob"
    deleted = http.delete("/v1/models/pump", headers=auth(ADMIN, user="eve\x00\n"))
    assert deleted.status_code == 200 and deleted.json()["versions"] == [1]
    log = http.get("/v1/audit/deletions", headers=auth(USER)).json()
    assert [(d["kind"], d["name"], d["user"]) for d in log] == [
        ("model", "pump", "eve"),  # control characters never reach the record
        ("schedule", "s1", "bob"),
    ]
    assert log[1]["roles"] == ["kepler_admin"] and log[0]["detail"] == {"versions": [1]}
    assert log[0]["at"] >= log[1]["at"] > 0
    only = http.get("/v1/audit/deletions", headers=auth(USER), params={"name": "s1"}).json()
    assert [d["name"] for d in only] == ["s1"]


def test_a_request_without_a_user_is_recorded_as_unknown(http: TestClient) -> None:
    store = http.app.state.kepler.models  # type: ignore[attr-defined]
    _register(store, "anon")
    assert http.delete("/v1/models/anon", headers=auth(ADMIN)).status_code == 200
    (record,) = http.get("/v1/audit/deletions", headers=auth(ADMIN), params={"name": "anon"}).json()
    assert record["user"] == "unknown"


def test_one_token_for_both_levels_is_refused(tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = ServerSettings(home=tmp_path_factory.mktemp("same"))
    with pytest.raises(ValueError, match="differ"):
        create_app(settings, ADMIN, user_token=ADMIN)
    with pytest.raises(ValueError, match="KEPLER_USER_TOKEN equals KEPLER_TOKEN"):
        ServerSettings(home=settings.home, token=ADMIN, user_token=ADMIN)


def _register(store: object, name: str) -> None:
    import pandas as pd

    from kepler.core.spec import FitSpec
    from kepler.ml.training import train

    frame = pd.DataFrame({"x": [float(i) for i in range(30)], "y": [2.0 * i for i in range(30)]})
    spec = FitSpec(algorithm="LinearRegression", target="y", features=("x",), into=name)
    store.register(train(frame, spec), name, user="tester")  # type: ignore[attr-defined]


def test_each_token_has_a_request_budget(tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = ServerSettings(home=tmp_path_factory.mktemp("rate"), requests_per_minute=3)
    with TestClient(create_app(settings, ADMIN, user_token=USER)) as c:
        for _ in range(3):
            assert c.get("/v1/models", headers=auth(USER)).status_code == 200
        over = c.get("/v1/models", headers=auth(USER))
        assert over.status_code == 429
        assert over.json()["error"]["code"] == "too_many_requests"
        assert "KEPLER_REQUESTS_PER_MINUTE" in over.json()["error"]["message"]
        assert 1 <= int(over.headers["Retry-After"]) <= 60
        # The other token's budget is its own; health is never counted.
        assert c.get("/v1/models", headers=auth(ADMIN)).status_code == 200
        assert all(c.get("/health").status_code == 200 for _ in range(5))
    unlimited = ServerSettings(home=tmp_path_factory.mktemp("free"), requests_per_minute=0)
    with TestClient(create_app(unlimited, ADMIN)) as c:
        assert all(c.get("/v1/models", headers=auth(ADMIN)).status_code == 200 for _ in range(10))
