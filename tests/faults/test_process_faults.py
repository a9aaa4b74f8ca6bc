"""Processes that die or are told to stop: a worker SIGKILLed mid-fit, `kepler up` sent
SIGTERM, redis-server restarted under load. The stack recovers (or fails the job with a
reason) within a bound, and leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import psutil
import pytest

from kepler._stack import LocalStack, free_port, wait_until
from tests.conftest import RedisServer

pytestmark = pytest.mark.system

# Quick liveness for the tests: a worker beats every 0.5 s and is given up after 3 s; a
# queued job whose message was lost is sent again after 3 s.
FAST_LIVENESS = {
    "KEPLER_JOB_HEARTBEAT_S": "0.5",
    "KEPLER_JOB_STALE_S": "3",
    "KEPLER_JOB_RESEND_QUEUED_S": "3",
}


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    return pd.DataFrame({**{f"f{i}": x[:, i] for i in range(4)}, "y": (x[:, 0] > 0).astype(int)})


def finished(client: Any, job_id: str) -> dict[str, Any] | None:
    job: dict[str, Any] = client.job(job_id)
    return job if job["state"] in ("succeeded", "failed", "cancelled") else None


def test_sigkill_worker_mid_fit_job_finishes_on_a_restarted_worker(tmp_path: Path) -> None:
    with LocalStack(tmp_path / "home", extra_env=FAST_LIVENESS) as stack:
        client = stack.client()
        # Slow enough to be caught running (a few seconds on one core), small to send.
        job_id = client.fit(
            frame(3000),
            "RandomForestClassifier",
            target="y",
            into="killed",
            n_estimators=400,
            n_jobs=1,
            wait=False,
        ).job_id
        wait_until(lambda: client.job(job_id)["state"] == "running", 60, "the fit running")
        worker = stack.workers[0]
        os.killpg(worker.pid, signal.SIGKILL)  # the worker whole: main and pool processes
        worker.wait(10)
        stack.add_worker()
        wait_until(lambda: finished(client, job_id), 120, f"the fit done\n{stack.log_text()}")
        job = client.job(job_id)
        assert job["state"] == "succeeded", job
        assert job["attempts"] == 2, job  # the first worker's attempt, then the new one's
        assert job["result"]["version"] == 1


def up_descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out


@pytest.fixture
def kepler_up(
    tmp_path: Path,
) -> Iterator[tuple[subprocess.Popen[bytes], int, Path, list[psutil.Process]]]:
    """`kepler up` on its own home and port; the list takes the processes the test saw,
    killed at the end whatever became of them (an orphan's parent is no longer `up`)."""
    home, port = tmp_path / "home", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(KEPLER_HOME=str(home), KEPLER_PORT=str(port), PYTHONUNBUFFERED="1")
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kepler", "up"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    seen: list[psutil.Process] = []
    try:
        yield proc, port, log, seen
    finally:
        seen += up_descendants(proc.pid)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        for p in alive(seen):  # never leave the test's own processes behind
            p.kill()


def test_sigterm_kepler_up_stops_every_process_and_exits_0(
    kepler_up: tuple[subprocess.Popen[bytes], int, Path, list[psutil.Process]],
) -> None:
    proc, port, log, seen = kepler_up
    wait_until(
        lambda: httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200,
        90,
        "kepler up",
    )
    # The worker, its pool process and the beat: all started before the signal.
    wait_until(lambda: len(up_descendants(proc.pid)) >= 3, 90, "the worker's pool")
    children = up_descendants(proc.pid)
    seen += children
    proc.send_signal(signal.SIGTERM)  # to `kepler up` alone, as systemd or `kill` does
    assert proc.wait(60) == 0, log.read_text()[-3000:]
    wait_until(lambda: not alive(children), 30, "every child of `kepler up` gone")
    assert alive(children) == []


def test_redis_restarted_under_load_every_job_finishes(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis")
    try:
        with LocalStack(tmp_path / "home", broker_url=redis.url, extra_env=FAST_LIVENESS) as stack:
            client = stack.client()
            data = frame(200, seed=1)

            def submit(n: int) -> str:
                return str(
                    client.fit(
                        data, "LogisticRegression", target="y", into=f"r{n}", wait=False
                    ).job_id
                )

            before = [submit(n) for n in range(4)]  # some queued in redis when it goes
            during: list[str] = []
            errors: list[Exception] = []

            def submit_during() -> None:
                for n in range(4, 7):
                    try:
                        during.append(submit(n))
                    except Exception as exc:  # reported below
                        errors.append(exc)

            restart = threading.Thread(target=redis.restart, kwargs={"down_for": 0.5})
            restart.start()
            submit_during()
            restart.join(30)
            after = [submit(n) for n in range(7, 9)]
            for job_id in [*before, *during, *after]:
                wait_until(
                    lambda job_id=job_id: finished(client, job_id),
                    120,
                    f"job {job_id} done\n{stack.log_text()}",
                )
                assert client.job(job_id)["state"] == "succeeded", client.job(job_id)
            # A submission while redis was down may be refused, but only with a reason.
            for exc in errors:
                assert "broker" in str(exc).lower() or "queue" in str(exc).lower(), exc
            assert len(during) + len(errors) == 3
    finally:
        redis.stop()
