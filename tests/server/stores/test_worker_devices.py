"""Worker devices: each worker host's row in the shared database, read back by the bridge."""

from __future__ import annotations

import logging
import socket

import pytest

from kepler.ml.devices import detect_devices
from kepler.server.db import Database
from kepler.server.settings import ServerSettings
from kepler.server.stores.worker_devices import WorkerDevices, record_this_worker


@pytest.fixture
def store(settings: ServerSettings) -> WorkerDevices:
    return WorkerDevices(Database(settings.database_url))


def test_all_devices_before_any_worker_is_cpu(store: WorkerDevices) -> None:
    assert store.by_host() == {}
    assert store.all_devices() == ["cpu"]


def test_record_two_hosts_all_devices_cpu_first(store: WorkerDevices) -> None:
    store.record("gpu-1", ["cpu", "cuda:0 NVIDIA H100"])
    store.record("cpu-1", ["cpu"])

    assert store.by_host() == {"gpu-1": ["cpu", "cuda:0 NVIDIA H100"], "cpu-1": ["cpu"]}
    assert store.all_devices() == ["cpu", "cuda:0 NVIDIA H100"]


def test_record_same_host_again_replaces_its_row(store: WorkerDevices) -> None:
    store.record("box", ["cpu", "cuda:0 NVIDIA A10"])
    store.record("box", ["cpu"])

    assert store.by_host() == {"box": ["cpu"]}


def test_record_this_worker_logs_and_records_devices(
    settings: ServerSettings, caplog: pytest.LogCaptureFixture
) -> None:
    store = WorkerDevices(Database(settings.database_url))
    with caplog.at_level(logging.INFO, logger="kepler.server.stores.worker_devices"):
        devices = record_this_worker(store)

    assert devices == detect_devices()
    assert devices[0] == "cpu"
    assert store.by_host() == {socket.gethostname(): list(devices)}
    assert f"devices {', '.join(devices)}" in caplog.text
