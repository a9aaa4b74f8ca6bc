"""Fixtures for HEC tests: a loopback receiver and senders with a temporary disk queue."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kepler.hec import HecSender, HecSettings
from tests.hec.receiver import HecReceiver

TOKEN = "11111111-2222-3333-4444-555555555555"  # a GUID, as HEC tokens are


@pytest.fixture
def receiver() -> Iterator[HecReceiver]:
    with HecReceiver(token=TOKEN) as rx:
        yield rx


@pytest.fixture
def ack_receiver() -> Iterator[HecReceiver]:
    with HecReceiver(token=TOKEN, ack=True) as rx:
        yield rx


@pytest.fixture
def make_sender(tmp_path: Path) -> Iterator[Callable[..., HecSender]]:
    """Senders with fast retries and a disk queue under tmp_path; closed at the end."""
    made: list[HecSender] = []

    def make(rx: HecReceiver, **overrides: Any) -> HecSender:
        options: dict[str, Any] = {
            "url": rx.url,
            "token": TOKEN,
            "queue_dir": tmp_path / "queue",
            "backoff": 0.01,
            "backoff_max": 0.2,
            "ack_poll_interval": 0.02,
            "ack_timeout": 0.5,
            "linger": 0.05,
            "timeout": 5.0,
        }
        options.update(overrides)
        sender = HecSender(HecSettings(**options))
        made.append(sender)
        return sender

    yield make
    for sender in made:
        sender.close(timeout=5)


def ids(rx: HecReceiver) -> list[int]:
    return [e["event"]["id"] for e in rx.events]
