"""What the search shows of a running job: a message per move, never backwards, its end."""

from __future__ import annotations

import pytest

from kepler.core.errors import DataError, JobFailed, KeplerError
from kepler.searchcommand.bridge import BridgeClient
from kepler.searchcommand.progress import DEFAULT_INTERVAL, MAX_INTERVAL, JobWatch

# observe() never calls the bridge: these tests feed it job records as the bridge answers.
BRIDGE = BridgeClient("http://127.0.0.1:9", "t")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def job(state: str = "running", progress: float = 0.0, message: str = "", **kw: object) -> dict:
    return {"id": "j1", "state": state, "progress": progress, "message": message, **kw}


def watch(clock: Clock | None = None, **kw: object) -> JobWatch:
    return JobWatch(
        BRIDGE,
        job("queued", message="queued"),
        "fit",
        timeout=kw.pop("timeout", 60.0),  # type: ignore[arg-type]
        clock=clock or Clock(),
        **kw,  # type: ignore[arg-type]
    )


def test_a_message_each_time_the_progress_moves_and_none_otherwise() -> None:
    w = watch()
    assert w.queued() == "kepler fit: job j1 queued; its progress follows in these messages"
    assert w.observe(job("queued", message="queued")) == []  # what the first answer said
    assert w.observe(job(message="started")) == ["kepler fit: 0% started"]
    assert w.observe(job(progress=0.1, message="training")) == ["kepler fit: 10% training"]
    assert w.observe(job(progress=0.1, message="training")) == []
    assert w.observe(job(progress=0.4, message="training on 800,000 rows")) == [
        "kepler fit: 40% training on 800,000 rows"
    ]
    assert not w.succeeded
    assert w.observe(job("succeeded", 1.0, "done")) == ["kepler fit: 100% done"]
    assert w.succeeded


def test_the_percentage_never_goes_back() -> None:
    w = watch()
    assert w.observe(job(progress=0.5, message="3 trials done")) == [
        "kepler fit: 50% 3 trials done"
    ]
    # A slower lane reports a smaller fraction after a faster one: the furthest stays.
    assert w.observe(job(progress=0.45, message="4 trials done")) == [
        "kepler fit: 50% 4 trials done"
    ]
    assert w.observe(job(progress=0.3, message="4 trials done")) == []
    assert w.percent == 50


def test_a_failed_job_raises_its_own_error() -> None:
    w = watch()
    error = {"code": "data_error", "message": "the target y is constant"}
    with pytest.raises(DataError, match="the target y is constant"):
        w.observe(job("failed", 0.1, "the target y is constant", error=error))
    with pytest.raises(KeplerError, match=r"^the fit failed$"):
        watch().observe(job("failed"))


def test_a_job_past_its_timeout_raises_and_says_what_to_do() -> None:
    clock = Clock()
    w = watch(clock, timeout=30.0)
    clock.now += 30.0
    assert w.observe(job(progress=0.2, message="training")) == ["kepler fit: 20% training"]
    clock.now += 0.5
    with pytest.raises(JobFailed) as raised:
        w.observe(job(progress=0.2, message="training"))
    assert raised.value.message == (
        "the fit (job j1) did not finish within 30 s; it goes on in the background: follow it "
        "with | kepler jobs, or rerun with async=t"
    )
    done = watch(clock, timeout=0.0)
    clock.now += 5
    assert done.observe(job("succeeded", 1.0, "done")) == ["kepler fit: 100% done"]


def test_the_poll_interval_stays_within_what_the_bridge_allows() -> None:
    assert watch().interval == DEFAULT_INTERVAL == 2.0
    assert watch(interval=300.0).interval == MAX_INTERVAL
    assert watch(interval=-1.0).interval == 0.0
