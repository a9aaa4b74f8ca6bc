"""This process's HEC senders: bounded for callers' targets, closed cleanly at shutdown."""

from __future__ import annotations

import threading
from pathlib import Path

from pydantic import SecretStr

from kepler._stack import wait_until
from kepler.hec import HecSettings
from kepler.server.senders import close_senders, lease_sender, open_senders, sender_for
from tests.hec.receiver import HecReceiver

TOKEN = "12121212-3434-5656-7878-909090909090"


def _hec_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "kepler-hec" and t.is_alive())


def test_callers_targets_are_bounded_and_an_evicted_sender_keeps_its_events(
    tmp_path: Path,
) -> None:
    close_senders(timeout=0)
    rx = HecReceiver(token=TOKEN).start()
    port = rx.port
    rx.stop()
    threads_before = _hec_threads()
    base = HecSettings(
        url=rx.url,
        token=TOKEN,
        queue_dir=tmp_path / "queue",
        max_senders=2,
        max_retries=0,
        backoff_max=0.2,
        linger=0.01,
        shutdown_timeout=0.5,
    )
    try:
        # Six callers' targets (each its own token): at most two senders stay open.
        for i in range(6):
            target = base.model_copy(update={"token": SecretStr(f"{TOKEN[:-2]}a{i}")})
            lease = lease_sender(target)
            assert lease is not None
            with lease as sender:
                sender.send({"id": i})
                assert sender.flush(timeout=10).spooled == 1
        wait_until(lambda: open_senders() <= 2, 30, "evicted senders to close")
        wait_until(
            lambda: not any(t.name == "kepler-hec-close" for t in threading.enumerate()),
            30,
            "the closing threads to end",
        )
        assert _hec_threads() <= threads_before + 2
        # Each event waits in its own target's folder, none lost with its sender.
        folders = [p for p in (tmp_path / "queue").iterdir() if p.is_dir()]
        assert len(folders) == 6
        assert all(len(list(f.glob("slot-*/*.hec"))) == 1 for f in folders)

        # The target comes back: a request to it drains its queue, to it alone.
        rx.port = port
        rx.start()
        lease = lease_sender(base.model_copy(update={"token": SecretStr(f"{TOKEN[:-2]}a3")}))
        assert lease is not None
        with lease as sender:
            sender.flush(timeout=30)
        assert [e["event"]["id"] for e in rx.events] == []  # the receiver knows only TOKEN
        own = sender_for(base.model_copy(update={"token": SecretStr(TOKEN)}))
        assert own is not None
        own.send({"id": 99})
        own.flush(timeout=30)
        assert [e["event"]["id"] for e in rx.events] == [99]
    finally:
        close_senders(timeout=0)
        rx.stop()
    assert open_senders() == 0
    assert _hec_threads() <= threads_before
