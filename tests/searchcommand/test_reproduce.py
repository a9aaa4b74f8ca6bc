"""`| kepler reproduce` as splunkd runs it, under each of Splunk's Pythons (3.9, 3.13),
against a real bridge and worker: rows per compared item, the refusal of differing package
versions as an ERROR message, then `force=true`, and `summary` naming the reproductions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from kepler._stack import LocalStack
from tests.splunk.harness import Splunkd, chunks
from tests.splunk.kepler_command import run_fit, sensor_events
from tests.splunk.pythons import SplunkPython

pytestmark = pytest.mark.system

FIELDS = ["_time", "temp", "vibration", "failure"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("reproduce-spl-stack")) as s:
        yield s


def command(script: Path, stack: LocalStack, python: SplunkPython) -> Splunkd:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(KEPLER_URL=stack.url, KEPLER_TOKEN=stack.token)
    return Splunkd(
        script, command="kepler", python=python.executable, python_args=["-S"], env=env, timeout=120
    )


def test_reproduce_answers_rows_refuses_and_forces(
    stack: LocalStack, script: Path, splunk_python: SplunkPython
) -> None:
    model = f"rp_{splunk_python.tag}"
    cmd = command(script, stack, splunk_python)
    args = ["fit", "RandomForestClassifier", "n_estimators=10", "random_state=4", "failure"]
    run_fit(
        cmd,
        [*args, "from", "temp", "vibration", "into", model],
        chunks(sensor_events(400, seed=2), 200, FIELDS),
    )
    assert cmd.close() == 0, cmd.stderr

    cmd = command(script, stack, splunk_python)
    info = cmd.getinfo(["reproduce", f"{model}@1"])
    assert info.metadata.get("generating") is True, info.messages
    answers = cmd.execute_all(b"", finished=True)
    assert cmd.close() == 0, cmd.stderr
    last = answers[-1]
    assert last.finished is True and not [m for m in last.messages if m[0] == "ERROR"]
    assert any("reproduces" in text and ": exact" in text for _, text in last.messages)
    rows = {r["item"]: r for r in last.records()}
    assert {"metric.accuracy", "split", "n_train", "n_holdout"} <= set(rows)
    accuracy = rows["metric.accuracy"]
    assert (accuracy["model"], accuracy["version"], accuracy["reproduces"]) == (
        model,
        "2",
        f"{model}@1",
    )
    assert accuracy["original"] == accuracy["reproduced"] and accuracy["match"] == "true"
    assert accuracy["rule"] == "exact" and accuracy["verdict"] == "exact"

    # A faked difference in the recorded packages: refused with an ERROR, no traceback.
    with stack.client() as c:
        run_id = c.summary(f"{model}@1")["run_id"]
    MlflowClient(tracking_uri=f"sqlite:///{stack.home / 'mlflow.db'}").set_tag(
        run_id, "kepler.package.pandas", "0.0.1"
    )
    cmd = command(script, stack, splunk_python)
    assert cmd.getinfo(["reproduce", f"{model}@1"]).metadata.get("generating") is True
    answers = cmd.execute_all(b"", finished=True)
    errors = [text for a in answers for level, text in a.messages if level == "ERROR"]
    assert cmd.close() == 1 and "Traceback" not in cmd.stderr
    assert len(errors) == 1 and "pandas: recorded 0.0.1, installed" in errors[0]

    cmd = command(script, stack, splunk_python)
    cmd.getinfo(["reproduce", f"{model}@1", "force=true"])
    last = cmd.execute_all(b"", finished=True)[-1]
    assert cmd.close() == 0, cmd.stderr
    forced = last.records()
    assert forced and all(r["forced"] == "true" for r in forced)
    assert (
        forced[0]["version"] == "3" and "pandas recorded 0.0.1" in forced[0]["package_differences"]
    )

    cmd = command(script, stack, splunk_python)
    cmd.getinfo(["summary", f"{model}@1"])
    summary = cmd.execute(b"", finished=True).records()
    assert cmd.close() == 0, cmd.stderr
    assert summary[0]["reproductions"].split("\n") == [
        f"{model}@2 exact",
        f"{model}@3 exact forced",
    ]

    cmd = command(script, stack, splunk_python)
    info = cmd.getinfo(["reproduce", model, f"{model}@1"])
    bad = [text for level, text in info.messages if level == "ERROR"]
    assert cmd.close() == 1 and len(bad) == 1 and "reproduce <model>@<version>" in bad[0]
