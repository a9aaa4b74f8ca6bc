"""Devices: what this process has, ``device=auto`` resolved, GPU-trained XGBoost scored on CPU."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from kepler.core.errors import BadParameter
from kepler.core.spec import FitSpec
from kepler.ml.devices import detect_devices, resolve_device, score_on_cpu
from kepler.ml.outputs import predict_frame
from kepler.ml.training import train

REPO = Path(__file__).resolve().parents[2]


def test_resolve_device_auto_follows_cuda() -> None:
    assert resolve_device("auto", available=False) == "cpu"
    assert resolve_device("auto", available=True) == "cuda"
    assert resolve_device("cpu", available=True) == "cpu"
    assert resolve_device("cuda", available=True) == "cuda"


def test_resolve_device_cuda_without_cuda_names_the_fix() -> None:
    with pytest.raises(BadParameter, match="use device=auto or device=cpu") as caught:
        resolve_device("cuda", available=False)

    assert caught.value.detail["devices"] == list(detect_devices())


def test_resolve_device_unknown_lists_the_choices() -> None:
    with pytest.raises(BadParameter, match="expected one of auto, cpu, cuda"):
        resolve_device("tpu", available=False)


def test_detect_devices_cpu_first_and_cuda_named_by_index() -> None:
    devices = detect_devices()

    assert devices[0] == "cpu"
    assert all(d.startswith(f"cuda:{i} ") for i, d in enumerate(devices[1:]))


def test_detect_devices_without_torch_is_cpu_and_imports_nothing() -> None:
    script = (
        "import sys; sys.modules['torch'] = None; "  # as if torch were not installed
        "import importlib.util as u; u.find_spec = lambda name, *a: None; "
        "from kepler.ml.devices import detect_devices; "
        "assert detect_devices() == ('cpu',), detect_devices()"
    )

    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO)


def test_score_on_cpu_xgboost_trained_for_cuda_predicts_on_cpu_without_warnings(
    make_events,  # type: ignore[no-untyped-def]
) -> None:
    pytest.importorskip("xgboost")
    spec = FitSpec(
        "XGBoostClassifier",
        target="label",
        features=("x", "z", "color"),
        params={"n_estimators": 5, "n_jobs": 1, "device": "cpu"},
    )
    trained = train(make_events(90), spec)
    booster = trained.pipeline.steps[-1][1].estimator_
    new = make_events(20, seed=3, as_text=False)
    expected = predict_frame(trained.pipeline, trained.meta, new)
    with warnings.catch_warnings():  # no GPU here: XGBoost warns it falls back to the CPU
        warnings.simplefilter("ignore")
        booster.set_params(device="cuda")  # what a fit on a GPU leaves behind

    score_on_cpu(trained.pipeline)

    assert booster.get_params()["device"] == "cpu"
    pd.testing.assert_frame_equal(predict_frame(trained.pipeline, trained.meta, new), expected)
