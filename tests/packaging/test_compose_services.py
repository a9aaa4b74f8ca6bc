"""Each service of docker-compose.yml, started from its own command and environment as a
local process, until its own health check passes; then one fit through the whole stack.

What Docker would provide is mapped onto this machine (tests/packaging/compose.py): the
in-network names become loopback ports, the ``data`` volume a temporary folder. Postgres
cannot run here, so its SQLAlchemy URLs (MLflow's registry, the jobs table) point at
SQLite files instead; the postgres service itself is only checked statically.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.packaging.compose import (
    ENV_EXAMPLE,
    LocalMap,
    free_port,
    load,
    read_env_file,
    service_env,
)

pytestmark = pytest.mark.system

BIN = Path(sys.executable).parent
# The ENTRYPOINT of packaging/Dockerfile, for services that do not set their own.
IMAGE_ENTRYPOINT = ["kepler"]


@dataclass
class Running:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]
    health: list[str] = field(default_factory=list)
    shell: bool = False

    def healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{self.tail()}")
        argv = ["bash", "-c", self.health[0]] if self.shell else self.health
        done = subprocess.run(argv, env=self.env, capture_output=True, timeout=30, check=False)
        return done.returncode == 0

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


class LocalCompose:
    """The compose services as processes on this machine."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.token = secrets.token_urlsafe(24)
        team = read_env_file(ENV_EXAMPLE)
        team.update(
            KEPLER_TOKEN=self.token,
            POSTGRES_PASSWORD=secrets.token_urlsafe(16),
            KEPLER_WORKER_CONCURRENCY="1",  # 2 cores shared by every test
        )
        self.env_files = {".env": team}
        self.compose = load(team)
        self.map = LocalMap(
            root, {5000: free_port(), 8765: free_port(), 5555: free_port()}, free_port()
        )
        self.running: dict[str, Running] = {}
        base = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
        base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"
        base["HOSTNAME"] = socket.gethostname()  # as Docker sets it in a container
        base["PYTHONUNBUFFERED"] = "1"
        self.base_env = base
        (root / "data").mkdir(parents=True, exist_ok=True)

    def service(self, name: str) -> dict[str, Any]:
        return self.compose["services"][name]  # type: ignore[no-any-return]

    def start(self, *names: str, timeout: float = 180) -> None:
        """Start ``names`` together (as Compose starts services whose dependencies are
        healthy), then wait until each one's own health check passes."""
        runs = [self._spawn(name) for name in names]
        deadline = time.time() + timeout
        for run in runs:
            # Each check is a process of its own (as Docker runs it): poll gently.
            while not run.healthy():
                if time.time() > deadline:
                    raise AssertionError(f"{run.name} never became healthy:\n{run.tail()}")
                time.sleep(0.5)

    def _spawn(self, name: str) -> Running:
        svc = self.service(name)
        entry = svc.get("entrypoint")
        command = list(svc.get("command") or [])
        # A third-party image's command is the whole argv; ours runs under its ENTRYPOINT.
        argv = list(entry or IMAGE_ENTRYPOINT) + command if "build" in svc else command
        argv = self.map.argv(argv)
        if name == "redis":  # inside the network it listens on 6379; here on a free port
            argv += ["--port", str(self.map.redis_port), "--bind", "127.0.0.1"]
        env = {**self.base_env, **self.map.env(service_env(svc, self.env_files))}
        test = svc["healthcheck"]["test"]
        health = self.map.argv(test[1:])
        if name == "redis":
            health[1:1] = ["-p", str(self.map.redis_port)]
        log = self.root / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv,
                env=env,
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        run = Running(name, proc, log, env, health, shell=test[0] == "CMD-SHELL")
        self.running[name] = run
        return run

    def stop(self) -> None:
        for run in reversed(list(self.running.values())):
            if run.proc.poll() is None:
                os.killpg(run.proc.pid, signal.SIGTERM)  # the server and its own workers
        deadline = time.time() + 30
        for run in self.running.values():
            try:
                run.proc.wait(max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                run.proc.kill()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCompose]:
    local = LocalCompose(tmp_path_factory.mktemp("compose"))
    try:
        # In dependency order, as `depends_on: {condition: service_healthy}` orders them.
        local.start("redis", "mlflow")
        local.start("bridge", "worker", "beat", "flower")
        yield local
    finally:
        local.stop()


def test_every_service_starts_and_passes_its_health_check(stack: LocalCompose) -> None:
    assert set(stack.running) == {"redis", "mlflow", "bridge", "worker", "beat", "flower"}
    for run in stack.running.values():
        assert run.healthy(), run.name


def test_worker_health_check_fails_without_a_worker(stack: LocalCompose) -> None:
    worker = stack.running["worker"]
    # Another node name: no worker answers, so the check must say unhealthy.
    env = {**worker.env, "HOSTNAME": "no-such-container"}
    check = worker.health[0].replace("--timeout 5", "--timeout 1")
    done = subprocess.run(
        ["bash", "-c", check], env=env, capture_output=True, timeout=60, check=False
    )
    assert done.returncode != 0


def test_a_fit_runs_through_the_compose_stack(stack: LocalCompose) -> None:
    import kepler as kp
    from kepler._settings import ClientSettings

    bridge_port = stack.map.ports[8765]
    client = kp.Client(
        settings=ClientSettings(
            url=f"http://127.0.0.1:{bridge_port}", token=stack.token, home=stack.root / "sdk"
        )
    )
    frame = pd.DataFrame({"x": range(40), "y": [2 * i + 1 for i in range(40)]})
    result = client.fit(frame, "LinearRegression", target="y", into="compose_model", progress=False)
    assert result.version == 1
    scored = client.apply(frame.head(3), "compose_model@1")
    assert scored.shape[0] == 3

    # The model is in the MLflow server's registry, its files on the shared volume.
    from mlflow.tracking import MlflowClient

    mlflow = MlflowClient(tracking_uri=f"http://127.0.0.1:{stack.map.ports[5000]}")
    (version,) = mlflow.search_model_versions("name='compose_model'")
    assert version.version == "1"
    assert any((stack.root / "data" / "mlartifacts").rglob("MLmodel"))
    assert any((stack.root / "data" / "datasets").iterdir())


@pytest.mark.parametrize("command", [["bridge"], ["worker"]])
def test_placeholder_token_from_the_example_is_refused(command: list[str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(read_env_file(ENV_EXAMPLE))  # as copied, KEPLER_TOKEN=change-me
    env["KEPLER_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "kepler", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "KEPLER_TOKEN is still the example placeholder" in done.stderr
    assert "token_urlsafe" in done.stderr  # says how to make one
    assert "Traceback" not in done.stderr
    assert "change-me" not in done.stderr
