"""KEPLER_PRELOAD_MODELS: the bridge loads those versions before it serves (model services)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kepler.core.errors import VersionNotFound
from kepler.core.spec import FitSpec
from kepler.ml.store import ModelStore
from kepler.ml.training import train
from kepler.server.settings import ServerSettings
from kepler_bridge.app import create_app
from tests.ml.conftest import events


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home whose registry holds pump@1 and pump@2."""
    home = tmp_path_factory.mktemp("home")
    s = ServerSettings(home=home)
    store = ModelStore(s.tracking_uri, s.artifact_location, s.experiment)
    trained = train(events(80), FitSpec("LogisticRegression", target="label", features=("x", "z")))
    store.register(trained, "pump")
    store.register(trained, "pump")
    return home


def test_preloaded_versions_are_in_the_cache_before_the_first_request(home: Path) -> None:
    app = create_app(ServerSettings(home=home, preload_models="pump@1, pump"), "t" * 20)
    cache = app.state.kepler.cache
    assert cache.has("pump", 1) and cache.has("pump", 2)  # "pump" is the latest: 2
    assert cache.loads == 2
    with TestClient(app) as http:
        frame = "x,z\n0.5,0.1\n-1,2\n"
        resp = http.post(
            "/v1/models/pump@1/apply",
            content=frame,
            headers={"Authorization": f"Bearer {'t' * 20}", "Content-Type": "text/csv"},
        )
        assert resp.status_code == 200, resp.text
    assert cache.loads == 2  # served from the preloaded entry


def test_unknown_preload_stops_the_bridge_with_the_reason(home: Path) -> None:
    with pytest.raises(VersionNotFound, match="no version 7"):
        create_app(ServerSettings(home=home, preload_models="pump@7"), "t" * 20)
