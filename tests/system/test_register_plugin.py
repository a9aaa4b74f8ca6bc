"""Bring your own model from an algorithm plugin: the example plugin is installed for real
where the bridge runs (its ``PYTHONPATH``) and in the notebook (this process), a
``MeanCentroidClassifier`` fitted here is registered with ``kp.register`` and scores
through ``kp.apply`` as the local object predicts. The plugin's class is trusted because
the bridge's operator installed it; the refusal of one the bridge has not installed is in
``test_register.py``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kepler._stack import LocalStack
from tests.fixtures.plugins import install_example_plugin

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_example_plugin(tmp_path_factory.mktemp("plugin"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, site: Path) -> Iterator[LocalStack]:
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    home = tmp_path_factory.mktemp("register-plugin-stack")
    with LocalStack(home, extra_env={"PYTHONPATH": path}, beat=False) as s:
        yield s


def sensors(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"temp": rng.uniform(10, 90, n), "vibration": rng.uniform(0, 5, n)})
    return X, np.where(X.temp + 10 * X.vibration > 75, "yes", "no")


def test_register_a_plugin_estimator_applies_as_fitted(
    stack: LocalStack, site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(site))
    from kepler_plugin_example import MeanCentroidClassifier

    X, y = sensors(300, seed=1)
    model = MeanCentroidClassifier(shrink=0.2).fit(X, y)
    fresh, _ = sensors(200, seed=2)
    with stack.client() as c:
        summary = c.register(model, into="byo_plugin", target="failure", data=X)
        scored = c.apply(fresh, "byo_plugin@1")
    assert (summary["algorithm"], summary["task"]) == ("MeanCentroidClassifier", "classifier")
    assert summary["classes"] == ["no", "yes"]
    assert summary["params"]["shrink"] == 0.2
    assert summary["lineage"]["registered"]["packages"]["kepler-plugin-example"] == "0.1.0"
    assert summary["baseline"]["rows"] == len(X)
    assert list(scored["predicted(failure)"]) == list(model.predict(fresh))
