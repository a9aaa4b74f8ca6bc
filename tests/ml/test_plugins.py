"""A third-party package adds algorithms through the ``kepler.algorithms`` entry points.

The example package under ``tests/fixtures/kepler_plugin_example`` is installed for real
(pip, no network) into a temporary folder, and a fresh Python trains and applies with it:
the way a user's plugin reaches Kepler, with no change to Kepler's code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.plugins import install_example_plugin

SCRIPT = r"""
import json, logging
import numpy as np, pandas as pd
logging.basicConfig(level=logging.WARNING)
from kepler.core.spec import FitSpec
from kepler.ml.outputs import predict_frame
from kepler.ml.registry import all_algorithms, get_algorithm
from kepler.ml.training import train

rng = np.random.default_rng(0)
n = 60
x = rng.normal(size=n)
frame = pd.DataFrame({"x": x.astype(str), "z": rng.normal(size=n).astype(str),
                      "label": np.where(x > 0, "up", "down")})
info = get_algorithm("meancentroids")
clf = train(frame, FitSpec("MeanCentroids", target="label", features=("x", "z"),
                           params={"shrink": "0.1"}))
predicted = predict_frame(clf.pipeline, clf.meta, frame)
scaler = train(frame, FitSpec("HalfScaler", features=("x",), params={"factor": 2}))
scaled = predict_frame(scaler.pipeline, scaler.meta, frame.head(3))
print(json.dumps({
    "names": [a.name for a in all_algorithms()],
    "task": info.task,
    "params": info.params.names(),
    "meta_params": clf.meta.params,
    "columns": list(predicted.columns),
    "labels": sorted(set(predicted["predicted(label)"])),
    "accuracy": clf.metrics["accuracy"],
    "scaled_columns": list(scaled.columns),
    "scaled": scaled.iloc[:, 0].tolist(),
    "x": frame["x"].head(3).astype(float).tolist(),
}))
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin pip-installed into a folder of its own (never into the repo)."""
    return install_example_plugin(tmp_path_factory.mktemp("plugin"))


def test_plugin_algorithms_train_and_apply_without_changes_to_kepler(site: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert "MeanCentroids" in result["names"] and "HalfScaler" in result["names"]
    assert "BrokenExample" not in result["names"]
    assert "BrokenExample" in done.stderr and "kepler_plugin_example.not_there" in done.stderr

    assert result["task"] == "classifier"
    assert result["params"] == ["shrink"]
    assert result["meta_params"] == {"shrink": 0.1}
    assert result["columns"] == ["predicted(label)"]
    assert result["labels"] == ["down", "up"]
    assert result["accuracy"] >= 0.75

    assert result["scaled_columns"] == ["HalfScaler_x"]
    assert result["scaled"] == pytest.approx([2 * v for v in result["x"]])
