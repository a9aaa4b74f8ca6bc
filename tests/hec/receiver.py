"""A loopback HTTP Event Collector that answers as docs/splunk-protocols.md section 2 says.

A real HTTP/1.1 server (keep-alive, one thread per connection) with Splunk's endpoints,
``Authorization: Splunk <token>``, codes 0-17, channels, indexer acknowledgement, gzip and
concatenated JSON events; and faults to inject: 503 / code 9, connections dropped before or
after the batch is indexed, slow answers, and a restart that loses what was not yet indexed.

Indexing model: without acknowledgement a batch is indexed before the answer. With it, a
batch waits in its channel under its ack id and is indexed at the latest when its ack id
is polled (``index_pending()`` indexes everything waiting, as an indexer catching up
would); a poll reports ``true`` once, then forgets the id, as Splunk does. A restart loses
every waiting batch and every channel: ack ids start again at 0.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import random
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TEXTS = {
    0: "Success",
    1: "Token disabled",
    2: "Token is required",
    3: "Invalid authorization",
    4: "Invalid token",
    5: "No data",
    6: "Invalid data format",
    7: "Incorrect index",
    8: "Internal server error",
    9: "Server is busy",
    10: "Data channel is missing",
    11: "Invalid data channel",
    12: "Event field is required",
    13: "Event field cannot be blank",
    14: "ACK is disabled",
    15: "Error in handling indexed fields",
    16: "Query string authorization is not enabled",
    17: "HEC is healthy",
}
STATUS = {0: 200, 1: 403, 2: 401, 3: 401, 4: 403, 5: 400, 6: 400, 7: 400, 8: 500, 9: 503}
STATUS |= {n: 400 for n in range(10, 17)} | {17: 200}


@dataclass
class Token:
    ack: bool = False
    disabled: bool = False
    indexes: set[str] | None = None  # allowed indexes; None allows any
    default_index: str = "main"


@dataclass
class Faults:
    """Faults on ``/services/collector[/event]`` posts: counts for the next N requests, and
    probabilities (seeded) for every request after those."""

    busy: int = 0
    drop: int = 0  # close the connection after reading the request; nothing indexed
    drop_after: int = 0  # index the batch, then close without answering
    slow: int = 0
    slow_seconds: float = 0.2
    p_busy: float = 0.0
    p_drop: float = 0.0
    p_drop_after: float = 0.0
    p_slow: float = 0.0
    seed: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def pick(self) -> str | None:
        for name in ("busy", "drop", "drop_after", "slow"):
            if getattr(self, name) > 0:
                setattr(self, name, getattr(self, name) - 1)
                return name
        roll = self.rng.random()
        for name in ("busy", "drop", "drop_after", "slow"):
            p = getattr(self, f"p_{name}")
            if roll < p:
                return name
            roll -= p
        return None


class _Channel:
    def __init__(self) -> None:
        self.next_id = 0
        self.waiting: dict[int, list[dict[str, Any]]] = {}
        self.done: set[int] = set()


class HecReceiver:
    """``with HecReceiver(token="t", ack=True) as hec: ... hec.events``."""

    def __init__(
        self,
        token: str = "test-hec-token",  # noqa: S107 - a test double's token
        *,
        ack: bool = False,
        indexes: set[str] | None = None,
        tokens: dict[str, Token] | None = None,
        allow_query_string_auth: bool = False,
        max_content_length: int = 838_860_800,
        port: int = 0,
        fast: bool = False,
    ) -> None:
        self.tokens = tokens if tokens is not None else {token: Token(ack=ack, indexes=indexes)}
        self.allow_query_string_auth = allow_query_string_auth
        self.max_content_length = max_content_length
        self.faults = Faults()
        self.events: list[dict[str, Any]] = []  # the index
        self.stats: Counter[str] = Counter()
        self.headers_seen: list[dict[str, str]] = []
        self.lock = threading.Lock()
        self._channels: dict[str, _Channel] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._generation = 0  # a request taken before a restart is lost with it
        self.port = port
        # Benchmarks only: parse a batch with one json.loads (exact unless an event's text
        # holds "}{"), so the receiver is not what a sender's throughput measures.
        self.fast = fast

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HecReceiver:
        receiver = self

        class Handler(_Handler):
            hec = receiver

        server = _Server(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Down: the port refuses connections; open connections are cut."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        with self.lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def restart(self, down_for: float = 0.0) -> None:
        """Stop, lose every batch not yet indexed and every channel, start on the same port."""
        self.stop()
        with self.lock:
            self._channels.clear()
            self._generation += 1
            self.stats["restarts"] += 1
        if down_for:
            time.sleep(down_for)
        self.start()

    def index_pending(self) -> None:
        with self.lock:
            for channel in self._channels.values():
                for ack_id, events in channel.waiting.items():
                    self.events.extend(events)
                    channel.done.add(ack_id)
                channel.waiting.clear()

    def __enter__(self) -> HecReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- protocol ------------------------------------------------------------------------

    def answer(self, handler: _Handler, method: str) -> tuple[int, dict[str, Any]] | None:
        """The reply to one request, or None to drop the connection without one."""
        generation = self._generation
        parts = urlsplit(handler.path)
        path, query = parts.path.rstrip("/"), parse_qs(parts.query)
        body = handler.read_body()
        if method == "GET":
            if path == "/services/collector/health":
                return 200, {"text": TEXTS[17], "code": 17}
            return 404, {"text": "The requested URL was not found on this server.", "code": 404}
        collector = path in ("/services/collector", "/services/collector/event")
        if collector:
            with self.lock:
                fault = self.faults.pick()
            if fault:
                self.stats[fault] += 1
            if fault == "busy":
                return 503, {"text": TEXTS[9], "code": 9}
            if fault == "drop":
                return None
            if fault == "slow":
                time.sleep(self.faults.slow_seconds)
        else:
            fault = None
        if path not in (
            "/services/collector",
            "/services/collector/event",
            "/services/collector/raw",
            "/services/collector/ack",
        ):
            return 404, {"text": "The requested URL was not found on this server.", "code": 404}
        token, code = self._auth(handler, query)
        if code:
            return STATUS[code], {"text": TEXTS[code], "code": code}
        assert token is not None
        conf = self.tokens[token]
        channel_id = (
            handler.headers.get("X-Splunk-Request-Channel") or (query.get("channel", [None])[0])
        )
        if path == "/services/collector/ack":
            if not conf.ack:
                return _reply(14)
            if not channel_id:
                return _reply(10)
            if not GUID.match(channel_id):
                return _reply(11)
            return 200, {"acks": self._acks(channel_id, body)}
        if (conf.ack or path.endswith("/raw")) and not channel_id:
            return _reply(10)
        if channel_id and not GUID.match(channel_id):
            return _reply(11)
        if handler.headers.get("Content-Encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError):
                return _reply(6)
        if len(body) > self.max_content_length:
            return 413, {"text": "Content-Length of request exceeds max_content_length", "code": 6}
        if path.endswith("/raw"):
            events, error = _raw_events(body, query, conf), None
        else:
            events, error = _parse_fast(body, conf) if self.fast else _parse(body, conf)
        reply: tuple[int, dict[str, Any]]
        with self.lock:
            if generation != self._generation:
                return None  # the process that took this request is gone
            if error is not None:
                # Events before the bad one went into the pipeline, as with Splunk.
                self.events.extend(events)
                code, number = error
                reply = (
                    STATUS[code],
                    {"text": TEXTS[code], "code": code, "invalid-event-number": number},
                )
            elif conf.ack:
                channel = self._channels.setdefault(channel_id, _Channel())
                ack_id = channel.next_id
                channel.next_id += 1
                channel.waiting[ack_id] = events
                reply = 200, {"text": TEXTS[0], "code": 0, "ackId": ack_id}
            else:
                self.events.extend(events)
                reply = 200, {"text": TEXTS[0], "code": 0}
        if fault == "drop_after":
            return None
        return reply

    def _auth(self, handler: _Handler, query: dict[str, list[str]]) -> tuple[str | None, int]:
        header = handler.headers.get("Authorization")
        if header is None:
            if "token" in query:
                if not self.allow_query_string_auth:
                    return None, 16
                header = f"Splunk {query['token'][0]}"
            else:
                return None, 2
        scheme, _, value = header.partition(" ")
        if scheme not in ("Splunk", "Bearer") or not value:
            return None, 3
        conf = self.tokens.get(value.strip())
        if conf is None:
            return None, 4
        if conf.disabled:
            return None, 1
        return value.strip(), 0

    def _acks(self, channel_id: str, body: bytes) -> dict[str, bool]:
        try:
            ids = json.loads(body or b"{}").get("acks", [])
        except (ValueError, AttributeError):
            ids = []
        out: dict[str, bool] = {}
        with self.lock:
            channel = self._channels.get(channel_id)
            for ack_id in ids:
                done = False
                if channel is not None and isinstance(ack_id, int):
                    if ack_id in channel.waiting:
                        self.events.extend(channel.waiting.pop(ack_id))
                        done = True
                    elif ack_id in channel.done:
                        channel.done.discard(ack_id)
                        done = True
                out[str(ack_id)] = done
        return out


def _reply(code: int) -> tuple[int, dict[str, Any]]:
    return STATUS[code], {"text": TEXTS[code], "code": code}


def _parse(body: bytes, conf: Token) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
    """Concatenated JSON objects; (events before the first bad one, (code, its number))."""
    text = body.decode("utf-8", "replace")
    decoder = json.JSONDecoder()
    events: list[dict[str, Any]] = []
    pos, end, number = 0, len(text), 0
    while True:
        while pos < end and text[pos] in " \t\r\n":
            pos += 1
        if pos >= end:
            break
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except ValueError:
            return events, (6, number)
        code = _check(obj, conf)
        if code:
            return events, (code, number)
        obj.setdefault("index", conf.default_index)
        events.append(obj)
        number += 1
    if not events:
        return events, (5, 0)
    return events, None


def _parse_fast(body: bytes, conf: Token) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
    try:
        objs = json.loads(b"[" + body.strip().replace(b"}{", b"},{") + b"]")
    except ValueError:
        return _parse(body, conf)
    for obj in objs:
        if _check(obj, conf):
            return _parse(body, conf)
        obj.setdefault("index", conf.default_index)
    return objs, None if objs else (5, 0)


def _check(obj: Any, conf: Token) -> int:
    if not isinstance(obj, dict):
        return 6
    if "event" not in obj:
        return 12
    event = obj["event"]
    if event is None or (isinstance(event, str) and not event.strip()):
        return 13
    if "time" in obj:
        try:
            float(obj["time"])
        except (TypeError, ValueError):
            return 6
    index = obj.get("index")
    if index is not None and conf.indexes is not None and index not in conf.indexes:
        return 7
    fields = obj.get("fields")
    if fields is not None:
        if not isinstance(fields, dict):
            return 15
        for value in fields.values():
            if isinstance(value, dict):
                return 15
            if isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
                return 15
    return 0


def _raw_events(body: bytes, query: dict[str, list[str]], conf: Token) -> list[dict[str, Any]]:
    meta = {k: v[0] for k, v in query.items() if k in ("host", "source", "sourcetype", "index")}
    meta.setdefault("index", conf.default_index)
    lines = body.decode("utf-8", "replace").splitlines()
    return [{"event": line, **meta} for line in lines if line.strip()]


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, restart) is part of the test, not an error."""
        return


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hec: HecReceiver

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.hec.lock:
            self.hec._conns.add(self.connection)
            self.hec.stats["connections"] += 1

    def finish(self) -> None:
        with self.hec.lock:
            self.hec._conns.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self, method: str) -> None:
        with self.hec.lock:
            self.hec.stats["requests"] += 1
            self.hec.headers_seen.append(dict(self.headers))
            if len(self.hec.headers_seen) > 1000:
                del self.hec.headers_seen[:500]
        result = self.hec.answer(self, method)
        if result is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        status, body = result
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")

    def log_message(self, format: str, *args: Any) -> None:
        return


def main() -> None:
    """``python -m tests.hec.receiver PORT TOKEN [ack] [fast]``: serve until stdin closes
    (benchmarks run the receiver in its own process); prints how many events it indexed."""
    import sys

    port, token, flags = int(sys.argv[1]), sys.argv[2], set(sys.argv[3:])
    with HecReceiver(token=token, ack="ack" in flags, port=port, fast="fast" in flags) as rx:
        print(f"ready {rx.port}", flush=True)
        for line in sys.stdin:
            if line.strip() == "count":
                rx.index_pending()
                print(f"count {len(rx.events)}", flush=True)
            elif line.strip() == "reset":
                with rx.lock:
                    rx.events.clear()
                print("reset", flush=True)


if __name__ == "__main__":
    main()
