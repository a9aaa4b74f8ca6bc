"""Faults around the bridge, with real processes: a bridge killed mid-upload, and a
model deleted and re-fitted while another bridge over the same registry serves it."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest

from kepler._stack import LocalStack, wait_until

pytestmark = pytest.mark.system


def auth(stack: LocalStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token}"}


def test_a_bridge_killed_mid_upload_leaves_no_partial_dataset_and_no_files(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    first = LocalStack(home, workers=0, beat=False).start()
    try:
        http = httpx.Client(base_url=first.url, headers=auth(first), timeout=30)
        dataset = http.post("/v1/datasets", json={"format": "csv"}).json()["id"]
        put = http.put(
            f"/v1/datasets/{dataset}/chunks/0",
            content=b"x,y\n1,2\n3,4\n",
            headers={"Content-Type": "text/csv"},
        )
        assert put.status_code == 200, put.text
        # Chunk 1 is on the wire: a large declared body, a first part of it sent.
        sock = socket.create_connection(("127.0.0.1", first.port), timeout=30)
        head = (
            f"PUT /v1/datasets/{dataset}/chunks/1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {first.token}\r\nContent-Type: text/csv\r\n"
            f"Content-Length: {50 * 1024 * 1024}\r\n\r\n"
        )
        sock.sendall(head.encode() + b"x,y\n" + b"5,6\n" * 200_000)
        spool = home / "spool"
        wait_until(lambda: any(p.is_file() for p in spool.rglob("*")), 30, "the chunk's spool file")
        os.kill(first.bridge.pid, signal.SIGKILL)
        first.bridge.wait(30)
        sock.close()
        assert any(p.is_file() for p in spool.rglob("*"))  # what the dead bridge left
    finally:
        first.stop()

    second = LocalStack(home, workers=0, beat=False).start()
    try:
        http = httpx.Client(base_url=second.url, headers=auth(second), timeout=30)
        assert [p for p in (home / "spool").rglob("*") if p.is_file()] == []
        assert [p.name for p in (home / "datasets").rglob(".tmp-*")] == []
        info = http.get(f"/v1/datasets/{dataset}")
        assert info.status_code == 409 and "chunks received: 0)" in info.text, info.text
        done = http.post(f"/v1/datasets/{dataset}/complete", json={"chunks": 2})
        assert done.status_code == 409, done.text
        assert done.json()["error"]["code"] == "dataset_incomplete"
        assert "missing chunk(s) 1" in done.json()["error"]["message"]
    finally:
        second.stop()


def test_delete_racing_apply_on_two_bridges_never_answers_stale(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with LocalStack(home) as fitter, LocalStack(home, workers=0, beat=False) as other:
        admin, server = fitter.client(), other.client()
        xs = [float(i) for i in range(40)]
        admin.fit(
            pd.DataFrame({"x": xs, "y": [2 * x for x in xs]}),
            "LinearRegression",
            target="y",
            into="raced",
            progress=False,
        )
        probe = pd.DataFrame({"x": [10.0]})
        assert server.apply(probe, "raced")["predicted(y)"].iloc[0] == pytest.approx(20.0)

        answers: list[float] = []
        refused: list[str] = []
        deleted = threading.Event()
        stop = threading.Event()

        def keep_applying() -> None:
            while not stop.is_set():
                try:
                    out = server.apply(probe, "raced@1")
                except Exception as exc:  # after the delete: not found, never stale
                    refused.append(type(exc).__name__)
                else:
                    if deleted.is_set():
                        answers.append(float(out["predicted(y)"].iloc[0]))

        threads = [threading.Thread(target=keep_applying) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        admin.delete_model("raced")
        deleted.set()
        time.sleep(1.0)
        # Whatever was in flight at the delete is done; from now no answer may come.
        answers.clear()
        time.sleep(1.0)
        assert answers == []
        assert refused and set(refused) <= {"ModelNotFound", "VersionNotFound"}

        admin.fit(
            pd.DataFrame({"x": xs, "y": [3 * x for x in xs]}),
            "LinearRegression",
            target="y",
            into="raced",
            progress=False,
        )
        stop.set()
        for t in threads:
            t.join(30)
        for ref in ("raced", "raced@1"):
            fresh = server.apply(probe, ref)["predicted(y)"].iloc[0]
            assert fresh == pytest.approx(30.0), ref  # the new fit, never the deleted one
