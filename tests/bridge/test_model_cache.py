"""The model cache: each registration loaded once, and never a stale answer across bridges."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from kepler.core.refs import ModelRef
from kepler.core.spec import FitSpec
from kepler.ml.store import ModelStore
from kepler.ml.training import TrainedModel, train
from kepler.server.model_cache import ModelCache
from kepler.server.settings import ServerSettings
from kepler_bridge.app import create_app

TOKEN = "cache-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/csv"}


def info(name: str, version: int, run_id: str = "run-1") -> SimpleNamespace:
    return SimpleNamespace(name=name, version=version, run_id=run_id, source=f"file:///{run_id}")


def test_cache_loads_each_version_once() -> None:
    calls: list[tuple[str, int]] = []

    def loader(v: SimpleNamespace) -> tuple[object, object]:
        calls.append((v.name, v.version))
        time.sleep(0.05)
        return (f"{v.name}@{v.version}", None)

    cache = ModelCache(4, loader)
    threads = [threading.Thread(target=cache.get, args=(info("pump", 1),)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.get(info("pump", 1))[0] == "pump@1"
    assert calls == [("pump", 1)]


def test_cache_evicts_least_recently_used_and_drop() -> None:
    loads: list[tuple[str, int]] = []
    cache = ModelCache(2, lambda v: (loads.append((v.name, v.version)), None))  # type: ignore[func-returns-value]
    cache.get(info("a", 1))
    cache.get(info("b", 1))
    cache.get(info("a", 1))  # a is now most recent
    cache.get(info("c", 1))  # evicts b
    cache.get(info("a", 1))
    assert loads == [("a", 1), ("b", 1), ("c", 1)]
    cache.get(info("b", 1))
    assert loads[-1] == ("b", 1)
    cache.drop("a")
    cache.get(info("a", 1))
    assert loads[-1] == ("a", 1)


def test_cache_keys_by_registration_not_by_name_and_version() -> None:
    cache = ModelCache(4, lambda v: (v.run_id, None))
    assert cache.get(info("pump", 1, "old-run"))[0] == "old-run"
    # pump deleted and fitted again: a new pump@1, from another run
    assert cache.get(info("pump", 1, "new-run"))[0] == "new-run"
    assert cache.has("pump", 1) and not cache.has("pump", 2)
    cache.drop("pump")
    assert not cache.has("pump", 1)


def line_model(slope: float) -> TrainedModel:
    frame = pd.DataFrame({"x": [float(i) for i in range(30)]})
    frame["y"] = slope * frame["x"]
    return train(frame, FitSpec("LinearRegression", target="y", features=("x",)))


def predicted(http: TestClient, ref: str) -> float:
    resp = http.post(f"/v1/models/{ref}/apply", content=b"x\r\n10\r\n", headers=AUTH)
    assert resp.status_code == 200, resp.text
    return float(pd.read_csv(io.StringIO(resp.text))["predicted(y)"].iloc[0])


def assert_gone(http: TestClient) -> None:
    for ref in ("m@1", "m"):
        gone = http.post(f"/v1/models/{ref}/apply", content=b"x\r\n10\r\n", headers=AUTH)
        assert gone.status_code == 404, (ref, gone.text)
        assert gone.json()["error"]["code"] == "model_not_found"


def test_two_bridges_never_serve_a_deleted_or_replaced_model(tmp_path: Path) -> None:
    settings = ServerSettings(home=tmp_path / "home")
    store = ModelStore(settings.tracking_uri, settings.artifact_location, settings.experiment)
    store.register(line_model(2.0), "m")
    with (
        TestClient(create_app(settings, TOKEN)) as one,
        TestClient(create_app(settings, TOKEN)) as two,
    ):
        assert predicted(two, "m@1") == pytest.approx(20)
        assert predicted(two, "m") == pytest.approx(20)
        state = two.app.state.kepler  # type: ignore[attr-defined]
        raced = state.models.resolve(ModelRef("m", version=1))
        assert one.delete("/v1/models/m", headers=AUTH).status_code == 200
        assert_gone(two)
        # An apply on bridge two resolved m@1 just before bridge one took the DELETE; its
        # load lands in the cache after the delete.
        state.cache.get(raced)
        assert_gone(two)

        store.register(line_model(3.0), "m")  # the same name again: a new m@1
        for http in (two, one):
            assert predicted(http, "m") == pytest.approx(30)
            assert predicted(http, "m@1") == pytest.approx(30)
