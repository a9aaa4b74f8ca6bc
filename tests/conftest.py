"""Shared fixtures: real processes for the stack (bridge, workers, redis-server)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kepler.server.settings import ServerSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check, timeout: float = 60.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    last: Exception | None = None
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # still starting
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout}s (last error: {last})")


@pytest.fixture
def settings(tmp_path: Path) -> ServerSettings:
    """Server settings confined to a temporary home (no environment edits)."""
    return ServerSettings(home=tmp_path / "home", token="test-token")


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail("redis-server is not installed; `make test` installs it (apt-get)")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir), "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )

        def ping() -> bool:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")

        wait_until(ping, 20, "redis-server")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


class Stack:
    """A bridge and workers as real processes, as `kepler up` runs them."""

    def __init__(self, home: Path, broker_url: str | None = None, workers: int = 1,
                 extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.token = secrets.token_urlsafe(24)
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
        env.update(KEPLER_HOME=str(home), KEPLER_TOKEN=self.token, KEPLER_PORT=str(self.port),
                   KEPLER_WORKER_CONCURRENCY="1", PYTHONUNBUFFERED="1")
        if broker_url:
            env["KEPLER_BROKER_URL"] = broker_url
        env.update(extra_env or {})
        self.env = env
        home.mkdir(parents=True, exist_ok=True)
        self.logs: list[Path] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.bridge = self._spawn("bridge")
        self.workers = [self._spawn("worker", f"worker{i}") for i in range(workers)]
        wait_until(lambda: httpx.get(f"{self.url}/health", timeout=2).status_code == 200,
                   90, "bridge")

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        name = args[-1]
        log = self.home / f"{name}.log"
        self.logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "kepler", args[0]], env=self.env,
            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def add_worker(self) -> subprocess.Popen[bytes]:
        proc = self._spawn("worker", f"worker{len(self.workers)}")
        self.workers.append(proc)
        return proc

    def client(self, **kw):  # type: ignore[no-untyped-def]
        import kepler as kp

        return kp.Client(self.url, self.token, **kw)

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-4000:] for p in self.logs if p.exists())

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack on each broker: the embedded SQLite transport, and a real redis-server."""
    broker = None
    if request.param == "redis":
        broker = request.getfixturevalue("redis_server").url
    s = Stack(tmp_path_factory.mktemp(f"stack-{request.param}"), broker)
    yield s
    s.stop()
