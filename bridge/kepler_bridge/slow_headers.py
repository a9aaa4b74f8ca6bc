"""Close connections whose request headers do not arrive in time (slowloris).

uvicorn bounds an idle keep-alive connection (``timeout_keep_alive``) and a request's
header *size*, but not the time its headers take: a client that opens connections and
sends a header line now and then holds each one for ever. These protocols (uvicorn's own,
httptools when installed, as uvicorn's "auto" picks, else h11) arm a timer when a
connection opens and when a request's first byte arrives, and close the connection if its
headers are not complete within ``KEPLER_HEADER_TIMEOUT`` seconds. Once the headers are
in, the body timeout bounds the request (kepler_bridge.body_limits).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("kepler.bridge")


class _HeaderTimer:
    """Mixed into a uvicorn HTTP protocol: the header deadline."""

    header_timeout: float = 10.0
    _header_timer: asyncio.TimerHandle | None = None
    _headers_done: bool = False
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    client: tuple[str, int] | None

    def _arm(self) -> None:
        self._disarm()
        self._headers_done = False
        self._header_timer = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = None

    def _headers_in(self) -> None:
        self._headers_done = True
        self._disarm()

    def _too_slow(self) -> None:
        self._header_timer = None
        if not self._headers_done and not self.transport.is_closing():
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
            log.info(
                "closed the connection of %s: its request headers took over %g s "
                "(KEPLER_HEADER_TIMEOUT)",
                client,
                self.header_timeout,
            )
            self.transport.close()


def _httptools_protocol() -> Any:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HeaderTimeoutHttpTools(_HeaderTimer, HttpToolsProtocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._headers_in()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderTimeoutHttpTools


def _h11_protocol() -> Any:
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutH11(_HeaderTimer, H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:
                self._headers_in()
            elif self._header_timer is None:  # the next request on a kept-alive connection
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderTimeoutH11


def protocol(header_timeout: float) -> Any:
    """The protocol class for ``uvicorn.run(http=...)`` with this header timeout."""
    try:
        import httptools  # noqa: F401 - uvicorn's "auto" choice when it is installed

        base = _httptools_protocol()
    except ImportError:
        base = _h11_protocol()
    return type("KeplerHttpProtocol", (base,), {"header_timeout": header_timeout})
