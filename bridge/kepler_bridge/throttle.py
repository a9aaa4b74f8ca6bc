"""Slow token guessing down: a client whose token checks keep failing gets 429 for a while.

A pure ASGI middleware around the whole app, so the token check itself
(:func:`kepler_bridge.deps.require_token`) stays as it is: every 401 the app answers
counts as one failed check of the client's address, and once a client failed
``KEPLER_AUTH_FAILURES_PER_MINUTE`` times in the last minute (a moving window, from the
maintained ``limits`` library), its requests are answered 429 with ``Retry-After`` until
the oldest failure leaves the window, without reaching a route.

Keyed by client address, not by token: a guesser sends a new token each time. The
counts live in this process's memory (each bridge counts its own); ``/health`` is never
throttled, so probes keep working.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kepler.core.errors import TooManyRequests

log = logging.getLogger("kepler.bridge")
_NAMESPACE = "kepler-auth-failures"


class AuthThrottle:
    def __init__(self, app: ASGIApp, *, failures_per_minute: int) -> None:
        self.app = app
        self.per_minute = failures_per_minute
        self.limit = RateLimitItemPerMinute(failures_per_minute)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/health":
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        if not self.limiter.test(self.limit, _NAMESPACE, client):
            await self._refuse(client, send)
            return

        async def counting_send(message: Message) -> None:
            failed = message["type"] == "http.response.start" and message["status"] == 401
            if failed and not self.limiter.hit(self.limit, _NAMESPACE, client):
                log.warning("client %s is throttled: too many failed token checks", client)
            await send(message)

        await self.app(scope, receive, counting_send)

    async def _refuse(self, client: str, send: Send) -> None:
        stats = self.limiter.get_window_stats(self.limit, _NAMESPACE, client)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        exc = TooManyRequests(
            f"too many failed token checks from this address ({self.per_minute} a minute, "
            f"KEPLER_AUTH_FAILURES_PER_MINUTE); retry in {retry} seconds with the right "
            "token (KEPLER_TOKEN, or the token file `kepler up` printed)",
            detail={"retry_after_s": retry},
        )
        response = JSONResponse(
            {"error": exc.to_dict()}, status_code=exc.status, headers={"Retry-After": str(retry)}
        )
        await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
