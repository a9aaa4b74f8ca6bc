"""Bring your own model over the real stack (bridge, worker, MLflow on SQLite): a
scikit-learn pipeline, an XGBoost model and Kepler's torch MLP fitted here are registered
with ``kp.register`` and score through ``kp.apply`` exactly as the local objects predict;
the version records who registered it and from which environment, and its baseline comes
in the same request (rows the bridge cannot use register nothing); an untrusted type, a
plugin's class the bridge has not installed, a raw torch module, a pickle and an
oversized file are refused with what is wrong."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kepler._settings import ClientSettings
from kepler._stack import LocalStack
from kepler.core import wire
from kepler.core.errors import DataError, ModelNotFound, PayloadTooLarge, UntrustedModel
from tests.fixtures.plugins import install_example_plugin

pytestmark = pytest.mark.system

MAX_BYTES = 400_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = {"KEPLER_REGISTER_MAX_BYTES": str(MAX_BYTES)}
    with LocalStack(tmp_path_factory.mktemp("register-stack"), extra_env=env) as s:
        yield s


def sensors(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"temp": rng.uniform(10, 90, n), "vibration": rng.uniform(0, 5, n)})
    y = pd.Series(np.where((X.temp > 60) & (X.vibration > 2.5), "yes", "no"), name="failure")
    return X, y


class Sneaky(BaseEstimator, ClassifierMixin):
    """A class the bridge has never heard of: its code must never run there."""

    def fit(self, X: object, y: object) -> Sneaky:
        self.classes_ = np.array(["no", "yes"])
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.full(len(X), "yes")


def test_register_a_pipeline_applies_exactly_as_fitted_and_records_who_and_where(
    stack: LocalStack,
) -> None:
    X, y = sensors(400, seed=1)
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    fresh, _ = sensors(300, seed=2)
    settings = ClientSettings(user="alice")
    with stack.client(settings=settings) as c:
        summary = c.register(
            pipe, into="reg_pipe", target="failure", data=X, requirements=["scikit-learn>=1.5"]
        )
        assert (summary["name"], summary["version"]) == ("reg_pipe", 1)
        assert (summary["algorithm"], summary["task"]) == ("LogisticRegression", "classifier")
        assert summary["features"] == ["temp", "vibration"]
        assert summary["classes"] == ["no", "yes"]
        scored = c.apply(fresh, "reg_pipe@1", probabilities=True)
    assert list(scored["predicted(failure)"]) == list(pipe.predict(fresh))
    np.testing.assert_array_equal(
        scored["probability(failure=yes)"].to_numpy(), pipe.predict_proba(fresh)[:, 1]
    )
    # Who registered it, from which environment, and the baseline of data=.
    import sklearn

    registered = summary["lineage"]["registered"]
    assert summary["user"] == registered["user"] == "alice"
    assert registered["format"] == "skops"
    assert registered["packages"]["scikit-learn"] == sklearn.__version__
    assert registered["requirements"] == ["scikit-learn>=1.5"]
    assert registered["python"].count(".") == 2
    # The baseline came with the registration, in the same request.
    assert summary["baseline"]["rows"] == len(X)
    assert summary["baseline"]["source"] == "register"


def test_register_an_xgboost_model_applies_exactly_as_fitted(stack: LocalStack) -> None:
    xgboost = pytest.importorskip("xgboost")
    X, _ = sensors(400, seed=3)
    model = xgboost.XGBRegressor(n_estimators=20, max_depth=3).fit(X, X.temp * 2 + X.vibration)
    fresh, _ = sensors(200, seed=4)
    with stack.client() as c:
        summary = c.register(model, into="reg_xgb", target="load")
        assert (summary["algorithm"], summary["task"]) == ("XGBRegressor", "regressor")
        assert summary["lineage"]["registered"]["packages"]["xgboost"] == xgboost.__version__
        scored = c.apply(fresh, "reg_xgb")
    np.testing.assert_array_equal(
        scored["predicted(load)"].to_numpy(), model.predict(fresh).astype(np.float64)
    )


def test_register_refuses_an_untrusted_type_naming_it(stack: LocalStack) -> None:
    X, y = sensors(50, seed=5)
    with stack.client() as c:
        with pytest.raises(UntrustedModel) as refused:
            c.register(Sneaky().fit(X, y), into="reg_bad", features=["temp", "vibration"])
        assert "test_register.Sneaky" in refused.value.message
        assert any(t.endswith("Sneaky") for t in refused.value.detail["untrusted_types"])
        with pytest.raises(Exception, match="reg_bad"):
            c.summary("reg_bad")  # nothing was registered


def test_register_refuses_a_pickle(stack: LocalStack) -> None:
    X, y = sensors(50, seed=6)
    request = wire.ModelRegister(features=["temp", "vibration"], target="failure")
    body = wire.frame_register(
        json.dumps(request.to_dict()).encode(),
        pickle.dumps(LogisticRegression().fit(X, y)),
    )
    with stack.client() as c, pytest.raises(UntrustedModel) as refused:
        c.register_body("reg_pickle", body)
    assert "a pickle" in refused.value.message and "never unpickles" in refused.value.message


def test_register_refuses_a_file_over_the_limit_naming_the_setting(stack: LocalStack) -> None:
    request = wire.ModelRegister(features=["temp"], target="failure")
    body = wire.frame_register(json.dumps(request.to_dict()).encode(), b"\0" * (MAX_BYTES + 1))
    with stack.client() as c, pytest.raises(PayloadTooLarge) as refused:
        c.register_body("reg_big", body)
    assert "KEPLER_REGISTER_MAX_BYTES" in refused.value.message


def test_register_a_kepler_torch_model_applies_exactly_as_fitted(stack: LocalStack) -> None:
    torch_mlp = pytest.importorskip("kepler.ml.torch_mlp")
    pytest.importorskip("torch")
    X, y = sensors(400, seed=7)
    model = torch_mlp.TorchMLPClassifier(
        hidden_layer_sizes="8", max_epochs=5, random_state=0, device="cpu"
    ).fit(X, y)
    fresh, _ = sensors(300, seed=8)
    with stack.client() as c:
        summary = c.register(model, into="reg_torch", target="failure", data=X)
        assert (summary["algorithm"], summary["task"]) == ("TorchMLPClassifier", "classifier")
        assert summary["lineage"]["registered"]["format"] == "skops"
        assert summary["baseline"]["rows"] == len(X)
        scored = c.apply(fresh, "reg_torch@1", probabilities=True)
    assert list(scored["predicted(failure)"]) == list(model.predict(fresh))
    np.testing.assert_array_equal(
        scored["probability(failure=yes)"].to_numpy(), model.predict_proba(fresh)[:, 1]
    )


def test_register_refuses_a_raw_torch_module_saying_what_to_register(stack: LocalStack) -> None:
    torch = pytest.importorskip("torch")
    with stack.client() as c:
        with pytest.raises(UntrustedModel) as refused:
            c.register(torch.nn.Linear(2, 1), into="reg_module", features=["temp", "vibration"])
        with pytest.raises(ModelNotFound):
            c.summary("reg_module")
    message = refused.value.message
    assert "torch.nn.modules.linear.Linear" in message
    assert "TorchMLPClassifier" in message and "ONNX is not supported" in message


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_example_plugin(tmp_path_factory.mktemp("plugin"))


def test_register_refuses_a_plugin_class_the_bridge_has_not_installed(
    stack: LocalStack, plugin_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(plugin_site))  # installed here, in the notebook only
    from kepler_plugin_example import MeanCentroidClassifier

    X, y = sensors(100, seed=9)
    with stack.client() as c:
        with pytest.raises(UntrustedModel) as refused:
            c.register(MeanCentroidClassifier().fit(X, y), into="reg_plugin", target="failure")
        with pytest.raises(ModelNotFound):
            c.summary("reg_plugin")
    assert refused.value.detail["untrusted_types"] == [
        "kepler_plugin_example.MeanCentroidClassifier"
    ]
    assert "install a plugin that provides the class" in refused.value.message


def _body(model: object, data: bytes) -> bytes:
    import skops.io as sio

    request = wire.ModelRegister(features=["temp", "vibration"], target="failure")
    return wire.frame_register(json.dumps(request.to_dict()).encode(), sio.dumps(model), data)


def test_register_with_rows_the_bridge_cannot_use_makes_no_version(stack: LocalStack) -> None:
    from kepler import _frames

    X, y = sensors(100, seed=10)
    model = LogisticRegression().fit(X, y)
    no_features = _frames.ipc_bytes(_frames.to_arrow(pd.DataFrame({"other": [1.0, 2.0]})))
    with stack.client() as c:
        assert c.register(model, into="reg_atomic", target="failure", data=X)["version"] == 1
        for rows, says in ((b"not arrow", "not an Arrow IPC stream"), (no_features, "none of")):
            with pytest.raises(DataError) as refused:
                c.register_body("reg_atomic", _body(model, rows))
            assert refused.value.status == 422 and says in refused.value.message
        # Neither left a version behind, with or without a baseline.
        assert c.summary("reg_atomic")["version"] == 1
        assert [m["versions"] for m in c.model_list() if m["name"] == "reg_atomic"] == [[1]]
