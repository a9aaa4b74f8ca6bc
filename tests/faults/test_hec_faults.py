"""HEC down, its queue full, HEC back, the bridge restarted: with a real bridge and the HEC
receiver double (indexer acknowledgement on), every accepted score arrives exactly once,
requests past KEPLER_HEC_QUEUE_MAX_BYTES fail at once with HecQueueFull, nothing hangs."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from itertools import count
from pathlib import Path

import httpx
import pandas as pd
import pytest

from kepler._stack import LocalStack, wait_until
from tests.hec.receiver import HecReceiver

pytestmark = pytest.mark.system

HEC_TOKEN = "0f0f0f0f-1e1e-2d2d-3c3c-4b4b4b4b4b4b"
ROWS = 20  # per apply request
HANG_GUARD = 60.0  # seconds: a request that takes this long has hung


def stack_env(rx: HecReceiver) -> dict[str, str]:
    return {
        "KEPLER_HEC_URL": rx.url,
        "KEPLER_HEC_TOKEN": HEC_TOKEN,
        "KEPLER_HEC_ACK": "true",
        "KEPLER_HEC_INDEX": "kepler",
        "KEPLER_HEC_QUEUE_MAX_BYTES": str(48 * 1024),
        "KEPLER_HEC_MAX_RETRIES": "0",
        "KEPLER_HEC_BACKOFF": "0.01",
        "KEPLER_HEC_BACKOFF_MAX": "0.5",
        "KEPLER_HEC_LINGER": "0.01",
        "KEPLER_HEC_ACK_POLL_INTERVAL": "0.05",
        # Batches HEC took but never acknowledged before it went down are resent (or
        # queued) after this; every request's flush waits for them until then.
        "KEPLER_HEC_ACK_TIMEOUT": "2",
    }


@pytest.fixture
def hec() -> Iterator[HecReceiver]:
    rx = HecReceiver(token=HEC_TOKEN, ack=True).start()
    try:
        yield rx
    finally:
        rx.stop()


class Applier:
    """``apply line index=scores`` requests with unique row ids, as Splunk's command sends."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.ids = count()
        self.accepted: list[int] = []
        self.refused: list[int] = []

    def apply(self) -> httpx.Response:
        rids = [next(self.ids) for _ in range(ROWS)]
        # Random padding: gzip cannot shrink it much, so the bound is reached quickly.
        body = "rid,x,pad\r\n" + "".join(f"{r},{r % 7},{os.urandom(48).hex()}\r\n" for r in rids)
        r = httpx.post(
            f"{self.stack.url}/v1/models/line/apply",
            params={"index": "scores"},
            content=body.encode(),
            headers={"Authorization": f"Bearer {self.stack.token}", "Content-Type": "text/csv"},
            timeout=HANG_GUARD,  # past it httpx raises: the request hung
        )
        assert r.status_code in (200, 507), r.text
        (self.accepted if r.status_code == 200 else self.refused).extend(rids)
        return r


def scores(rx: HecReceiver) -> Counter[int]:
    with rx.lock:
        return Counter(
            int(e["event"]["rid"]) for e in rx.events if e.get("sourcetype") == "kepler:score"
        )


def test_hec_down_queue_full_back_and_restart_loses_and_duplicates_nothing(
    tmp_path: Path, hec: HecReceiver
) -> None:
    home = tmp_path / "home"
    port = hec.port
    stack = LocalStack(home, beat=False, extra_env=stack_env(hec)).start()
    try:
        frame = pd.DataFrame(
            {"x": [float(i) for i in range(40)], "y": [2.0 * i for i in range(40)]}
        )
        stack.client().fit(frame, "LinearRegression", target="y", into="line", progress=False)
        applier = Applier(stack)
        assert applier.apply().status_code == 200  # HEC up: delivered before the answer
        assert scores(hec) == Counter(applier.accepted)

        # HEC goes down: requests are taken (onto the disk queue) until the bound, then
        # refused at once with HecQueueFull, naming the setting and where HEC is.
        hec.stop()
        refused = None
        for _ in range(200):
            r = applier.apply()
            if r.status_code == 507:
                refused = r.json()["error"]
                break
        assert refused is not None, "the queue never filled: the bound is not applied"
        assert refused["code"] == "hec_queue_full"
        assert "KEPLER_HEC_QUEUE_MAX_BYTES" in refused["message"]
        assert hec.url in refused["message"] and HEC_TOKEN not in refused["message"]
        for _ in range(3):  # still full: each is refused, none waits
            applier.apply()
        assert len(applier.refused) >= ROWS

        # HEC comes back: everything accepted arrives, each once; nothing refused arrives.
        hec.port = port
        hec.start()
        wait_until(lambda: set(scores(hec)) >= set(applier.accepted), 120, "the queue to drain")
        assert applier.apply().status_code == 200  # taken again once drained
        wait_until(lambda: set(scores(hec)) >= set(applier.accepted), 60, "the new scores")
        got = scores(hec)
        assert set(got) == set(applier.accepted) and max(got.values()) == 1
        assert not set(got) & set(applier.refused)

        # Down again, and the bridge is stopped (SIGTERM) with events queued: a new bridge
        # on the same home delivers them when HEC is back, once.
        hec.stop()
        before = len(applier.accepted)
        while applier.apply().status_code == 200 and len(applier.accepted) < before + 3 * ROWS:
            pass
        assert len(applier.accepted) > before
    finally:
        stack.stop()
    hec.port = port
    hec.start()
    again = LocalStack(home, workers=0, beat=False, extra_env=stack_env(hec))
    again.token, again.user_token = stack.token, stack.user_token
    again.env.update(KEPLER_TOKEN=stack.token, KEPLER_USER_TOKEN=stack.user_token)
    with again:
        wait_until(lambda: set(scores(hec)) >= set(applier.accepted), 120, "the queue left on disk")
        got = scores(hec)
        assert set(got) == set(applier.accepted) and max(got.values()) == 1, stack.log_text()
