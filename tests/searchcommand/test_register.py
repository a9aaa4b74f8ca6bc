"""Models registered with ``kp.register`` (a scikit-learn pipeline, an XGBoost model,
Kepler's torch MLP) as `| kepler apply` scores them under each of Splunk's Pythons (3.9,
3.13), against a real bridge: the same predictions as the objects fitted in the notebook,
and `| kepler summary` shows where they came from."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kepler._stack import LocalStack
from tests.splunk.harness import Splunkd
from tests.splunk.kepler_command import sensor_events
from tests.splunk.pythons import SplunkPython

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("register-spl-stack")) as s:
        yield s


def frame(events: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "temp": [float(e["temp"]) for e in events],
            "vibration": [float(e["vibration"]) for e in events],
        }
    )


@pytest.fixture(scope="module")
def models(stack: LocalStack) -> dict[str, object]:
    """Two models fitted here, registered: what each predicts is known locally."""
    events = sensor_events(500, seed=1)
    X, y = frame(events), [e["failure"] for e in events]
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=10, random_state=0))
    fitted: dict[str, object] = {"byo_pipe": pipe.fit(X, y)}
    with stack.client() as c:
        c.register(fitted["byo_pipe"], into="byo_pipe", target="failure", data=X)
        xgboost = pytest.importorskip("xgboost")
        booster = xgboost.XGBClassifier(n_estimators=10, max_depth=3)
        fitted["byo_xgb"] = booster.fit(X, [int(v == "yes") for v in y])
        c.register(fitted["byo_xgb"], into="byo_xgb", target="failure")
        torch_mlp = pytest.importorskip("kepler.ml.torch_mlp")
        pytest.importorskip("torch")
        net = torch_mlp.TorchMLPClassifier(hidden_layer_sizes="8", max_epochs=5, random_state=0)
        fitted["byo_torch"] = net.fit(X, y)
        c.register(fitted["byo_torch"], into="byo_torch", target="failure")
    return fitted


def command(script: Path, stack: LocalStack, python: SplunkPython) -> Splunkd:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(KEPLER_URL=stack.url, KEPLER_TOKEN=stack.token)
    return Splunkd(
        script, command="kepler", python=python.executable, python_args=["-S"], env=env, timeout=120
    )


@pytest.mark.parametrize("name", ["byo_pipe", "byo_xgb", "byo_torch"])
def test_apply_a_registered_model_predicts_as_the_notebooks_object(
    stack: LocalStack,
    script: Path,
    splunk_python: SplunkPython,
    models: dict[str, object],
    name: str,
) -> None:
    events = sensor_events(300, seed=7)
    cmd = command(script, stack, splunk_python)
    info = cmd.getinfo(["apply", name])
    assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
    assert set(info.metadata["required_fields"]) == {"temp", "vibration"}
    _, rows = cmd.send(events, finished=True, fields=["_time", "temp", "vibration"])
    assert cmd.close() == 0, cmd.stderr
    expected = models[name].predict(frame(events))  # type: ignore[attr-defined]
    assert [r["predicted(failure)"] for r in rows] == [str(v) for v in np.asarray(expected)]


def test_summary_of_a_registered_model_shows_its_environment(
    stack: LocalStack, script: Path, splunk_python: SplunkPython, models: dict[str, object]
) -> None:
    import sklearn

    cmd = command(script, stack, splunk_python)
    info = cmd.getinfo(["summary", "byo_pipe"])
    assert info.metadata.get("generating") is True, info.messages
    reply = cmd.execute(b"", finished=True)
    assert cmd.close() == 0, cmd.stderr
    rows = reply.records()
    assert rows and rows[0]["algorithm"] == "RandomForestClassifier"
    assert f"scikit-learn=={sklearn.__version__}" in rows[0]["registered_env"]
    assert rows[0]["baseline_rows"] == "500"
