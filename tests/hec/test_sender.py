"""HecSender against the loopback receiver: batching, acks, faults, disk queue, secrets."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from kepler.hec import HecNotConfigured, HecQueueFull, HecSender, HecSettings, make_event
from tests.hec.conftest import TOKEN, ids
from tests.hec.receiver import HecReceiver

Make = Callable[..., HecSender]
N = 100_000


def test_100k_events_arrive_exactly_once_with_faults_and_acks(
    ack_receiver: HecReceiver, make_sender: Make
) -> None:
    rx = ack_receiver
    rx.faults.rng.seed(4)
    rx.faults.p_busy, rx.faults.p_drop, rx.faults.p_drop_after = 0.05, 0.03, 0.03
    rx.faults.p_slow, rx.faults.slow_seconds = 0.03, 0.05
    rx.faults.busy = rx.faults.drop = rx.faults.drop_after = rx.faults.slow = 2  # at least these
    sender = make_sender(rx, ack=True, batch_events=2_000, max_retries=20)
    sender.send_many({"id": i} for i in range(N // 2))
    sender.flush()
    rx.restart(down_for=0.1)  # between batches: what was not yet indexed is lost
    sender.send_many({"id": i} for i in range(N // 2, N))
    rx.faults.busy = 3
    report = sender.flush()

    got = Counter(ids(rx))
    assert len(got) == N and set(got) == set(range(N))
    assert max(got.values()) == 1, "an id arrived twice"
    assert report.delivered == N and report.pending == 0 and report.spooled == 0
    # Every kind of fault really happened.
    assert {k: rx.stats[k] > 0 for k in ("busy", "drop", "drop_after", "slow", "restarts")} == {
        "busy": True,
        "drop": True,
        "drop_after": True,
        "slow": True,
        "restarts": True,
    }


def test_without_acks_faults_before_indexing_lose_and_duplicate_nothing(
    receiver: HecReceiver, make_sender: Make
) -> None:
    receiver.faults.rng.seed(5)
    receiver.faults.p_busy, receiver.faults.p_drop, receiver.faults.p_slow = 0.1, 0.05, 0.05
    sender = make_sender(receiver, batch_events=1_000, max_retries=20)
    sender.send_many({"id": i} for i in range(20_000))
    report = sender.flush()
    assert sorted(ids(receiver)) == list(range(20_000))
    assert report.delivered == 20_000
    assert receiver.stats["busy"] and receiver.stats["drop"]


def test_without_acks_a_lost_answer_is_resent_at_least_once(
    receiver: HecReceiver, make_sender: Make
) -> None:
    """Inherent to HEC: with no ack, a batch indexed before its answer was lost is sent again."""
    receiver.faults.drop_after = 1
    sender = make_sender(receiver, batch_events=10)
    sender.send_many({"id": i} for i in range(10))
    sender.flush()
    assert Counter(ids(receiver)) == dict.fromkeys(range(10), 2)


def test_with_acks_a_lost_answer_is_not_resent(
    ack_receiver: HecReceiver, make_sender: Make
) -> None:
    ack_receiver.faults.drop_after = 1
    sender = make_sender(ack_receiver, ack=True, batch_events=10)
    sender.send_many({"id": i} for i in range(30))
    report = sender.flush()
    assert sorted(ids(ack_receiver)) == list(range(30))
    assert report.resent_batches == 0


def test_unacknowledged_batches_are_sent_again(
    ack_receiver: HecReceiver, make_sender: Make
) -> None:
    """HEC restarts after taking the batch but before indexing it: no ack ever comes."""
    sender = make_sender(ack=True, rx=ack_receiver, ack_poll_interval=0.5, ack_timeout=0.2)
    sender.send_many({"id": i} for i in range(5))
    sender.flush(timeout=0.1)  # posted, not yet polled
    assert ack_receiver.stats["requests"] == 1
    ack_receiver.restart()
    report = sender.flush()
    assert sorted(ids(ack_receiver)) == list(range(5))
    assert report.resent_batches >= 1


def test_batches_are_gzip_concatenated_json_on_one_connection(
    receiver: HecReceiver, make_sender: Make
) -> None:
    sender = make_sender(receiver, batch_events=100, linger=5)
    sender.send_many({"id": i} for i in range(1_000))
    sender.flush()
    posts = [h for h in receiver.headers_seen if "Content-Encoding" in h]
    assert len(posts) == 10  # 1,000 events in batches of 100
    assert {h["Content-Encoding"] for h in posts} == {"gzip"}
    assert {h["Authorization"] for h in posts} == {f"Splunk {TOKEN}"}
    assert len({h["X-Splunk-Request-Channel"] for h in posts}) == 1
    assert receiver.stats["connections"] == 1  # keep-alive


def test_batch_bytes_bound(receiver: HecReceiver, make_sender: Make) -> None:
    sender = make_sender(receiver, batch_bytes=4096, batch_events=10_000)
    sender.send_many({"id": i, "pad": "x" * 100} for i in range(1_000))
    sender.flush()
    assert sorted(ids(receiver)) == list(range(1_000))
    assert receiver.stats["requests"] >= 1_000 * 120 // 4096


def test_per_event_metadata_and_defaults(receiver: HecReceiver, make_sender: Make) -> None:
    sender = make_sender(receiver, index="kepler", sourcetype="kepler:score", host="h1")
    sender.send(
        make_event(
            {"id": 1, "score": float("nan")},
            time=1700000000.25,
            host="h2",
            source="pump",
            sourcetype="kepler:custom",
            index="other",
            fields={"model": "pump", "version": 3, "tags": ["a", "b"]},
        )
    )
    sender.send({"id": 2})
    sender.send({"event": {"id": 3}, "time": 5})
    sender.flush()
    first, second, third = receiver.events
    assert first == {
        "event": {"id": 1, "score": None},
        "time": 1700000000.25,
        "host": "h2",
        "source": "pump",
        "sourcetype": "kepler:custom",
        "index": "other",
        "fields": {"model": "pump", "version": 3, "tags": ["a", "b"]},
    }
    assert second == {
        "event": {"id": 2},
        "index": "kepler",
        "sourcetype": "kepler:score",
        "host": "h1",
    }
    assert third["time"] == 5 and third["event"] == {"id": 3}


def test_data_error_reports_the_event_number_and_keeps_the_rest(make_sender: Make) -> None:
    with HecReceiver(token=TOKEN, indexes={"main"}) as rx:
        sender = make_sender(rx, batch_events=100, linger=5)
        events = [make_event({"id": i}, index="nope" if i == 42 else "main") for i in range(100)]
        sender.send_many(events)
        report = sender.flush()
    assert sorted(ids(rx)) == [i for i in range(100) if i != 42]
    assert report.rejected == 1
    assert report.rejected_events[0].seq == 42
    assert report.rejected_events[0].code == 7
    assert report.delivered == 99


def test_too_large_batches_are_split(make_sender: Make) -> None:
    with HecReceiver(token=TOKEN, max_content_length=2_000) as rx:
        sender = make_sender(rx, batch_events=200, linger=5)
        sender.send_many({"id": i} for i in range(200))
        report = sender.flush()
    assert sorted(ids(rx)) == list(range(200))
    assert report.delivered == 200


def test_down_events_go_to_disk_and_drain_after_a_restart_of_the_process(
    tmp_path: Path, make_sender: Make
) -> None:
    rx = HecReceiver(token=TOKEN).start()
    port = rx.port
    rx.stop()
    first = make_sender(rx, max_retries=1, batch_events=100)
    first.send_many({"id": i} for i in range(1_000))
    report = first.flush()
    assert report.spooled == 1_000 and report.delivered == 0
    assert "could not be reached" in (report.last_error or "")
    first.close()
    assert sorted((tmp_path / "queue").glob("*/slot-0/*.hec"))

    rx.port = port
    rx.start()
    try:
        second = make_sender(rx)
        report = second.flush()
        assert sorted(ids(rx)) == list(range(1_000))
        assert report.spooled == 0
        assert not list((tmp_path / "queue").glob("*/slot-0/*.hec"))
    finally:
        rx.stop()


def test_disk_queue_bound_is_reported_not_exceeded(tmp_path: Path, make_sender: Make) -> None:
    rx = HecReceiver(token=TOKEN).start()
    rx.stop()
    bound = 20_000
    sender = make_sender(
        rx, max_retries=0, batch_events=50, queue_max_bytes=bound, max_memory_bytes=4096
    )
    with pytest.raises(HecQueueFull) as caught:
        for i in range(100_000):
            sender.send({"id": i, "pad": f"{i:x}" * 8})
    assert "KEPLER_HEC_QUEUE_MAX_BYTES" in str(caught.value)
    report = sender.report()
    assert 0 < report.queue_bytes <= bound
    on_disk = sum(p.stat().st_size for p in (tmp_path / "queue").rglob("*.hec"))
    assert on_disk <= bound
    # Everything accepted is kept: on disk, or in memory until it can go.
    assert report.spooled + report.pending == report.accepted
    sender.close(timeout=0.1)


def test_token_never_in_logs_or_errors(
    caplog: pytest.LogCaptureFixture, tmp_path: Path, make_sender: Make
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cr3t-hec-token-0000"
    with HecReceiver(token=TOKEN) as rx:
        sender = make_sender(rx, token=secret, max_retries=1)
        sender.send({"id": 1})
        report = sender.flush()
        assert "Invalid token" in (report.last_error or "")
    down = HecReceiver(token=TOKEN).start()
    down.stop()
    other = make_sender(down, token=secret, max_retries=1, queue_dir=tmp_path / "q2")
    other.send({"id": 2})
    texts = [caplog.text, str(report), repr(other.settings), str(other.flush())]
    try:
        HecSender(HecSettings(url="", token=secret))
    except HecNotConfigured as exc:
        texts.append(str(exc))
    assert all(secret not in text for text in texts)
    assert "Invalid token" in caplog.text  # the logs do say what went wrong


def test_not_configured_names_the_settings() -> None:
    with pytest.raises(HecNotConfigured, match="KEPLER_HEC_URL"):
        HecSender(HecSettings(url="", token=None))


def test_two_senders_share_a_queue_folder_without_sharing_files(
    receiver: HecReceiver, make_sender: Make, tmp_path: Path
) -> None:
    a, b = make_sender(receiver), make_sender(receiver)
    assert a._disk.dir != b._disk.dir
    a.send({"id": 1})
    b.send({"id": 2})
    a.flush()
    b.flush()
    assert sorted(ids(receiver)) == [1, 2]


def test_with_acks_an_answer_slower_than_the_timeout_is_not_resent(
    ack_receiver: HecReceiver, make_sender: Make
) -> None:
    """The request timed out on our side but HEC indexed it: the ack says so, no resend."""
    ack_receiver.faults.slow, ack_receiver.faults.slow_seconds = 1, 0.6
    sender = make_sender(ack_receiver, ack=True, timeout=0.2, ack_timeout=5.0, batch_events=10)
    sender.send_many({"id": i} for i in range(10))
    report = sender.flush()
    assert sorted(ids(ack_receiver)) == list(range(10))
    assert report.resent_batches == 0 and report.delivered == 10


def test_a_full_queue_refuses_at_once_and_every_accepted_event_arrives_once(
    make_sender: Make,
) -> None:
    rx = HecReceiver(token=TOKEN, ack=True).start()
    port = rx.port
    rx.stop()
    sender = make_sender(rx, ack=True, max_retries=0, batch_events=20, queue_max_bytes=8192)
    accepted: list[int] = []
    with pytest.raises(HecQueueFull) as caught:
        for n in range(5_000):  # far more than the bound: the loop must end in HecQueueFull
            chunk = [{"id": n * 10 + k, "pad": f"{n:08x}" * 4} for k in range(10)]
            sender.send_many(chunk)
            accepted += [e["id"] for e in chunk]
    message = str(caught.value)
    assert "KEPLER_HEC_QUEUE_MAX_BYTES" in message and rx.url in message
    assert "unreachable" in message and TOKEN not in message
    assert caught.value.status == 507 and caught.value.detail["hec_url"] == rx.url
    # Nothing hangs: what was accepted is on disk, and flush says so (it waited for ever).
    report = sender.flush(timeout=30)
    assert report.pending == 0 and report.spooled == len(accepted) == report.accepted
    sender.close(timeout=1)

    rx.port = port
    rx.start()
    try:
        again = make_sender(rx, ack=True)
        report = again.flush(timeout=60)
        assert report.pending == 0 and report.spooled == 0
        got = Counter(ids(rx))
        assert sorted(got) == sorted(accepted) and max(got.values()) == 1
    finally:
        rx.stop()


def test_a_restart_delivers_each_queued_batch_only_to_its_own_target(
    tmp_path: Path, make_sender: Make
) -> None:
    token_b = "99999999-8888-7777-6666-555555555555"
    a, b = HecReceiver(token=TOKEN).start(), HecReceiver(token=token_b).start()
    ports = a.port, b.port
    a.stop()
    b.stop()
    first_a = make_sender(a, max_retries=0)
    first_a.send_many({"id": i} for i in range(10))
    assert first_a.close(timeout=5).spooled == 10
    first_b = make_sender(b, token=token_b, max_retries=0)
    first_b.send_many({"id": i} for i in range(100, 110))
    assert first_b.close(timeout=5).spooled == 10
    queued = [p for p in (tmp_path / "queue").rglob("*") if p.is_file()]
    assert queued and all(TOKEN.encode() not in p.read_bytes() for p in queued)
    assert all(token_b.encode() not in p.read_bytes() for p in queued)

    a.port, b.port = ports
    a.start()
    b.start()
    try:
        make_sender(b, token=token_b).flush(timeout=30)  # only b's target is known now
        assert sorted(ids(b)) == list(range(100, 110)) and ids(a) == []
        make_sender(a).flush(timeout=30)
        assert sorted(ids(a)) == list(range(10)) and sorted(ids(b)) == list(range(100, 110))
    finally:
        a.stop()
        b.stop()


def test_a_restart_with_fewer_processes_drains_every_slot(
    tmp_path: Path, make_sender: Make
) -> None:
    rx = HecReceiver(token=TOKEN).start()
    port = rx.port
    rx.stop()
    one, two = make_sender(rx, max_retries=0), make_sender(rx, max_retries=0)
    one.send_many({"id": i} for i in range(5))
    two.send_many({"id": i} for i in range(5, 10))
    assert one.close(timeout=5).spooled == 5 and two.close(timeout=5).spooled == 5
    rx.port = port
    with rx:
        make_sender(rx).flush(timeout=30)  # one process now, where two were
        assert sorted(ids(rx)) == list(range(10))
