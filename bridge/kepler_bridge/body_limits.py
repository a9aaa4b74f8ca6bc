"""Bounds on request bodies, before any route reads them: size of JSON, silence of all.

A pure ASGI middleware, so that nothing is buffered before a limit is checked:

- A JSON body (``application/json``, or no Content-Type on a route that is not a
  streaming one) larger than ``KEPLER_MAX_JSON_BYTES`` is refused with 413: by its
  declared Content-Length before a byte is read, else as soon as more bytes arrived
  (at most the limit is held). The tabular routes (chunk uploads, apply) stream their
  bodies and enforce ``KEPLER_MAX_CHUNK_BYTES`` themselves; a model registration,
  ``KEPLER_REGISTER_MAX_BYTES``.
- Any body that goes silent for ``KEPLER_BODY_READ_TIMEOUT`` seconds while more is
  expected is answered with 408 (a client that declares a large Content-Length and sends
  a few bytes would otherwise hold a connection and a worker for ever). Once the body is
  complete, reads (Starlette's wait for a disconnect) are not timed.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kepler.core import wire
from kepler.core.errors import KeplerError, PayloadTooLarge, RequestTimeout

log = logging.getLogger("kepler.bridge")

# Routes whose raw bodies are streamed (and bounded) by the route itself.
_STREAMING = wire.matcher(wire.DATASET_CHUNK, wire.MODEL_APPLY, wire.MODEL_REGISTER)


class BodyLimits:
    def __init__(self, app: ASGIApp, *, max_json_bytes: int, read_timeout: float) -> None:
        self.app = app
        self.max_json_bytes = max_json_bytes
        self.read_timeout = read_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        timed = _TimedReceive(receive, self.read_timeout)
        if not self._is_json(scope):
            await self.app(scope, timed, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_json_bytes:
            await _refuse(send, self._too_large())
            return
        body = bytearray()
        while True:
            try:
                message = await timed()
            except RequestTimeout as exc:
                await _refuse(send, exc)
                return
            if message["type"] == "http.disconnect":
                log.info("client went away during %s %s", scope["method"], scope["path"])
                return
            body += message.get("body", b"")
            if len(body) > self.max_json_bytes:
                await _refuse(send, self._too_large())
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _Replay(bytes(body), receive), send)

    def _is_json(self, scope: Scope) -> bool:
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return False
        media = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if not media:
            return not _STREAMING.match(scope["path"])
        return media == "application/json" or media.endswith("+json")

    def _too_large(self) -> PayloadTooLarge:
        limit = self.max_json_bytes
        return PayloadTooLarge(
            f"the JSON request body is larger than {limit:,} bytes, the most the bridge "
            "takes (KEPLER_MAX_JSON_BYTES); send data as dataset chunks, not in JSON, or "
            "raise KEPLER_MAX_JSON_BYTES on the bridge",
            detail={"setting": "KEPLER_MAX_JSON_BYTES", "limit_bytes": limit},
        )


class _TimedReceive:
    """``receive``, bounded by ``timeout`` seconds while the body is still arriving."""

    def __init__(self, receive: Receive, timeout: float) -> None:
        self._receive = receive
        self._timeout = timeout
        self._body_done = False

    async def __call__(self) -> Message:
        if self._body_done:
            return await self._receive()
        with anyio.move_on_after(self._timeout) as scope:
            message = await self._receive()
        if scope.cancelled_caught:
            raise RequestTimeout(
                f"the request body stopped arriving: nothing came for {self._timeout:g} "
                "seconds (KEPLER_BODY_READ_TIMEOUT); send the whole body promptly, with a "
                "Content-Length that matches it",
                detail={"setting": "KEPLER_BODY_READ_TIMEOUT", "timeout_s": self._timeout},
            )
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._body_done = True
        return message


class _Replay:
    """The body already read, then the connection's own messages (a disconnect)."""

    def __init__(self, body: bytes, receive: Receive) -> None:
        self._first: Message | None = {"type": "http.request", "body": body, "more_body": False}
        self._receive = receive

    async def __call__(self) -> Message:
        if self._first is not None:
            message, self._first = self._first, None
            return message
        return await self._receive()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _refuse(send: Send, exc: KeplerError) -> None:
    headers: dict[str, Any] = {"Connection": "close"}
    response = JSONResponse({"error": exc.to_dict()}, status_code=exc.status, headers=headers)
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
