"""Request-body bounds on a real bridge process (uvicorn): JSON size, and silent bodies."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kepler._stack import free_port, wait_until

TOKEN = "body-limits-token"
# Every wait in these tests is bounded: a bridge that never answers fails the test.
ANSWER_WITHIN_S = 30

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(
        KEPLER_HOME=str(tmp_path_factory.mktemp("home")),
        KEPLER_PORT=str(port),
        KEPLER_TOKEN=TOKEN,
        KEPLER_MAX_JSON_BYTES="4096",
        KEPLER_BODY_READ_TIMEOUT="1",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "kepler", "bridge"],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200, 60, "bridge"
        )
        yield port
    finally:
        proc.terminate()
        proc.wait(20)


def exchange(port: int, head: str, body_parts: list[bytes]) -> tuple[int, dict[str, str], bytes]:
    """Send a request head and some body bytes, never the rest; read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WITHIN_S) as s:
        # One write: the bridge reads all of it before it answers, so closing the
        # connection after its answer never resets it with our bytes still unread.
        s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + b"".join(body_parts))
        data = b""
        while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < _length(data):
            block = s.recv(65536)  # raises TimeoutError if the bridge never answers
            if not block:
                break
            data += block
    status_line, _, rest = data.partition(b"\r\n")
    header_text, _, payload = rest.partition(b"\r\n\r\n")
    headers = {}
    for line in header_text.decode().split("\r\n"):
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, payload


def _length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 1 << 30


def test_json_body_over_the_limit_by_content_length_is_413_before_it_arrives(
    bridge: int,
) -> None:
    head = (
        "POST /v1/jobs/fit?dry_run=true HTTP/1.1\n"
        f"Host: 127.0.0.1\nAuthorization: Bearer {TOKEN}\n"
        "Content-Type: application/json\nContent-Length: 300000000\n"
    )
    status, _, payload = exchange(bridge, head, [])  # not one byte of the 300 MB sent
    assert status == 413
    error = json.loads(payload)["error"]
    assert error["code"] == "payload_too_large"
    assert "KEPLER_MAX_JSON_BYTES" in error["message"] and "4,096" in error["message"]


def test_json_body_over_the_limit_by_bytes_read_is_413_before_it_ends(bridge: int) -> None:
    head = (
        "POST /v1/jobs/fit?dry_run=true HTTP/1.1\n"
        f"Host: 127.0.0.1\nAuthorization: Bearer {TOKEN}\n"
        "Content-Type: application/json\nTransfer-Encoding: chunked\n"
    )
    block = b' "features": ["' + b"a" * 1000 + b'"],'
    parts = [b"%x\r\n%s\r\n" % (len(block), block) for _ in range(5)]  # never ended
    status, _, payload = exchange(bridge, head, [b'4\r\n{"x"\r\n', *parts])
    assert status == 413
    assert json.loads(payload)["error"]["code"] == "payload_too_large"


def test_small_json_body_still_works(bridge: int) -> None:
    resp = httpx.post(
        f"http://127.0.0.1:{bridge}/v1/jobs/fit?dry_run=true",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"algorithm": "KMeans", "features": ["a"], "params": {"k": 3}},
        timeout=ANSWER_WITHIN_S,
    )
    assert resp.status_code == 202, resp.text


def test_chunk_whose_body_stops_arriving_is_408(bridge: int) -> None:
    created = httpx.post(
        f"http://127.0.0.1:{bridge}/v1/datasets",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"format": "csv"},
        timeout=ANSWER_WITHIN_S,
    ).json()
    head = (
        f"PUT /v1/datasets/{created['id']}/chunks/0 HTTP/1.1\n"
        f"Host: 127.0.0.1\nAuthorization: Bearer {TOKEN}\n"
        "Content-Type: text/csv\nContent-Length: 1000000\n"
    )
    status, _, payload = exchange(bridge, head, [b"x\r\n1\r\n"])  # 6 of 1,000,000 bytes
    assert status == 408
    error = json.loads(payload)["error"]
    assert error["code"] == "request_timeout"
    assert "KEPLER_BODY_READ_TIMEOUT" in error["message"]
    # nothing was stored: the chunk can be sent again, whole
    again = httpx.put(
        f"http://127.0.0.1:{bridge}/v1/datasets/{created['id']}/chunks/0",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "text/csv"},
        content=b"x\r\n1\r\n",
        timeout=ANSWER_WITHIN_S,
    )
    assert again.status_code == 200 and again.json()["rows"] == 1
