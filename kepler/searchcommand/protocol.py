"""Protocol v2 framing: ``chunked 1.0,<metadata bytes>,<body bytes>\\n`` + metadata + body."""

from __future__ import annotations

import json
import re
from typing import Any, BinaryIO

_HEADER = re.compile(rb"chunked\s+1.0\s*,\s*(\d+)\s*,\s*(\d+)\s*\n")


class ProtocolError(Exception):
    """splunkd sent something that is not a protocol v2 chunk."""


def read_chunk(stream: BinaryIO) -> tuple[dict[str, Any], bytes] | None:
    """The next chunk from splunkd, or None at end of input."""
    line = stream.readline()
    while line in (b"\n", b"\r\n"):  # tolerate blank lines between chunks
        line = stream.readline()
    if not line:
        return None
    match = _HEADER.match(line)
    if match is None:
        raise ProtocolError(f"not a protocol v2 chunk header: {line[:80]!r}")
    meta_len, body_len = int(match.group(1)), int(match.group(2))
    metadata = _read_exactly(stream, meta_len)
    body = _read_exactly(stream, body_len)
    return (json.loads(metadata) if metadata else {}), body


def _read_exactly(stream: BinaryIO, n: int) -> bytes:
    data = stream.read(n) if n else b""
    if len(data) != n:
        raise ProtocolError(f"chunk cut short: expected {n} bytes, got {len(data)}")
    return data


def write_chunk(stream: BinaryIO, metadata: dict[str, Any], body: bytes = b"") -> None:
    meta = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    stream.write(b"chunked 1.0,%d,%d\n" % (len(meta), len(body)))
    stream.write(meta)
    stream.write(body)
    stream.flush()
