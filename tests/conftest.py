"""Shared fixtures: real processes for the stack (bridge, workers, redis-server)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kepler._stack import LocalStack, free_port, wait_until
from kepler.server.context import ServerContext
from kepler.server.datasets import DatasetStore
from kepler.server.settings import ServerSettings
from tests.splunk.pythons import SPLUNK_PYTHONS, SplunkPython, find

# Under `make test` (pytest-xdist, --dist loadgroup) a group runs whole in one process. Each
# test module is a group, so its module-scoped stack starts once; these share one group each:
# the tests that build into the repository (dist/, build/), and the CLI's session stack.
SHARED_GROUPS = {"splunk_app": "repo-build", "test_packaging.py": "repo-build", "cli": "cli"}


def xdist_group(nodeid: str) -> str:
    """The group of a test, from its node id (``tests/<path>::<name>``)."""
    parts = nodeid.split("::", 1)[0].split("/")
    relative = parts[1:] if parts[0] == "tests" else parts
    return SHARED_GROUPS.get(relative[0], "/".join(relative))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With ``--dist loadgroup``, whole groups (above) to each process. xdist's own
    loadgroup reads ``xdist_group`` marks through ``item._nodeid``, which pytest 9 no longer
    uses for ``nodeid``: its groups never form, so the scheduler is given them here."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid)

    return ByGroup(config, log)


@pytest.fixture
def settings(tmp_path: Path) -> ServerSettings:
    """Server settings confined to a temporary home (no environment edits)."""
    return ServerSettings(home=tmp_path / "home", token="test-token")


@pytest.fixture
def ctx(settings: ServerSettings) -> Iterator[ServerContext]:
    """A worker process's context over ``settings``, closed after the test."""
    context = ServerContext(settings, component="worker")
    yield context
    context.close(timeout=5)


@pytest.fixture(params=["local", "memory"])
def dataset_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DatasetStore]:
    """A dataset store in a folder, and one on fsspec's memory:// (as gs:// or s3:// would be)."""
    if request.param == "local":
        yield DatasetStore(str(tmp_path / "datasets"))
        return
    memory = DatasetStore(f"memory://kepler-tests/{uuid.uuid4().hex}")
    yield memory
    if memory.fs.exists(memory.root):
        memory.fs.rm(memory.root, recursive=True)


@pytest.fixture(scope="session", params=SPLUNK_PYTHONS, ids=[f"py{v}" for v in SPLUNK_PYTHONS])
def splunk_python(request: pytest.FixtureRequest) -> SplunkPython:
    """Each Python Splunk embeds (3.9, 3.13), unpacked by `make pythons`: a test that asks
    for it runs under each. A missing one fails the test (tests/splunk/pythons.py)."""
    try:
        return find(request.param)
    except AssertionError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, for bridges serving TLS."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.start()

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.fail("redis-server is not installed; `make test` installs it (apt-get)")
        workdir = self.workdir
        self.proc = subprocess.Popen(
            [
                exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
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

    def restart(self, down_for: float = 0.0) -> None:
        """Stop and start again on the same port: what was queued in it is lost (no
        persistence), as with a redis-server that crashed."""
        self.stop()
        time.sleep(down_for)
        self.start()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    """The stack on each broker: the embedded SQLite transport, and a real redis-server."""
    broker = None
    if request.param == "redis":
        broker = request.getfixturevalue("redis_server").url
    s = LocalStack(tmp_path_factory.mktemp(f"stack-{request.param}"), broker_url=broker)
    s.start()
    yield s
    s.stop()
