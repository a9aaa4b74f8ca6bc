"""/v1/algorithms against the real app: the catalog, and the devices the workers reported."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kepler.server.db import Database
from kepler.server.settings import ServerSettings
from kepler.server.stores.worker_devices import WorkerDevices
from kepler_bridge.app import create_app

TOKEN = "algorithms-route-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GPU_ALGORITHMS = {
    "TorchMLPClassifier",
    "TorchMLPRegressor",
    "XGBoostClassifier",
    "XGBoostRegressor",
}


@pytest.fixture
def http(settings: ServerSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, TOKEN)) as c:
        yield c


def _by_name(http: TestClient) -> dict[str, dict]:
    resp = http.get("/v1/algorithms", headers=AUTH)
    assert resp.status_code == 200, resp.text
    return {a["name"]: a for a in resp.json()}


def test_list_algorithms_before_any_worker_reports_cpu_only(http: TestClient) -> None:
    algorithms = _by_name(http)

    assert {name for name, a in algorithms.items() if "device" in _params(a)} == GPU_ALGORITHMS
    assert {tuple(a["devices"]) for a in algorithms.values()} == {("cpu",)}
    device = _params(algorithms["TorchMLPClassifier"])["device"]
    assert device["choices"] == ["auto", "cpu", "cuda"]


def test_list_algorithms_gpu_worker_devices_on_gpu_algorithms_only(
    http: TestClient, settings: ServerSettings
) -> None:
    WorkerDevices(Database(settings.database_url)).record("gpu-host", ["cpu", "cuda:0 NVIDIA H100"])
    WorkerDevices(Database(settings.database_url)).record("cpu-host", ["cpu"])

    algorithms = _by_name(http)

    for name in GPU_ALGORITHMS:
        assert algorithms[name]["devices"] == ["cpu", "cuda:0 NVIDIA H100"]
    assert algorithms["LinearRegression"]["devices"] == ["cpu"]
    assert algorithms["RandomForestClassifier"]["devices"] == ["cpu"]


def _params(algorithm: dict) -> dict[str, dict]:
    return {p["name"]: p for p in algorithm["params"]}


def test_list_algorithms_marks_those_that_partial_fit(http: TestClient) -> None:
    from kepler.core.algorithms import PARTIAL_FIT

    algorithms = _by_name(http)
    assert {name for name, a in algorithms.items() if a["partial_fit"]} == PARTIAL_FIT
    assert _params(algorithms["TFIDF"])["ngram_range"]["kind"] == "range"
