"""Scores and Kepler's own events into Splunk through HEC, end to end: the real `kepler`
command under the protocol v2 harness, a real bridge and worker, the loopback HEC double."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from kepler._stack import LocalStack, wait_until
from tests.hec.receiver import HecReceiver, Token
from tests.splunk.harness import chunks
from tests.splunk.kepler_command import run_fit, sensor_events, splunkd

pytestmark = pytest.mark.system

STACK_TOKEN = str(uuid.uuid4())  # the bridge's and workers' own HEC token
PAGE_TOKEN = str(uuid.uuid4())  # the one Splunk's setup page would hold
INDEXES = {"kepler", "kepler_metrics", "scores", "scores_async", "main"}
FIELDS = ["_time", "temp", "vibration", "site", "tags"]


@pytest.fixture(scope="module")
def receiver() -> Iterator[HecReceiver]:
    tokens = {
        STACK_TOKEN: Token(ack=True, indexes=INDEXES),
        PAGE_TOKEN: Token(ack=False, indexes=INDEXES),
    }
    with HecReceiver(tokens=tokens) as rx:
        yield rx


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, receiver: HecReceiver) -> Iterator[LocalStack]:
    env = {
        "KEPLER_HEC_URL": receiver.url,
        "KEPLER_HEC_TOKEN": STACK_TOKEN,
        "KEPLER_HEC_INDEX": "kepler",
        "KEPLER_HEC_METRICS_INDEX": "kepler_metrics",
        "KEPLER_HEC_ACK": "true",
        "KEPLER_HEC_ACK_POLL_INTERVAL": "0.05",
        "KEPLER_HEC_LINGER": "0.05",
        "KEPLER_HEC_BACKOFF": "0.05",
        "KEPLER_HEC_BACKOFF_MAX": "0.5",
        "KEPLER_HEC_MAX_RETRIES": "2",
    }
    with LocalStack(tmp_path_factory.mktemp("hec-stack"), extra_env=env) as s:
        yield s


@pytest.fixture(scope="module")
def model(stack: LocalStack, script: Path) -> str:
    cmd = splunkd(script, stack.url, stack.token)
    fields = ["_time", "temp", "vibration", "site", "tags", "failure"]
    args = [
        "fit",
        "DecisionTreeClassifier",
        "failure",
        "from",
        "temp",
        "vibration",
        "into",
        "hpump",
    ]
    _, replies = run_fit(cmd, args, chunks(sensor_events(1500), 500, fields))
    assert cmd.close() == 0
    assert replies[-1].records()[0]["version"] == "1"
    return "hpump"


def in_index(rx: HecReceiver, index: str) -> list[dict]:
    with rx.lock:
        return [e for e in rx.events if e.get("index") == index]


def parts(events: list[dict], size: int) -> list[list[dict] | None]:
    return [events[start : start + size] for start in range(0, len(events), size)]


def apply_search(
    script: Path,
    stack: LocalStack,
    args: list[str],
    chunked: list[list[dict] | None],
    **env: str,
) -> tuple[list[dict], list[tuple[str, str]], int]:
    """One search: getinfo, then each chunk's events as splunkd sends them to the command
    (None: an empty body; []: a header-only chunk); the results as the search shows them."""
    cmd = splunkd(script, stack.url, stack.token, **env)
    info = cmd.getinfo(args)
    if "error" in info.metadata or any(level == "ERROR" for level, _ in info.messages):
        return [], info.messages, cmd.close()
    rows, messages = [], list(info.messages)
    for i, events in enumerate(chunked):
        finished = i == len(chunked) - 1
        if events is None:
            reply = cmd.execute(b"", finished=finished)
            results = reply.records()
        else:
            reply, results = cmd.send(events, finished=finished, fields=FIELDS)
        rows.extend(results)
        messages.extend(reply.messages)
    return rows, messages, cmd.close()


def test_apply_with_index_returns_rows_and_writes_each_score_once(
    stack: LocalStack, script: Path, receiver: HecReceiver, model: str
) -> None:
    events = sensor_events(1200, seed=3)
    rows, messages, code = apply_search(
        script,
        stack,
        ["apply", model, "index=scores", "sourcetype=pump:scores"],
        [*parts(events, 400), None, []],
    )
    assert code == 0 and not messages
    assert len(rows) == 1200  # the search still gets its rows
    written = in_index(receiver, "scores")  # the bridge answered after HEC acknowledged
    assert len(written) == 1200
    times = Counter(e["time"] for e in written)
    assert set(times) == {float(e["_time"]) for e in events} and max(times.values()) == 1
    by_time = {e["time"]: e for e in written}
    for row in rows[:50]:
        event = by_time[float(row["_time"])]
        assert event["event"]["predicted(failure)"] == row["predicted(failure)"]
        assert event["sourcetype"] == "pump:scores"
        assert event["source"] == f"kepler:apply:{model}@1"
        assert not any(k.startswith("_") for k in event["event"])


def test_kepler_events_and_metrics_describe_fits_jobs_and_applies(
    stack: LocalStack, script: Path, receiver: HecReceiver, model: str
) -> None:
    rows, _, code = apply_search(
        script, stack, ["apply", model], parts(sensor_events(100, seed=4), 100)
    )
    assert code == 0 and len(rows) == 100

    def kinds() -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for e in in_index(receiver, "kepler"):
            out.setdefault(e["sourcetype"], []).append(e["event"])
        return out

    def applied_100() -> bool:
        return any(e["rows"] == 100 for e in kinds().get("kepler:apply", []))

    wait_until(lambda: applied_100() and "kepler:fit" in kinds(), 30, "telemetry")
    seen = kinds()
    states = [e["state"] for e in seen["kepler:job"] if e["model"] == model]
    assert states[:3] == ["queued", "running", "succeeded"]
    (fit,) = [e for e in seen["kepler:fit"] if e["model"] == model]
    assert fit["version"] == 1 and fit["rows"] == 1500 and "accuracy" in fit["metrics"]
    assert any(e["action"] == "version_created" for e in seen["kepler:model"])
    assert any(e["rows"] == 100 and e["errors"] == 0 for e in seen["kepler:apply"])

    wait_until(lambda: len(in_index(receiver, "kepler_metrics")) >= 2, 30, "metrics")
    metrics = in_index(receiver, "kepler_metrics")
    assert all(m["event"] == "metric" for m in metrics)
    applied = [m["fields"] for m in metrics if "metric_name:kepler.apply.rows" in m["fields"]]
    assert any(f["metric_name:kepler.apply.rows"] == 100 and f["model"] == model for f in applied)
    assert any("metric_name:kepler.fit.accuracy" in m["fields"] for m in metrics)


def test_async_apply_returns_a_job_and_the_worker_writes_the_scores(
    stack: LocalStack, script: Path, receiver: HecReceiver, model: str
) -> None:
    events = sensor_events(2000, seed=5)
    rows, messages, code = apply_search(
        script, stack, ["apply", model, "async=t", "index=scores_async"], [*parts(events, 500), []]
    )
    assert code == 0 and not messages
    (row,) = rows
    assert row["state"] == "queued" and row["rows"] == "2000" and row["version"] == "1"
    wait_until(lambda: len(in_index(receiver, "scores_async")) >= 2000, 60, "async scores")
    client = stack.client()
    wait_until(lambda: client.job(row["job_id"])["state"] == "succeeded", 30, "job done")
    written = in_index(receiver, "scores_async")
    assert len(written) == 2000
    assert len({e["time"] for e in written}) == 2000
    result = client.job(row["job_id"])["result"]
    assert result["rows"] == 2000 and result["events_written"] == 2000


def test_async_apply_with_a_shadow_records_each_batchs_agreement(
    stack: LocalStack, script: Path, receiver: HecReceiver, model: str
) -> None:
    import pandas as pd

    # The challenger: a stump on the same events, so it disagrees on some rows.
    train = pd.DataFrame(sensor_events(1500))[["temp", "vibration", "failure"]]
    with stack.client() as c:
        c.fit(
            train,
            "DecisionTreeClassifier",
            target="failure",
            into="hstump",
            max_depth=1,
            progress=False,
        )
    events = sensor_events(1000, seed=6)
    args = ["apply", model, "async=t", "shadow=hstump", "index=scores_async"]
    rows, messages, code = apply_search(script, stack, args, [*parts(events, 500), []])
    assert code == 0 and not messages
    (row,) = rows
    client = stack.client()
    wait_until(lambda: client.job(row["job_id"])["state"] == "succeeded", 60, "job done")
    job = client.job(row["job_id"])
    assert job["spec"]["shadow"] == "hstump@1"  # pinned when the search queued it
    summary = job["result"]["shadow"]
    assert summary["challenger"] == "hstump@1" and summary["rows"] == 1000
    assert 0.0 < summary["agreement"] < 1.0

    def shadows() -> list[dict]:
        with receiver.lock:
            return [
                e["event"]
                for e in receiver.events
                if e.get("sourcetype") == "kepler:shadow" and e["event"].get("job") == row["job_id"]
            ]

    wait_until(lambda: len(shadows()) >= 1, 30, "kepler:shadow events")
    got = shadows()
    assert {(e["mode"], e["champion"], e["challenger"]) for e in got} == {
        ("async", f"{model}@1", "hstump@1")
    }
    assert sum(e["rows"] for e in got) == 1000


def test_setup_page_hec_settings_travel_as_headers_not_in_logs(
    stack: LocalStack, script: Path, receiver: HecReceiver, model: str
) -> None:
    rows, _, code = apply_search(
        script,
        stack,
        ["apply", model, "index=main"],
        parts(sensor_events(50, seed=6), 50),
        KEPLER_HEC_URL=receiver.url,
        KEPLER_HEC_TOKEN=PAGE_TOKEN,
    )
    assert code == 0 and len(rows) == 50
    assert len(in_index(receiver, "main")) == 50
    page_requests = [
        h for h in receiver.headers_seen if h.get("Authorization") == f"Splunk {PAGE_TOKEN}"
    ]
    assert page_requests, "the setup page's token was not the one used"
    assert PAGE_TOKEN not in stack.log_text(tail=200_000)


def test_bad_index_and_async_without_index_fail_at_getinfo(
    stack: LocalStack, script: Path, model: str
) -> None:
    _, messages, code = apply_search(script, stack, ["apply", model, "index=Bad Index"], [])
    assert code == 1 and "index" in messages[0][1]
    _, messages, code = apply_search(script, stack, ["apply", model, "async=t"], [])
    assert code == 1 and "index=<index>" in messages[0][1]


def test_hec_down_during_apply_warns_and_delivers_later(
    stack: LocalStack, script: Path, receiver: HecReceiver, model: str
) -> None:
    before = len(in_index(receiver, "scores"))
    port = receiver.port
    receiver.stop()
    try:
        rows, messages, code = apply_search(
            script, stack, ["apply", model, "index=scores"], parts(sensor_events(300, seed=7), 300)
        )
    finally:
        receiver.port = port
        receiver.start()
    assert code == 0 and len(rows) == 300  # the search is not failed by HEC being down
    assert any(level == "WARN" and "disk queue" in text for level, text in messages)
    wait_until(lambda: len(in_index(receiver, "scores")) >= before + 300, 30, "queued scores")
    assert len(in_index(receiver, "scores")) == before + 300


def test_apply_forecaster_with_index_writes_the_series_scored_whole(
    stack: LocalStack, script: Path, receiver: HecReceiver
) -> None:
    # A forecaster runs over the search's whole series at its end: index= writes those rows.
    start = 1_700_000_000
    events = [
        {"_time": start + 60 * i, "temp": f"{40 + (i % 7) + 0.1 * i:.2f}", "site": "a"}
        for i in range(80)
    ]
    cmd = splunkd(script, stack.url, stack.token)
    _, replies = run_fit(
        cmd, ["fit", "StateSpaceForecast", "temp", "into", "hssf"], chunks(events, 80, FIELDS)
    )
    assert cmd.close() == 0 and not [m for m in replies[-1].messages if m[0] == "ERROR"]
    before = len(in_index(receiver, "scores"))
    newest_first = list(reversed(events))
    rows, messages, code = apply_search(
        script,
        stack,
        ["apply", "hssf", "index=scores", "holdback=2"],
        [newest_first[:40], None, newest_first[40:]],
    )
    assert code == 0 and not [m for m in messages if m[0] == "ERROR"], messages
    assert len(rows) == 80 and [float(r["_time"]) for r in rows] == [
        e["_time"] for e in newest_first
    ]
    written = in_index(receiver, "scores")[before:]
    assert len(written) == 80
    by_time = {e["time"]: e["event"] for e in written}
    for row in rows:
        assert by_time[float(row["_time"])]["predicted(temp)"] == float(row["predicted(temp)"])
