"""Micro-batching: concurrent small requests for one key coalesced into one call.

A model's predict costs nearly as much for one row as for a few dozen (a forest walks
its hundred trees either way), so under load answering eight one-row requests with one
eight-row predict frees most of the CPU they would take.

Adaptive by default (``window`` 0): a request for a key with nothing running goes at
once, alone, so a lone request waits for nothing; requests arriving while a batch of
their key runs queue up and go together as the next batch, as soon as it ends (or at
once when they fill ``max_rows``). Batches so grow with the load and never with a timer.
With a positive ``window`` a batch also waits that many seconds for company before it
runs (extra coalescing for those who trade latency for throughput). Either way each
caller gets its own slice of the answer (the run function returns one result per item,
in order), and one batch per key runs at a time unless one fills while another runs.

Everything here runs on the event loop: the waiting is futures (and timers with a
window), never a thread held while others arrive. A caller's wait is bounded by whoever
awaits it (the online service's ``KEPLER_PREDICT_TIMEOUT_S``); an error of the batch's
run goes to each of its callers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

Run = Callable[[list[Any]], Awaitable[list[Any]]]


@dataclass
class _Batch:
    items: list[Any] = field(default_factory=list)
    futures: list[asyncio.Future[Any]] = field(default_factory=list)
    rows: int = 0
    timer: asyncio.TimerHandle | None = None


class MicroBatcher:
    """Coalesce :meth:`submit` calls per key (those that arrive while the key's batch
    runs, or within ``window`` seconds when it is positive), at most ``max_rows`` rows a
    batch, and run each batch once with ``run``."""

    def __init__(self, window: float, max_rows: int, run: Run) -> None:
        if window < 0:
            raise ValueError("a micro-batch window cannot be negative")
        self.window = window
        self.max_rows = max(1, max_rows)
        self._run = run
        self._open: dict[Hashable, _Batch] = {}
        self._running: dict[Hashable, int] = {}  # batches of each key running now
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches = 0  # batches run, for tests and the benchmark

    async def submit(self, key: Hashable, item: Any, rows: int) -> Any:
        """``item``'s own result, computed in a batch with whatever else came for ``key``
        while the key's batch ran (or within the window)."""
        loop = asyncio.get_running_loop()
        batch = self._open.get(key)
        if batch is not None and batch.rows + rows > self.max_rows:
            self._start(key, batch)  # full: it runs now, this item opens the next one
            batch = None
        if batch is None:
            batch = self._open[key] = _Batch()
            if self.window > 0:
                batch.timer = loop.call_later(self.window, self._due, key, batch)
        future: asyncio.Future[Any] = loop.create_future()
        batch.items.append(item)
        batch.futures.append(future)
        batch.rows += rows
        if batch.rows >= self.max_rows or (batch.timer is None and not self._running.get(key)):
            self._start(key, batch)  # full, or adaptive with nothing running: it goes now
        return await future

    def _due(self, key: Hashable, batch: _Batch) -> None:
        """The window ended: run now, or when the key's running batch ends."""
        batch.timer = None
        if not self._running.get(key):
            self._start(key, batch)

    def _start(self, key: Hashable, batch: _Batch) -> None:
        if self._open.get(key) is batch:
            del self._open[key]
        if batch.timer is not None:
            batch.timer.cancel()
            batch.timer = None
        self._running[key] = self._running.get(key, 0) + 1
        task = asyncio.get_running_loop().create_task(self._settle(key, batch))
        self._tasks.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._tasks.discard)

    def _ended(self, key: Hashable) -> None:
        left = self._running.pop(key, 1) - 1
        if left:
            self._running[key] = left
            return
        waiting = self._open.get(key)
        if waiting is not None:  # it filled while this one ran: its wait is over
            self._start(key, waiting)

    async def _settle(self, key: Hashable, batch: _Batch) -> None:
        self.batches += 1
        try:
            await self._answer(batch)
        finally:
            self._ended(key)

    async def _answer(self, batch: _Batch) -> None:
        try:
            results = await self._run(batch.items)
        except Exception as exc:  # each caller sees the batch's error as its own
            for future in batch.futures:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # cancelled (the bridge stops): so are its callers
            for future in batch.futures:
                future.cancel()
            raise
        for future, result in zip(batch.futures, results, strict=True):
            if not future.done():  # a caller that gave up (timed out) is skipped
                future.set_result(result)
