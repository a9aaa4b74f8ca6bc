"""Start the stack's processes (bridge, workers) on this machine and stop them cleanly.

Used by ``make demo``, the benchmarks and the system tests, so all three run the parts
exactly as ``kepler bridge`` and ``kepler worker`` run them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.time() + timeout
    last: Exception | None = None
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # still starting
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s (last error: {last})")


def stop_processes(procs: list[subprocess.Popen[bytes]], timeout: float = 20.0) -> None:
    """SIGTERM each process, wait for all of them ``timeout`` seconds in all, then SIGKILL
    each one's process group (each was started in a session of its own): no straggler,
    a Celery pool process included, outlives it.

    The main process first: a Celery worker shuts its pool down itself, while a signal to
    the whole group leaves it waiting on children that already left."""
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, signal.SIGKILL)  # the process if it is still there, and any straggler
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(5)


class LocalStack:
    """A bridge, ``workers`` worker processes and the schedules' beat under ``home``, on a
    free port. A second stack on the same ``home`` finds the first one's models, jobs and
    schedules: that is a restart."""

    def __init__(
        self,
        home: Path,
        *,
        broker_url: str | None = None,
        workers: int = 1,
        concurrency: int = 1,
        extra_env: dict[str, str] | None = None,
        beat: bool = True,
        token: str | None = None,
        user_token: str | None = None,
    ) -> None:
        self.home = Path(home)
        self.port = free_port()
        self.token = token or secrets.token_urlsafe(24)
        # The user level (fit, apply, read; no deletions): what Splunk's kepler_user gets.
        self.user_token = user_token or secrets.token_urlsafe(24)
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
        env.update(
            KEPLER_HOME=str(self.home),
            KEPLER_TOKEN=self.token,
            KEPLER_USER_TOKEN=self.user_token,
            KEPLER_PORT=str(self.port),
            KEPLER_WORKER_CONCURRENCY=str(concurrency),
            PYTHONUNBUFFERED="1",
        )
        if broker_url:
            env["KEPLER_BROKER_URL"] = broker_url
        env.update(extra_env or {})
        self.env = env
        # With a certificate the bridge serves HTTPS; trust exactly that certificate.
        self.certfile = env.get("KEPLER_TLS_CERTFILE")
        if self.certfile:
            self.url = f"https://127.0.0.1:{self.port}"
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs: list[Path] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []
        self._n_workers = workers
        self._beat = beat

    def start(self, timeout: float = 120.0) -> LocalStack:
        import httpx

        self.bridge = self._spawn("bridge", "bridge")
        for _ in range(self._n_workers):
            self.add_worker()
        if self._beat:
            self.beat = self._spawn("beat", "beat")
        verify: Any = ssl.create_default_context(cafile=self.certfile) if self.certfile else True
        wait_until(
            lambda: httpx.get(f"{self.url}/health", timeout=2, verify=verify).status_code == 200,
            timeout,
            f"bridge (log: {self.home / 'bridge.log'})",
        )
        return self

    def _spawn(self, command: str, name: str) -> subprocess.Popen[bytes]:
        log = self.home / f"{name}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "kepler", command],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def add_worker(self) -> subprocess.Popen[bytes]:
        proc = self._spawn("worker", f"worker{len(self.workers)}")
        self.workers.append(proc)
        return proc

    def client(self, **kw: Any) -> Any:
        from kepler._client import Client

        return Client(self.url, self.token, **kw)

    def user_client(self, **kw: Any) -> Any:
        """A client with the user-level token."""
        from kepler._client import Client

        return Client(self.url, self.user_token, **kw)

    def log_text(self, tail: int = 4000) -> str:
        return "\n".join(
            f"--- {p.name}\n" + p.read_text(errors="replace")[-tail:]
            for p in self.logs
            if p.exists()
        )

    def stop(self, timeout: float = 20.0) -> None:
        stop_processes(self.procs, timeout)

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
