"""/v1/models routes against the real app and a real MLflow registry on SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from kepler.core.spec import FitSpec
from kepler.ml.store import ModelStore
from kepler.ml.training import train
from kepler.server.settings import ServerSettings
from kepler_bridge.app import create_app

TOKEN = "models-route-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def line_model(slope: float) -> object:
    frame = pd.DataFrame({"x": [float(i) for i in range(30)]})
    frame["y"] = slope * frame["x"]
    return train(frame, FitSpec("LinearRegression", target="y", features=("x",)))


@pytest.fixture
def settings(tmp_path_factory: pytest.TempPathFactory) -> ServerSettings:
    return ServerSettings(home=tmp_path_factory.mktemp("home"))


@pytest.fixture
def http(settings: ServerSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, TOKEN)) as c:
        yield c


def test_delete_version_reference_is_refused_and_deletes_nothing(
    http: TestClient, settings: ServerSettings
) -> None:
    store = ModelStore(settings.tracking_uri, settings.artifact_location, settings.experiment)
    store.register(line_model(2.0), "pump")  # type: ignore[arg-type]
    store.register(line_model(3.0), "pump")  # type: ignore[arg-type]
    store.set_alias("pump", "production", 1)

    for ref in ("pump@2", "pump:production"):
        resp = http.delete(f"/v1/models/{ref}", headers=AUTH)
        assert resp.status_code == 400, resp.text
        err = resp.json()["error"]
        assert err["code"] == "invalid_spec"
        assert "never deleted one by one" in err["message"]
        assert "name the model alone: pump" in err["message"]

    for ref in ("pump@1", "pump@2"):
        assert http.get(f"/v1/models/{ref}", headers=AUTH).status_code == 200

    gone = http.delete("/v1/models/pump", headers=AUTH).json()
    assert (gone["deleted"], gone["versions"]) == ("pump", [1, 2])
    assert http.get("/v1/models/pump", headers=AUTH).status_code == 404


def test_delete_alias_removes_it_and_keeps_the_version(
    http: TestClient, settings: ServerSettings
) -> None:
    store = ModelStore(settings.tracking_uri, settings.artifact_location, settings.experiment)
    store.register(line_model(2.0), "valve")  # type: ignore[arg-type]
    assert http.put("/v1/models/valve/aliases/prod", headers=AUTH, json={"version": 1}).is_success
    assert http.get("/v1/models/valve:prod", headers=AUTH).status_code == 200

    gone = http.delete("/v1/models/valve/aliases/prod", headers=AUTH)
    assert gone.status_code == 200 and gone.json()["removed"] is True
    assert http.get("/v1/models/valve:prod", headers=AUTH).status_code == 404
    assert http.get("/v1/models/valve@1", headers=AUTH).status_code == 200
    again = http.delete("/v1/models/valve/aliases/prod", headers=AUTH)
    assert again.status_code == 404 and "no alias 'prod'" in again.json()["error"]["message"]
