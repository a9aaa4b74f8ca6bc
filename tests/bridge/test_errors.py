"""The bridge's error mapping, driven through the real app at the ASGI level."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from kepler.server.settings import ServerSettings
from kepler_bridge.app import create_app

TOKEN = "errors-test-token"


def test_client_disconnect_is_one_info_line_not_an_internal_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(ServerSettings(home=tmp_path / "home"), TOKEN)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/models/pump/apply",
        "raw_path": b"/v1/models/pump/apply",
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {TOKEN}".encode()),
            (b"content-type", b"text/csv"),
            (b"content-length", b"100000"),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    # Part of the body, then the client closes the connection (Splunk cancelled).
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"x\r\n1\r\n", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if len(messages) > 1 else messages[0]

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with caplog.at_level(logging.INFO):
        asyncio.run(app(scope, receive, send))  # raised ClientDisconnect before

    records = [r for r in caplog.records if r.name.startswith("kepler")]
    assert [r.levelno for r in records] == [logging.INFO], [r.getMessage() for r in records]
    assert records[0].getMessage() == "client went away during POST /v1/models/pump/apply"
    assert records[0].exc_info is None
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)
