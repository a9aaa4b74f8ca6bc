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


def test_window_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        MicroBatcher(-0.001, 10, Doubler())


def test_adaptive_lone_request_runs_at_once() -> None:
    run = Doubler()

    async def main() -> int:
        batcher = MicroBatcher(0, 100, run)
        # Nothing else runs: the batch starts before the caller awaits anything but it.
        task = asyncio.ensure_future(batcher.submit("k", 7, 1))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert run.batches == [[7]]
        return await task

    assert asyncio.run(main()) == 14


def test_adaptive_requests_arriving_while_one_runs_go_together_next() -> None:
    batches: list[list[int]] = []

    async def slow(items: list[int]) -> list[int]:
        batches.append(list(items))
        await asyncio.sleep(0.03)
        return [2 * i for i in items]

    async def main() -> list[int]:
        batcher = MicroBatcher(0, 6, slow)
        first = asyncio.ensure_future(batcher.submit("k", 0, 1))
        await asyncio.sleep(0.005)  # the first batch runs now, alone
        later = [batcher.submit("k", i, 1) for i in range(1, 11)]
        return await asyncio.gather(first, *later)

    assert asyncio.run(main()) == [2 * i for i in range(11)]
    # The first alone; the ten that queued behind it in batches of at most six rows.
    assert batches[0] == [0]
    assert all(len(b) <= 6 for b in batches)
    assert sorted(i for b in batches[1:] for i in b) == list(range(1, 11))
    assert len(batches) == 3


def test_adaptive_many_concurrent_callers_each_get_exactly_their_own() -> None:
    async def rows(items: list[tuple[int, int]]) -> list[list[int]]:
        await asyncio.sleep(random.uniform(0, 0.003))
        return [[caller * 1000 + r for r in range(n)] for caller, n in items]

    async def one(batcher: MicroBatcher, caller: int) -> tuple[int, list[int]]:
        await asyncio.sleep(random.uniform(0, 0.02))
        n = caller % 5 + 1
        return caller, await batcher.submit("k", (caller, n), n)

    async def main() -> list[tuple[int, list[int]]]:
        batcher = MicroBatcher(0, 16, rows)
        out = await asyncio.gather(*(one(batcher, c) for c in range(200)))
        assert batcher.batches < 200  # some coalesced
        return out

    for caller, got in asyncio.run(main()):
        assert got == [caller * 1000 + r for r in range(caller % 5 + 1)]


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
