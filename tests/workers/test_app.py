"""The worker's start: each pool process logs its devices and records them for the bridge."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from kepler._stack import LocalStack, wait_until
from kepler.ml.devices import detect_devices
from kepler.server.db import Database
from kepler.server.settings import ServerSettings
from kepler.server.stores.worker_devices import WorkerDevices


@pytest.mark.system
def test_worker_start_logs_devices_and_algorithms_list_them(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with LocalStack(home, beat=False) as stack:
        log = home / "worker0.log"
        line = f"devices {', '.join(detect_devices())}"
        wait_until(lambda: line in log.read_text(errors="replace"), 120, "the devices log line")

        algorithms = {a["name"]: a for a in stack.client().algorithms()}

    recorded = WorkerDevices(Database(ServerSettings(home=home).database_url)).by_host()
    assert recorded == {socket.gethostname(): list(detect_devices())}
    assert algorithms["TorchMLPClassifier"]["devices"] == list(detect_devices())
    assert algorithms["KMeans"]["devices"] == ["cpu"]
