"""The bridge container `kepler deploy` describes starts from its own args and environment
as a local process, and enforces the token its secret reference holds. (The worker pool's
`kepler worker` runs in tests/packaging/test_compose_services.py; its variables are
checked against ServerSettings in test_resources.py.)

What Cloud Run provides is played here: Secret Manager references are resolved from a
dict, ``gs://`` paths become local folders, Memorystore is a local redis-server, the
jobs database and MLflow are SQLite files, and port 8080 is a free loopback port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kepler._stack import free_port, wait_until
from kepler.deploy import DeploySettings, resources

pytestmark = pytest.mark.system

TOKEN = "token-from-secret-manager-0123456789"


def _local_env(container: Any, secrets: dict[str, str], root: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["HOSTNAME"] = socket.gethostname()
    for e in container.env:
        ref = e.value_source.secret_key_ref
        value = secrets[ref.secret] if ref.secret else e.value
        value = value.replace("gs://acme-kepler/", f"{root}/bucket/")
        value = value.replace("/tmp/kepler", str(root / "home"))
        if e.name == "KEPLER_PORT":
            value = str(port)
        if e.name == "KEPLER_HOST":
            value = "127.0.0.1"
        env[e.name] = value
    return env


@pytest.fixture
def local(tmp_path: Path, redis_server: Any, deploy_settings: DeploySettings) -> Iterator[Any]:
    settings = deploy_settings.model_copy(
        update={
            "broker_url": redis_server.url,
            "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
        }
    )
    secrets = {
        "kepler-token": TOKEN,
        "kepler-database-url": f"sqlite:///{tmp_path / 'jobs.db'}",
    }
    procs: list[subprocess.Popen[bytes]] = []

    def start(container: Any, port: int) -> dict[str, str]:
        env = _local_env(container, secrets, tmp_path, port)
        log = (tmp_path / f"{container.name}.log").open("wb")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "kepler", *container.args],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        return env

    yield settings, start
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()


def test_bridge_container_starts_from_its_resource(local: Any) -> None:
    settings, start = local
    (bridge,) = resources.bridge_service(settings).template.containers
    port = free_port()
    start(bridge, port)

    url = f"http://127.0.0.1:{port}"
    # The startup probe's path answers without a token, as Cloud Run calls it.
    probe = bridge.startup_probe.http_get.path
    wait_until(lambda: httpx.get(f"{url}{probe}").status_code == 200, 90, "bridge probe")
    # Every other route takes the token read from the secret, and refuses anything else.
    assert (
        httpx.get(f"{url}/v1/models", headers={"Authorization": "Bearer nope"}).status_code == 401
    )
    ok = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200, ok.text
