"""Processes that die or are told to stop: a worker SIGKILLed mid-fit, `kepler up` sent
SIGTERM, redis-server restarted under load. The stack recovers (or fails the job with a
reason) within a bound, and leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from kepler._stack import free_port, wait_until

pytestmark = pytest.mark.system


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
