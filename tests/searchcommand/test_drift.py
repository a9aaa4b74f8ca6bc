"""`| kepler drift` as splunkd runs it, against a real bridge and worker (protocol v2)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

import kepler as kp
from kepler._stack import LocalStack
from kepler.ml.monitoring import ARTIFACT
from tests.splunk.harness import chunks
from tests.splunk.kepler_command import sensor_events, splunkd

pytestmark = pytest.mark.system
FIELDS = ["_time", "temp", "vibration", "site", "failure"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("drift-stack")) as s:
        client = kp.Client(s.url, s.token)
        training = pd.DataFrame(sensor_events(3000))[FIELDS[1:]]
        for name in ("pump", "legacy"):
            client.fit(
                training,
                "RandomForestClassifier",
                target="failure",
                features=["temp", "vibration", "site"],
                into=name,
                n_estimators=20,
            )
        _forget_baseline(s, "legacy")
        yield s


def _forget_baseline(stack: LocalStack, name: str) -> None:
    """Make ``name`` look fitted before baselines existed: drop its artifact on disk."""
    from mlflow import MlflowClient
    from mlflow.utils.file_utils import local_file_uri_to_path

    tracking = f"sqlite:///{stack.home / 'mlflow.db'}"
    client = MlflowClient(tracking, tracking)
    (version,) = client.search_model_versions(f"name = '{name}'")
    root = client.get_run(version.run_id).info.artifact_uri
    os.remove(Path(local_file_uri_to_path(root)) / ARTIFACT)


def drift_rows(stack: LocalStack, script: Path, args: list[str], events: list[dict]):  # type: ignore[no-untyped-def]
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["drift", *args])
    assert "error" not in info.metadata and not info.messages, info.messages
    bodies = chunks(events, 400, FIELDS)
    for i, body in enumerate(bodies):
        replies = cmd.execute_all(body, finished=i == len(bodies) - 1)
    assert cmd.close() == 0
    return replies[-1]


def test_drift_of_like_events_flags_nothing(stack: LocalStack, script: Path) -> None:
    reply = drift_rows(stack, script, ["pump"], sensor_events(1500, seed=1))
    rows = {r["field"]: r for r in reply.records()}
    assert list(rows) == ["temp", "vibration", "site", "predicted(failure)"]
    assert {r["drifted"] for r in rows.values()} == {"false"}
    assert rows["temp"]["method"] == "wasserstein" and rows["site"]["method"] == "jensenshannon"
    assert rows["temp"]["model"] == "pump" and rows["temp"]["version"] == "1"
    assert rows["temp"]["rows_now"] == "1500" and rows["temp"]["missing_now"] == "0"
    assert reply.messages == [("INFO", "kepler drift: 0 of 4 fields drifted against pump@1")]


def test_drift_of_hot_events_flags_temp_and_the_output(stack: LocalStack, script: Path) -> None:
    events = sensor_events(1500, seed=2)
    for e in events:
        e["temp"] = f"{float(e['temp']) + 25:.2f}"
    reply = drift_rows(stack, script, ["pump@1", "method=psi", "threshold=0.05"], events)
    rows = {r["field"]: r for r in reply.records()}
    assert rows["temp"]["drifted"] == "true" and rows["temp"]["threshold"] == "0.05"
    assert rows["predicted(failure)"]["drifted"] == "true"  # scored by the bridge
    assert rows["site"]["drifted"] == "false"
    reply = drift_rows(stack, script, ["pump", "method=ks"], events)
    rows = {r["field"]: r for r in reply.records()}
    assert rows["temp"]["drifted"] == "true" and rows["temp"]["threshold"] == "0.05"
    assert rows["site"]["drifted"] == "" and "categorical" in rows["site"]["note"]


def test_summary_shows_each_features_baseline(stack: LocalStack, script: Path) -> None:
    cmd = splunkd(script, stack.url, stack.token)
    cmd.getinfo(["summary", "pump"])
    rows = {r["feature"]: r for r in cmd.execute(b"", finished=True).records()}
    assert cmd.close() == 0
    assert rows["temp"]["baseline_rows"] == "3000"
    assert (
        40 < float(rows["temp"]["baseline.mean"]) < 60 and rows["temp"]["baseline.missing"] == "0"
    )
    site = next(r for name, r in rows.items() if name.startswith("site="))  # one-hot
    sites = dict(kv.split("=") for kv in site["baseline.top"].split(","))
    assert set(sites) == {"Köln", "São Paulo", "東京"}


def error_at_getinfo(stack: LocalStack, script: Path, args: list[str]) -> str:
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(args)
    errors = [text for level, text in info.messages if level == "ERROR"]
    assert len(errors) == 1, info.metadata
    assert cmd.close() == 1
    assert "Traceback" not in errors[0] and "Traceback" not in cmd.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["drift"], "drift compares the events with one model"),
        (["drift", "pump", "legacy"], "one model"),
        (["drift", "ghost"], "no model named 'ghost'"),
        (["drift", "pump", "method=magic"], "one of"),
        (["drift", "pump", "threshold=lots"], "threshold"),
        (["drift", "legacy"], "no drift baseline (it was fitted before Kepler kept one)"),
        (["drift", "legacy@1"], 'kp.baseline("legacy@1", df)'),
    ],
)
def test_bad_input_refused_at_getinfo(
    stack: LocalStack, script: Path, args: list[str], fragment: str
) -> None:
    assert fragment in error_at_getinfo(stack, script, args)
