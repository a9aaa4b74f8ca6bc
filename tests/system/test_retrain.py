"""Retraining behind a gate end to end, real processes: the splunkd REST double, the HEC
receiver double and the stack (bridge, worker, beat). A retrain that passes its gate moves
the alias (a recorded move); one that fails leaves it and says why; a malformed gate is
refused when the schedule is added."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from kepler._stack import LocalStack, wait_until
from kepler.core import wire
from kepler.core.errors import InvalidSpec
from kepler.core.gate import GRAMMAR
from tests.hec.receiver import HecReceiver
from tests.splunk.splunkd_rest import SplunkdRest

pytestmark = pytest.mark.system

SPLUNK_TOKEN = "splunk-auth-token-for-retrain"
RETRAIN_MAX_ROWS = 1_000  # the stack's KEPLER_RETRAIN_MAX_ROWS: index=sensors_all holds more
HEC_TOKEN = "11111111-2222-3333-4444-888888888888"


def pumps(n: int, *, seed: int, noisy: bool = False) -> pd.DataFrame:
    """``failure`` follows ``temp``; ``noisy`` data has labels at random (a poor model)."""
    rng = np.random.default_rng(seed)
    temp = rng.normal(60, 5, n)
    failure = np.where(temp > 62, "yes", "no")
    if noisy:
        failure = rng.choice(["yes", "no"], n)
    return pd.DataFrame({"temp": temp.round(3), "failure": failure})


@pytest.fixture(scope="module")
def splunkd() -> Iterator[SplunkdRest]:
    fresh = [{k: str(v) for k, v in r.items()} for r in pumps(400, seed=1).to_dict("records")]
    with SplunkdRest(tokens=[SPLUNK_TOKEN]) as rest:
        rest.add_search("search index=sensors", fresh)
        past = pumps(RETRAIN_MAX_ROWS + 1, seed=5).to_dict("records")
        more = [{k: str(v) for k, v in r.items()} for r in past]
        rest.add_search("search index=sensors_all", more)
        yield rest


@pytest.fixture(scope="module")
def hec() -> Iterator[HecReceiver]:
    with HecReceiver(token=HEC_TOKEN) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, splunkd: SplunkdRest, hec: HecReceiver
) -> Iterator[LocalStack]:
    env = {
        "KEPLER_SPLUNK_URL": splunkd.url,
        "KEPLER_SPLUNK_TOKEN": SPLUNK_TOKEN,
        "KEPLER_HEC_URL": hec.url,
        "KEPLER_HEC_TOKEN": HEC_TOKEN,
        "KEPLER_RETRAIN_MAX_ROWS": str(RETRAIN_MAX_ROWS),
    }
    stack = LocalStack(tmp_path_factory.mktemp("home"), extra_env=env).start()
    try:
        yield stack
    finally:
        stack.stop()
    assert "Traceback" not in stack.log_text(100_000).split("--- beat")[-1]


def retrain_events(hec: HecReceiver, schedule: str) -> list[dict[str, Any]]:
    with hec.lock:
        events = list(hec.events)
    return [
        e
        for e in events
        if e.get("sourcetype") == "kepler:retrain"
        and isinstance(e.get("event"), dict)
        and e["event"].get("kepler_schedule") == schedule
    ]


def finished_run(client: Any, schedule: str, state: str = "succeeded") -> dict[str, Any]:
    def done() -> list[dict[str, Any]]:
        return [r for r in client.schedule_runs(schedule) if r["state"] in ("succeeded", "failed")]

    wait_until(done, 180, f"a finished run of {schedule}")
    run: dict[str, Any] = done()[0]
    assert run["state"] == state, run.get("error")
    assert run["kind"] == "retrain"
    return run


def test_a_retrain_that_passes_its_gate_moves_the_alias_and_records_why(
    stack: LocalStack, hec: HecReceiver
) -> None:
    client = stack.client()
    # The champion learned from labels at random: the new fit beats it on the same rows.
    client.fit(pumps(300, seed=0, noisy=True), "LogisticRegression", target="failure",
               features=["temp"], into="pump", progress=False)  # fmt: skip
    client.promote("pump@1", "production")
    sched = client.schedule(
        "pump-retrain", "index=sensors", "pump:production", every="1h", start_now=True,
        retrain=True, gate="accuracy>=production.accuracy+0.1",
    )  # fmt: skip
    assert sched["retrain"] and sched["alias"] == "production"
    assert sched["gate"] == "accuracy>=production.accuracy+0.1"

    run = finished_run(client, "pump-retrain")  # fired by the beat
    result = run["result"]
    assert result["decision"] == "promoted" and result["promoted"] is True
    assert result["version"] == 2 and result["from_version"] == 1
    assert result["rows"] == 400
    champion = result["compared"]["production"]
    assert champion["version"] == 1 and champion["rows"] == result["compared"]["production"]["rows"]
    assert result["metrics"]["accuracy"] >= champion["metrics"]["accuracy"] + 0.1
    assert "passes" in result["reasons"][0]

    assert client.summary("pump:production")["version"] == 2
    moves = client.alias_moves(name="pump")
    latest = moves.iloc[0]
    assert (latest["from_version"], latest["to_version"]) == (1, 2)
    assert latest["user"] == "schedule:pump-retrain"

    summary = client.summary("pump@2")
    assert summary["retrain"]["decision"] == "promoted"
    assert summary["retrain"]["gate"] == "accuracy>=production.accuracy+0.1"
    assert summary["retrain"]["schedule"] == "pump-retrain"
    wait_until(lambda: retrain_events(hec, "pump-retrain"), 60, "a kepler:retrain event")
    event = retrain_events(hec, "pump-retrain")[0]["event"]
    assert event["decision"] == "promoted" and event["version"] == 2


def test_a_retrain_that_fails_its_gate_leaves_the_alias_and_says_why(
    stack: LocalStack, hec: HecReceiver
) -> None:
    client = stack.client()
    client.fit(pumps(300, seed=3), "LogisticRegression", target="failure", features=["temp"],
               into="valve", progress=False)  # fmt: skip
    client.promote("valve@1", "production")
    client.schedule(
        "valve-retrain", "index=sensors", "valve", every="1h",
        retrain=True, gate="accuracy>=production.accuracy+2",  # no accuracy is that high
    )  # fmt: skip
    job = client.run_schedule("valve-retrain")
    assert job["kind"] == "retrain"
    result = finished_run(client, "valve-retrain")["result"]
    assert result["decision"] == "kept" and result["promoted"] is False
    assert result["version"] == 2 and "from_version" not in result
    assert "fails" in result["reasons"][0] and "production.accuracy=" in result["reasons"][0]

    assert client.summary("valve:production")["version"] == 1  # the alias did not move
    moves = client.alias_moves(name="valve")
    assert list(moves["to_version"]) == [1]  # only the promotion by hand
    summary = client.summary("valve@2")
    assert summary["retrain"]["decision"] == "kept"
    assert summary["retrain"]["reasons"] == result["reasons"]
    wait_until(lambda: retrain_events(hec, "valve-retrain"), 60, "a kepler:retrain event")
    assert retrain_events(hec, "valve-retrain")[0]["event"]["decision"] == "kept"


def test_a_retrain_search_past_its_row_bound_fails_the_run_and_keeps_the_model(
    stack: LocalStack,
) -> None:
    client = stack.client()
    client.fit(pumps(100, seed=6), "LogisticRegression", target="failure", features=["temp"],
               into="bounded", progress=False)  # fmt: skip
    client.schedule("bounded-retrain", "index=sensors_all", "bounded", every="1h",
                    start_now=True, retrain=True)  # fmt: skip
    run = finished_run(client, "bounded-retrain", state="failed")
    error = str(run.get("error"))
    assert f"more than {RETRAIN_MAX_ROWS:,} rows" in error, error
    assert "KEPLER_RETRAIN_MAX_ROWS" in error and "Traceback" not in error, error
    assert client.summary("bounded")["version"] == 1  # no version from a run that failed


def test_a_malformed_gate_is_refused_when_the_schedule_is_added(stack: LocalStack) -> None:
    client = stack.client()
    client.fit(pumps(100, seed=4), "LogisticRegression", target="failure", features=["temp"],
               into="gated", progress=False)  # fmt: skip
    with pytest.raises(InvalidSpec, match="is not valid") as err:  # the SDK, before sending
        client.schedule("bad", "index=sensors", "gated", retrain=True, gate="f1 >> production")
    assert GRAMMAR in err.value.message
    # The bridge refuses it too, for any other caller (400, the grammar in the message).
    body = {"name": "bad", "search": "index=sensors", "model": "gated", "retrain": True,
            "gate": "f1 >= production"}  # fmt: skip
    answer = httpx.post(
        stack.url + wire.SCHEDULES,
        json=body,
        headers={"Authorization": f"Bearer {stack.token}"},
        timeout=30,
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_spec" and "neither a number nor" in error["message"]
    assert GRAMMAR in error["message"]
    # And the CLI says so without a traceback; nothing was added.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(KEPLER_URL=stack.url, KEPLER_TOKEN=stack.token)
    cli = subprocess.run(
        [sys.executable, "-m", "kepler", "schedule", "add", "bad", "--search", "index=sensors",
         "--model", "gated", "--retrain", "--gate", "f1 >="],
        env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert cli.returncode == 1 and "is not valid" in cli.stderr and "Traceback" not in cli.stderr
    assert "bad" not in set(client.schedules().get("name", []))
