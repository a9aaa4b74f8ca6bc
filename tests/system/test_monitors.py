"""Monitors end to end, real processes: the splunkd REST double, the HEC receiver double,
and the stack (bridge, worker, beat); the CLI and the SDK through the bridge."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kepler._stack import LocalStack, wait_until
from kepler.core.errors import Forbidden
from tests.hec.receiver import HecReceiver
from tests.splunk.splunkd_rest import SplunkdRest

pytestmark = pytest.mark.system

SPLUNK_TOKEN = "splunk-auth-token-for-monitor-tests"
HEC_TOKEN = "11111111-2222-3333-4444-888888888888"


def pumps(n: int, *, seed: int, hot: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    temp = rng.normal(60 + hot, 5, n)
    site = rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2])
    failure = np.where(temp + rng.normal(0, 3, n) > 66, "yes", "no")
    return pd.DataFrame({"temp": temp, "site": site, "failure": failure})


def as_events(frame: pd.DataFrame) -> list[dict[str, str]]:
    return [{k: str(v) for k, v in row.items()} for row in frame.to_dict("records")]


@pytest.fixture(scope="module")
def splunkd() -> Iterator[SplunkdRest]:
    with SplunkdRest(tokens=[SPLUNK_TOKEN]) as rest:
        rest.add_search("search index=clean", as_events(pumps(1_500, seed=1)))
        rest.add_search("search index=hot", as_events(pumps(1_500, seed=2, hot=8.0)))
        yield rest


@pytest.fixture(scope="module")
def hec() -> Iterator[HecReceiver]:
    with HecReceiver(token=HEC_TOKEN) as receiver:
        yield receiver


def from_monitor(hec: HecReceiver, name: str) -> list[dict[str, Any]]:
    with hec.lock:
        events = list(hec.events)
    return [e for e in events if e.get("source") == f"kepler:monitor:{name}"]


def kepler_cli(stack: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(KEPLER_URL=stack.url, KEPLER_TOKEN=stack.token)
    return subprocess.run(
        [sys.executable, "-m", "kepler", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_monitors_fire_from_the_beat_and_write_metric_events(
    tmp_path: Path, splunkd: SplunkdRest, hec: HecReceiver
) -> None:
    env = {
        "KEPLER_SPLUNK_URL": splunkd.url,
        "KEPLER_SPLUNK_TOKEN": SPLUNK_TOKEN,
        "KEPLER_HEC_URL": hec.url,
        "KEPLER_HEC_TOKEN": HEC_TOKEN,
        "KEPLER_HEC_METRICS_INDEX": "kepler_metrics",
    }
    stack = LocalStack(tmp_path / "home", extra_env=env).start()
    try:
        client = stack.client()
        client.fit(
            pumps(2_000, seed=0),
            "LogisticRegression",
            target="failure",
            features=["temp", "site"],
            into="pump",
            progress=False,
        )
        # The CLI adds a monitor whose first run is now: the beat fires it.
        added = kepler_cli(
            stack, "monitor", "add", "hot", "--search", "index=hot", "--model", "pump",
            "--every", "1h", "--label", "failure", "--now",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert "every 1h" in added.stdout and "label failure" in added.stdout
        # Its alert in Splunk, made disabled by the bridge through splunkd's REST API.
        assert "saved search kepler_drift_hot made in Splunk, disabled" in added.stdout
        alert = splunkd.saved_searches.get("kepler", "kepler_drift_hot")
        assert alert is not None and alert.settings["disabled"] == "1"
        client.monitor("clean", "index=clean", "pump", every="1h", start_now=True)

        def finished(name: str) -> list[dict[str, Any]]:
            return [r for r in client.monitor_runs(name) if r["state"] == "succeeded"]

        wait_until(lambda: finished("hot") and finished("clean"), 120, "two monitor runs")
        hot = from_monitor(hec, "hot")
        metrics = [e for e in hot if e["event"] == "metric"]
        names = sorted(k for e in metrics for k in e["fields"] if k.startswith("metric_name:"))
        assert names == [
            "metric_name:kepler.drift.jensenshannon",  # site
            "metric_name:kepler.drift.wasserstein",  # temp
            "metric_name:kepler.drift.z",  # the output: two classes, a small holdout
            "metric_name:kepler.live.accuracy",
            "metric_name:kepler.live.f1",
        ]
        assert {e["index"] for e in metrics} == {"kepler_metrics"}
        (alert,) = [e for e in hot if e.get("sourcetype") == "kepler:drift"]
        assert "temp" in alert["event"]["drifted"]
        clean = from_monitor(hec, "clean")
        assert len(clean) == 3 and all(e["fields"]["drifted"] == "false" for e in clean)

        # The run's result is on its job: `kepler job show` shows what drifted.
        (run,) = finished("hot")
        shown = kepler_cli(stack, "job", "show", run["id"])
        assert shown.returncode == 0, shown.stderr
        assert "drifted" in shown.stdout and "temp" in shown.stdout and "accuracy" in shown.stdout

        ran = kepler_cli(stack, "monitor", "run-now", "hot", "--wait")
        assert ran.returncode == 0, ran.stderr
        assert "1500 events against pump@1: drifted" in ran.stdout and "accuracy:" in ran.stdout
        listed = kepler_cli(stack, "monitor", "list")
        assert listed.returncode == 0 and "hot" in listed.stdout and "clean" in listed.stdout
        assert "kepler_drift_hot" in listed.stdout and "kepler_drift_clean" in listed.stdout

        # The user token reads monitors but does not change them.
        user = stack.user_client()
        assert set(user.monitors()["name"]) == {"clean", "hot"}
        with pytest.raises(Forbidden):
            user.remove_monitor("hot")
        removed = kepler_cli(stack, "monitor", "remove", "hot")
        assert removed.returncode == 0 and "kepler_drift_hot removed" in removed.stdout
        assert splunkd.saved_searches.names("kepler") == ["kepler_drift_clean"]
        gone = kepler_cli(stack, "monitor", "remove", "hot")
        assert gone.returncode == 1 and "no monitor 'hot'" in gone.stderr
    finally:
        stack.stop()
    assert "Traceback" not in stack.log_text(100_000).split("--- beat")[-1]
