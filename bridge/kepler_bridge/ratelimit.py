"""Requests per token: each permission level's token may make ``KEPLER_REQUESTS_PER_MINUTE``
requests in any minute (a moving window from the maintained ``limits`` library); past it
the bridge answers 429 with ``Retry-After``. Keyed by the token's level (one token per
level), after the token check, so a guessed token never spends a real token's budget
(failed checks are throttled per address by kepler_bridge.throttle). The counts live in
this process's memory: each bridge counts its own.

Predict requests (``POST /v1/models/{ref}/predict``) have a budget of their own,
``KEPLER_PREDICT_REQUESTS_PER_MINUTE``: an online caller sends one small request per
answer, thousands a minute, where a search sends one per 50,000-event chunk. That budget
is counted with a sliding-window counter (two counts per token, constant cost per
request) rather than the moving window (one timestamp kept per request).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from kepler.core.errors import TooManyRequests

_NAMESPACE = "kepler-token-requests"
_PREDICT_NAMESPACE = "kepler-token-predicts"
_ADVICE = "send fewer, larger chunks"


class TokenRateLimit:
    def __init__(
        self,
        per_minute: int,
        *,
        setting: str = "KEPLER_REQUESTS_PER_MINUTE",
        what: str = "requests",
        advice: str = _ADVICE,
        namespace: str = _NAMESPACE,
        counter: bool = False,
    ) -> None:
        self.per_minute = per_minute
        self.limit = RateLimitItemPerMinute(max(1, per_minute))
        strategy = SlidingWindowCounterRateLimiter if counter else MovingWindowRateLimiter
        self.limiter = strategy(MemoryStorage())
        self._setting, self._what, self._advice, self._namespace = (
            setting,
            what,
            advice,
            namespace,
        )

    @classmethod
    def for_predict(cls, per_minute: int) -> TokenRateLimit:
        """The predict route's own budget (``KEPLER_PREDICT_REQUESTS_PER_MINUTE``)."""
        return cls(
            per_minute,
            setting="KEPLER_PREDICT_REQUESTS_PER_MINUTE",
            what="predict requests",
            advice="send more rows per request",
            namespace=_PREDICT_NAMESPACE,
            counter=True,
        )

    def hit(self, level: str) -> None:
        """Count one request of ``level``'s token, or raise :class:`TooManyRequests`."""
        if self.per_minute <= 0 or self.limiter.hit(self.limit, self._namespace, level):
            return
        stats = self.limiter.get_window_stats(self.limit, self._namespace, level)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequests(
            f"this bridge token made more than {self.per_minute} {self._what} in a minute "
            f"({self._setting}); retry in {retry} seconds, {self._advice}, or ask the "
            "bridge's admin to raise the limit",
            detail={"retry_after_s": retry, "setting": self._setting},
        )
