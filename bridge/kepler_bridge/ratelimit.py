"""Requests per token: each permission level's token may make ``KEPLER_REQUESTS_PER_MINUTE``
requests in any minute (a moving window from the maintained ``limits`` library); past it
the bridge answers 429 with ``Retry-After``. Keyed by the token's level (one token per
level), after the token check, so a guessed token never spends a real token's budget
(failed checks are throttled per address by kepler_bridge.throttle). The counts live in
this process's memory: each bridge counts its own.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from kepler.core.errors import TooManyRequests

_NAMESPACE = "kepler-token-requests"


class TokenRateLimit:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.limit = RateLimitItemPerMinute(max(1, per_minute))
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, level: str) -> None:
        """Count one request of ``level``'s token, or raise :class:`TooManyRequests`."""
        if self.per_minute <= 0 or self.limiter.hit(self.limit, _NAMESPACE, level):
            return
        stats = self.limiter.get_window_stats(self.limit, _NAMESPACE, level)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequests(
            f"this bridge token made more than {self.per_minute} requests in a minute "
            f"(KEPLER_REQUESTS_PER_MINUTE); retry in {retry} seconds, send fewer, larger "
            "chunks, or ask the bridge's admin to raise the limit",
            detail={"retry_after_s": retry},
        )
