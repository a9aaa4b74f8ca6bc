"""Micro-batching on a real event loop: coalescing, slices, limits and errors."""

from __future__ import annotations

import asyncio
import random

import pytest

from kepler.server.scoring.batcher import MicroBatcher


class Doubler:
    """A run function that records each batch and answers each item with its double."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(random.uniform(0, 0.002))  # as a predict on a thread would
        if self.fail_on is not None and self.fail_on in items:
            raise ValueError(f"bad item {self.fail_on}")
        return [2 * i for i in items]


def test_concurrent_submits_coalesce_and_each_gets_its_own() -> None:
    run = Doubler()

    async def main() -> list[int]:
        batcher = MicroBatcher(0.02, 1000, run)
        return await asyncio.gather(*(batcher.submit("k", i, 1) for i in range(40)))

    assert asyncio.run(main()) == [2 * i for i in range(40)]
    assert len(run.batches) == 1 and sorted(run.batches[0]) == list(range(40))


def test_batches_stop_at_max_rows_and_keys_never_mix() -> None:
    run = Doubler()

    async def main() -> list[int]:
        batcher = MicroBatcher(0.02, 5, run)
        calls = [batcher.submit(i % 2, i, 1) for i in range(20)]
        return await asyncio.gather(*calls)

    assert asyncio.run(main()) == [2 * i for i in range(20)]
    assert all(len(b) <= 5 for b in run.batches)
    assert all(len({i % 2 for i in b}) == 1 for b in run.batches)
    assert sorted(i for b in run.batches for i in b) == list(range(20))


def test_a_batch_error_reaches_each_of_its_callers() -> None:
    run = Doubler(fail_on=3)

    async def main() -> list[object]:
        batcher = MicroBatcher(0.02, 100, run)
        return await asyncio.gather(
            *(batcher.submit("k", i, 1) for i in range(5)), return_exceptions=True
        )

    out = asyncio.run(main())
    assert all(isinstance(o, ValueError) and "bad item 3" in str(o) for o in out)


def test_a_caller_that_times_out_leaves_the_others_answered() -> None:
    run = Doubler()

    async def main() -> tuple[object, int]:
        batcher = MicroBatcher(0.05, 100, run)
        impatient = asyncio.wait_for(batcher.submit("k", 1, 1), 0.01)
        patient = batcher.submit("k", 2, 1)
        return tuple(await asyncio.gather(impatient, patient, return_exceptions=True))  # type: ignore[return-value]

    first, second = asyncio.run(main())
    assert isinstance(first, TimeoutError) and second == 4


def test_window_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        MicroBatcher(0, 10, Doubler())


def test_requests_arriving_while_a_batch_runs_wait_for_it_and_go_together() -> None:
    batches: list[list[int]] = []

    async def slow(items: list[int]) -> list[int]:
        batches.append(list(items))
        await asyncio.sleep(0.05)
        return [2 * i for i in items]

    async def main() -> list[int]:
        batcher = MicroBatcher(0.001, 100, slow)
        first = asyncio.ensure_future(batcher.submit("k", 0, 1))
        await asyncio.sleep(0.01)  # the first batch runs now
        later = [batcher.submit("k", i, 1) for i in range(1, 11)]
        return await asyncio.gather(first, *later)

    assert asyncio.run(main()) == [2 * i for i in range(11)]
    assert batches == [[0], list(range(1, 11))]
