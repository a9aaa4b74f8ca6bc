"""The online path as the bridge's event loop runs it: :class:`OnlineService`.

The scorer's work (:class:`~kepler.server.scoring.online.OnlineScorer`) goes to worker
threads, at most ``KEPLER_PREDICT_THREADS`` at once, so that concurrent requests neither
wait on the event loop nor oversubscribe the cores; each request's wait is bounded by
``KEPLER_PREDICT_TIMEOUT_S``. A small JSON body for a model already in memory is read on
the loop itself (a thread hop costs more than reading it). Small requests for one
version that arrive while its predict runs are predicted together as the next batch
(adaptive micro-batching, :mod:`kepler.server.scoring.batcher`): a lone request goes at
once; ``KEPLER_PREDICT_BATCH_WINDOW_MS`` adds a wait for company. Each predicted batch
is one ``kepler:apply`` telemetry event (``mode=online``, with its rows and requests),
so the Model health dashboard counts online predictions with the rest.
"""

from __future__ import annotations

import os
import time
from typing import Any

from kepler.core.errors import KeplerError, TooManyRequests
from kepler.core.refs import ModelRef
from kepler.server.model_cache import ModelCache
from kepler.server.scoring.online import OnlineScorer, Predicted, PredictOptions, Prepared

INLINE = 32 * 1024  # JSON bodies up to this size are read on the event loop


class OnlineService:
    """The online path as the bridge's event loop runs it: the scorer's work on worker
    threads, at most ``threads`` at once, each request's wait bounded by ``timeout``;
    with a batch window, small concurrent requests coalesced (see the module docstring)."""

    def __init__(
        self,
        cache: ModelCache,
        *,
        max_rows: int,
        parallel_rows: int,
        threads: int = 0,
        timeout: float = 30.0,
        batch_window_ms: float = 0.0,
        batch_max_rows: int = 256,
        telemetry: Any = None,
    ) -> None:
        from kepler.server.scoring.batcher import MicroBatcher

        self.scorer = OnlineScorer(cache, max_rows=max_rows, parallel_rows=parallel_rows)
        self.threads = threads or os.cpu_count() or 1
        self.timeout = timeout
        self._limiter: Any = None
        self.telemetry = telemetry  # kepler.server.telemetry.Telemetry, or None
        self.batcher = MicroBatcher(batch_window_ms / 1000.0, batch_max_rows, self._predict_batch)

    @classmethod
    def from_settings(
        cls, cache: ModelCache, settings: Any, telemetry: Any = None
    ) -> OnlineService:
        return cls(
            cache,
            max_rows=settings.predict_max_rows,
            parallel_rows=settings.predict_parallel_rows,
            threads=settings.predict_threads,
            timeout=settings.predict_timeout_s,
            batch_window_ms=settings.predict_batch_window_ms,
            batch_max_rows=settings.predict_batch_max_rows,
            telemetry=telemetry,
        )

    @property
    def limiter(self) -> Any:
        if self._limiter is None:  # made in the event loop that uses it
            import anyio

            self._limiter = anyio.CapacityLimiter(self.threads)
        return self._limiter

    async def answer(self, ref: ModelRef, fmt: str, body: bytes, options: PredictOptions) -> bytes:
        """The JSON answer to one predict request."""
        import anyio

        try:
            with anyio.fail_after(self.timeout):
                return await self._answer(ref, fmt, body, options)
        except TimeoutError:
            raise TooManyRequests(
                f"the prediction waited more than {self.timeout:g} s "
                "(KEPLER_PREDICT_TIMEOUT_S): the bridge has more requests than its "
                "KEPLER_PREDICT_THREADS can answer; retry later, send rows in fewer, larger "
                "requests, or run more bridges",
                detail={"retry_after_s": 1, "setting": "KEPLER_PREDICT_TIMEOUT_S"},
            ) from None

    async def _answer(self, ref: ModelRef, fmt: str, body: bytes, options: PredictOptions) -> bytes:
        from anyio import to_thread

        # A small JSON body for a model in memory is read here, on the loop: a thread
        # hop would cost more than the reading (and waits for the GIL under load).
        fetched = self.scorer.cache.peek(ref) if fmt == "json" and len(body) <= INLINE else None
        if fetched is not None:
            prepared = self.scorer.prepare(ref, fmt, body, options, fetched)
        else:
            prepared = await to_thread.run_sync(
                self.scorer.prepare, ref, fmt, body, options, limiter=self.limiter
            )
        # A forecaster runs over its request's rows as one series: never beside another's.
        alone = prepared.model[1].task == "forecaster"
        if alone or prepared.rows >= self.batcher.max_rows:
            predicted = (await self._predict_batch([prepared]))[0]
        else:
            predicted = await self.batcher.submit(prepared.key, prepared, prepared.rows)
        return predicted.to_json()

    async def _predict_batch(self, items: list[Prepared]) -> list[Predicted]:
        from anyio import to_thread

        started = time.perf_counter()
        try:
            out: list[Predicted] = await to_thread.run_sync(
                self.scorer.predict, items, limiter=self.limiter
            )
        except KeplerError as exc:
            self._report(items, started, exc.message)
            raise
        self._report(items, started, None)
        return out

    def _report(self, items: list[Prepared], started: float, error: str | None) -> None:
        """One ``kepler:apply`` event (``mode=online``) for a predicted batch."""
        if self.telemetry is None or not self.telemetry.enabled or not items:
            return
        info = items[0].info
        rows = sum(item.rows for item in items)
        self.telemetry.apply_batch(
            info.name,
            int(info.version),
            rows=0 if error else rows,
            latency_s=time.perf_counter() - started,
            errors=len(items) if error else 0,
            error=error,
            mode="online",
            requests=len(items),
        )
