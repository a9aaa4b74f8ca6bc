"""The HEC double answers as docs/splunk-protocols.md section 2 says (checked with plain httpx)."""

from __future__ import annotations

import gzip
import json
import uuid

import httpx
import pytest

from tests.hec.conftest import TOKEN
from tests.hec.receiver import HecReceiver, Token

AUTH = {"Authorization": f"Splunk {TOKEN}"}


def post(
    rx: HecReceiver, path: str, body: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    return httpx.post(rx.url + path, content=body, headers={**AUTH, **(headers or {})})


def test_concatenated_events_are_indexed(receiver: HecReceiver) -> None:
    body = b'{"event":{"a":1},"time":1700000000.25}{"event":"two","sourcetype":"x"}'
    r = post(receiver, "/services/collector/event", body)
    assert (r.status_code, r.json()) == (200, {"text": "Success", "code": 0})
    assert [e["event"] for e in receiver.events] == [{"a": 1}, "two"]
    assert receiver.events[0]["time"] == 1700000000.25


def test_gzip_body_is_accepted(receiver: HecReceiver) -> None:
    r = post(
        receiver, "/services/collector", gzip.compress(b'{"event":1}'), {"Content-Encoding": "gzip"}
    )
    assert r.json()["code"] == 0 and receiver.events[0]["event"] == 1


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"Authorization": ""}, 401, 3),
        ({"Authorization": "Splunk nope"}, 403, 4),
        ({"Authorization": "Basic abc"}, 401, 3),
    ],
)
def test_bad_tokens_answer_the_documented_codes(
    receiver: HecReceiver, headers: dict[str, str], status: int, code: int
) -> None:
    r = httpx.post(
        receiver.url + "/services/collector/event", content=b'{"event":1}', headers=headers
    )
    assert (r.status_code, r.json()["code"]) == (status, code)
    assert receiver.events == []


def test_missing_token_and_query_string_token() -> None:
    with HecReceiver(token=TOKEN) as rx:
        r = httpx.post(rx.url + "/services/collector/event", content=b'{"event":1}')
        assert (r.status_code, r.json()["code"]) == (401, 2)
        r = httpx.post(rx.url + f"/services/collector/event?token={TOKEN}", content=b'{"event":1}')
        assert (r.status_code, r.json()["code"]) == (400, 16)


def test_disabled_token_is_code_1() -> None:
    with HecReceiver(tokens={TOKEN: Token(disabled=True)}) as rx:
        r = post(rx, "/services/collector/event", b'{"event":1}')
        assert (r.status_code, r.json()["code"]) == (403, 1)


@pytest.mark.parametrize(
    ("body", "code", "number", "indexed"),
    [
        (b"", 5, 0, 0),
        (b'{"event":1}{"event":', 6, 1, 1),
        (b'{"event":1}{"time":5}', 12, 1, 1),
        (b'{"event":1}{"event":2}{"event":""}', 13, 2, 2),
        (b'{"event":1,"index":"secret"}', 7, 0, 0),
        (b'{"event":1,"fields":{"a":{"b":1}}}', 15, 0, 0),
    ],
)
def test_data_errors_name_the_event(body: bytes, code: int, number: int, indexed: int) -> None:
    with HecReceiver(token=TOKEN, indexes={"main", "kepler"}) as rx:
        r = post(rx, "/services/collector/event", body)
        assert r.status_code == 400
        assert r.json()["code"] == code
        assert r.json()["invalid-event-number"] == number
        assert len(rx.events) == indexed


def test_ack_flow_needs_a_channel_and_reports_each_ack_once(ack_receiver: HecReceiver) -> None:
    r = post(ack_receiver, "/services/collector/event", b'{"event":1}')
    assert (r.status_code, r.json()["code"]) == (400, 10)
    r = post(
        ack_receiver, "/services/collector/event", b'{"event":1}', {"X-Splunk-Request-Channel": "x"}
    )
    assert r.json()["code"] == 11
    channel = str(uuid.uuid4())
    answers = [
        post(
            ack_receiver,
            "/services/collector/event",
            b'{"event":%d}' % i,
            {"X-Splunk-Request-Channel": channel},
        ).json()
        for i in range(3)
    ]
    assert [a["ackId"] for a in answers] == [0, 1, 2]
    acks = post(
        ack_receiver,
        f"/services/collector/ack?channel={channel}",
        json.dumps({"acks": [0, 2, 7]}).encode(),
    )
    assert acks.json() == {"acks": {"0": True, "2": True, "7": False}}
    again = post(ack_receiver, f"/services/collector/ack?channel={channel}", b'{"acks":[0,1]}')
    assert again.json() == {"acks": {"0": False, "1": True}}


def test_restart_loses_unindexed_batches_and_channels(ack_receiver: HecReceiver) -> None:
    channel = {"X-Splunk-Request-Channel": str(uuid.uuid4())}
    assert (
        post(ack_receiver, "/services/collector/event", b'{"event":1}', channel).json()["ackId"]
        == 0
    )
    ack_receiver.restart()
    assert ack_receiver.events == []
    assert (
        post(ack_receiver, "/services/collector/event", b'{"event":2}', channel).json()["ackId"]
        == 0
    )


def test_ack_endpoint_without_ack_is_code_14(receiver: HecReceiver) -> None:
    r = post(
        receiver,
        "/services/collector/ack",
        b'{"acks":[0]}',
        {"X-Splunk-Request-Channel": str(uuid.uuid4())},
    )
    assert (r.status_code, r.json()["code"]) == (400, 14)


def test_health_and_busy_fault(receiver: HecReceiver) -> None:
    assert httpx.get(receiver.url + "/services/collector/health").json() == {
        "text": "HEC is healthy",
        "code": 17,
    }
    receiver.faults.busy = 1
    r = post(receiver, "/services/collector/event", b'{"event":1}')
    assert (r.status_code, r.json()) == (503, {"text": "Server is busy", "code": 9})
    assert receiver.events == []


def test_dropped_connection_fault_answers_nothing(receiver: HecReceiver) -> None:
    receiver.faults.drop = 1
    with pytest.raises(httpx.RemoteProtocolError):
        post(receiver, "/services/collector/event", b'{"event":1}')
    assert receiver.events == []
