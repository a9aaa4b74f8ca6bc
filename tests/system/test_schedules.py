"""Scheduled scoring end to end, real processes: the splunkd REST double, the HEC receiver
double, and the stack (bridge, worker, beat), stopped and started again on the same home."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kepler._stack import LocalStack, wait_until
from kepler.core.errors import BadParameter, ModelNotFound, ScheduleNotFound
from kepler.server.db import Database
from kepler.server.stores.jobs import JobStore
from kepler.splunk.search import from_splunk
from kepler.splunk.settings import SplunkSettings
from tests.hec.receiver import HecReceiver
from tests.splunk.splunkd_rest import SplunkdRest

pytestmark = pytest.mark.system

SPLUNK_TOKEN = "splunk-auth-token-for-tests"
HEC_TOKEN = "11111111-2222-3333-4444-555555555555"
ROWS = 10


def sensor_rows(_params: dict[str, str]) -> Iterator[dict[str, Any]]:
    for i in range(ROWS):
        yield {
            "_time": f"2026-01-01T00:00:{i:02d}.000+00:00",
            "host": f"pump-{i % 2}",
            "x": str(i),
        }


@pytest.fixture(scope="module")
def splunkd() -> Iterator[SplunkdRest]:
    with SplunkdRest(tokens=[SPLUNK_TOKEN]) as rest:
        rest.add_search("search index=sensors", sensor_rows)
        yield rest


@pytest.fixture(scope="module")
def hec() -> Iterator[HecReceiver]:
    with HecReceiver(token=HEC_TOKEN) as receiver:
        yield receiver


def stack_env(splunkd: SplunkdRest, hec: HecReceiver) -> dict[str, str]:
    return {
        "KEPLER_SPLUNK_URL": splunkd.url,
        "KEPLER_SPLUNK_TOKEN": SPLUNK_TOKEN,
        "KEPLER_HEC_URL": hec.url,
        "KEPLER_HEC_TOKEN": HEC_TOKEN,
        "KEPLER_HEC_INDEX": "kepler_scores",
    }


def scores(hec: HecReceiver, schedule: str) -> list[dict[str, Any]]:
    with hec.lock:
        events = list(hec.events)
    return [
        e
        for e in events
        if isinstance(e.get("event"), dict) and e["event"].get("kepler_schedule") == schedule
    ]


def kepler_cli(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(KEPLER_URL=stack.url, KEPLER_TOKEN=stack.token)
    return subprocess.run(
        [sys.executable, "-m", "kepler", "schedule", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_schedule_fires_scores_arrive_via_hec_and_survive_a_restart(
    tmp_path: Path, splunkd: SplunkdRest, hec: HecReceiver
) -> None:
    home = tmp_path / "home"
    stack = LocalStack(home, extra_env=stack_env(splunkd, hec)).start()
    try:
        client = stack.client()
        # Training data pulled from Splunk: the model's lineage names the search.
        splunkd.add_search(
            "search index=history | table x y", [{"x": str(i), "y": str(2 * i)} for i in range(50)]
        )
        frame = from_splunk(
            "index=history | table x y",
            earliest="-30d",
            latest="now",
            settings=SplunkSettings(url=splunkd.url, token=SPLUNK_TOKEN),
            progress=False,
        )
        fit = client.fit(frame, "LinearRegression", target="y", into="pump", progress=False)
        from mlflow import MlflowClient

        tracking = f"sqlite:///{home / 'mlflow.db'}"
        tags = MlflowClient(tracking, tracking).get_run(fit.run_id).data.tags
        assert tags["kepler.splunk.search"] == "search index=history | table x y"
        assert tags["kepler.splunk.earliest"] == "-30d"

        # Bad input is refused when the schedule is added, not at every run.
        with pytest.raises(ModelNotFound):
            client.schedule("nope", "index=sensors", "no_such_model", every="2s")
        with pytest.raises(BadParameter, match="every"):
            client.schedule("nope", "index=sensors", "pump", every="soon")

        sched = client.schedule("pump-2s", "index=sensors", "pump", every="2s", start_now=True)
        assert sched["every"] == "2s" and sched["model"] == "pump"
        wait_until(lambda: len(scores(hec, "pump-2s")) >= ROWS, 120, "scores via HEC")
        event = scores(hec, "pump-2s")[0]
        assert event["index"] == "kepler_scores" and event["sourcetype"] == "kepler:score"
        assert event["host"] in ("pump-0", "pump-1")
        body = event["event"]
        assert body["predicted(y)"] == pytest.approx(2 * body["x"])
        assert body["kepler_model"] == "pump" and body["kepler_version"] == 1
        assert event["time"] == pytest.approx(1767225600 + body["x"])  # the row's _time
        export = next(
            f for m, p, f in splunkd.requests if f.get("search") == "search index=sensors"
        )
        assert export["earliest_time"] == "-2s" and export["latest_time"] == "now"

        def succeeded() -> list[dict[str, Any]]:
            return [r for r in client.schedule_runs("pump-2s") if r["state"] == "succeeded"]

        # The events are delivered a moment before the worker records the run as done.
        wait_until(succeeded, 60, "a succeeded run")
        runs = client.schedule_runs("pump-2s")
        done = [r for r in runs if r["state"] == "succeeded"]
        assert done and done[-1]["result"]["rows"] == ROWS
        assert done[-1]["result"]["sent"] == ROWS and done[-1]["result"]["version"] == 1

        # A search Splunk refuses: the run is recorded as failed with Splunk's message.
        client.schedule("broken", "| frobnicate", "pump", every="1h")
        job = client.run_schedule("broken")
        wait_until(lambda: client.job(job["id"])["state"] == "failed", 90, "failed run")
        error = client.job(job["id"])["error"]
        assert error["code"] == "search_failed" and "frobnicate" in error["message"]
    finally:
        stack.stop()
    # Every job that exists now was made before the restart.
    jobs = JobStore(Database(f"sqlite:///{home / 'kepler.db'}"))
    before_restart = {j.id for j in jobs.list(limit=10_000)}

    # Everything stopped; a new stack on the same home (new port, new token) fires on.
    stack = LocalStack(home, extra_env=stack_env(splunkd, hec)).start()
    try:
        client = stack.client()
        names = set(client.schedules()["name"])
        assert names == {"pump-2s", "broken"}

        def fired_again() -> bool:
            return any(
                r["state"] == "succeeded" and r["id"] not in before_restart
                for r in client.schedule_runs("pump-2s")
            )

        wait_until(fired_again, 120, "a run after the restart")
        new_jobs = {e["event"]["kepler_job"] for e in scores(hec, "pump-2s")} - before_restart
        assert new_jobs, "scores of a run after the restart arrived via HEC"
        client.unschedule("pump-2s")
        with pytest.raises(ScheduleNotFound):
            client.run_schedule("pump-2s")

        # The CLI, through the bridge.
        added = kepler_cli(
            stack, "add", "cli-hourly", "--search", "index=sensors", "--model", "pump@1",
            "--every", "1h",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert "every 1h" in added.stdout and "pump@1" in added.stdout
        listed = kepler_cli(stack, "list")
        assert listed.returncode == 0 and "cli-hourly" in listed.stdout
        ran = kepler_cli(stack, "run-now", "cli-hourly", "--wait")
        assert ran.returncode == 0, ran.stderr
        assert f"scored {ROWS} rows with pump@1" in ran.stdout
        assert f"{ROWS} events sent via HEC" in ran.stdout
        got = sorted(e["event"]["predicted(y)"] for e in scores(hec, "cli-hourly"))
        assert got == pytest.approx([2.0 * i for i in range(ROWS)], abs=1e-9)
        assert kepler_cli(stack, "remove", "cli-hourly").returncode == 0
        gone = kepler_cli(stack, "remove", "cli-hourly")
        assert gone.returncode == 1 and "no schedule 'cli-hourly'" in gone.stderr
        assert "Traceback" not in gone.stderr
    finally:
        stack.stop()
    assert "Traceback" not in stack.log_text(100_000).split("--- beat")[-1]
