"""Request headers that trickle in close the connection (KEPLER_HEADER_TIMEOUT), under
uvicorn's httptools parser (a real bridge process) and its h11 one (in process)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from kepler._stack import LocalStack, free_port, wait_until
from kepler_bridge.slow_headers import _h11_protocol, _httptools_protocol


def closed_within(port: int, bound: float) -> bool:
    """Send half a request's headers and wait: True when the server closes first."""
    with socket.create_connection(("127.0.0.1", port), timeout=bound) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        try:
            return sock.recv(1024) == b""
        except TimeoutError:
            return False


def a_whole_request_is_answered(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return sock.recv(1024).startswith(b"HTTP/1.1 200")


def test_the_bridge_closes_a_connection_whose_headers_trickle(tmp_path: Path) -> None:
    env = {"KEPLER_HEADER_TIMEOUT": "1"}
    with LocalStack(tmp_path / "home", workers=0, beat=False, extra_env=env) as stack:
        assert a_whole_request_is_answered(stack.port)
        assert closed_within(stack.port, 15)


async def _health(scope, receive, send):  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    headers = [(b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(params=["h11", "httptools"])
def server(request: pytest.FixtureRequest) -> Iterator[int]:
    base = _h11_protocol() if request.param == "h11" else _httptools_protocol()
    proto = type("P", (base,), {"header_timeout": 1.0})
    port = free_port()
    config = uvicorn.Config(_health, host="127.0.0.1", port=port, http=proto, log_level="error")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(srv.serve()), daemon=True)
    thread.start()
    wait_until(lambda: srv.started, 20, "uvicorn")
    yield port
    srv.should_exit = True
    thread.join(20)


def test_each_parser_closes_slow_headers_and_serves_whole_requests(server: int) -> None:
    assert a_whole_request_is_answered(server)
    assert closed_within(server, 15)
    # Kept alive: the next request's headers are bounded too, not only the first's.
    with socket.create_connection(("127.0.0.1", server), timeout=15) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while not answer.endswith(b"\r\n\r\nok"):
            block = sock.recv(1024)
            assert block, answer
            answer += block
        assert answer.startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        assert sock.recv(1024) == b""
