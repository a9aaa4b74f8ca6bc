"""Reading a registered model's skops file: what is built, and what is refused by name."""

from __future__ import annotations

import importlib
import io
import json
import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from kepler.core.errors import UntrustedModel
from kepler.ml.trusted import TRUSTED_TYPES, load_model

sio = pytest.importorskip("skops.io")
LIMIT = 64 * 1024 * 1024


class Custom(BaseEstimator, RegressorMixin):
    def fit(self, X: object, y: object) -> Custom:
        self.coef_ = np.ones(2)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(X) @ self.coef_


def data(n: int = 200) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return X, (X.a * 3 - X.b > 0).astype(int).to_numpy()


@pytest.mark.parametrize(
    "make",
    [
        lambda: make_pipeline(StandardScaler(), LinearRegression()),
        lambda: GradientBoostingClassifier(n_estimators=5),
        lambda: HistGradientBoostingRegressor(max_iter=5),
    ],
    ids=["pipeline", "gradient-boosting", "hist-gradient-boosting"],
)
def test_load_model_builds_scikit_learn_models_that_predict_as_before(make: object) -> None:
    X, y = data()
    model = make().fit(X, y)  # type: ignore[operator]
    loaded = load_model(sio.dumps(model), max_unpacked_bytes=LIMIT)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_load_model_builds_xgboost_models_that_predict_as_before() -> None:
    xgboost = pytest.importorskip("xgboost")
    X, y = data()
    model = xgboost.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y)
    loaded = load_model(sio.dumps(model), max_unpacked_bytes=LIMIT)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize("name", ["TorchMLPClassifier", "TorchMLPRegressor"])
def test_load_model_builds_keplers_torch_models_that_predict_as_before(name: str) -> None:
    pytest.importorskip("torch")
    torch_mlp = importlib.import_module("kepler.ml.torch_mlp")
    X, y = data()
    model = getattr(torch_mlp, name)(hidden_layer_sizes="8", max_epochs=3, random_state=0)
    model.fit(X, y)
    packed = sio.dumps(model)

    # Only the estimator's own class needs trusting: its weights are plain arrays.
    assert sio.get_untrusted_types(data=packed) == [f"kepler.ml.torch_mlp.{name}"]
    loaded = load_model(packed, max_unpacked_bytes=LIMIT)

    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_load_model_refuses_a_type_outside_the_list_naming_it() -> None:
    X, y = data()
    with pytest.raises(UntrustedModel) as refused:
        load_model(sio.dumps(Custom().fit(X, y)), max_unpacked_bytes=LIMIT)
    assert "tests.ml.test_trusted.Custom" in refused.value.message
    assert refused.value.detail == {"untrusted_types": ["tests.ml.test_trusted.Custom"]}
    assert refused.value.status == 422


def test_load_model_refuses_torch_types_saying_what_to_register() -> None:
    # skops cannot save a torch module at all; a file naming one is made by hand.
    X, y = data()
    packed = io.BytesIO(sio.dumps(Custom().fit(X, y)))
    sink = io.BytesIO()
    with zipfile.ZipFile(packed) as source, zipfile.ZipFile(sink, "w") as forged:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "schema.json":
                schema = json.loads(content)
                schema["__module__"], schema["__class__"] = "torch.nn.modules.linear", "Linear"
                content = json.dumps(schema).encode()
            forged.writestr(info, content)
    with pytest.raises(UntrustedModel) as refused:
        load_model(sink.getvalue(), max_unpacked_bytes=LIMIT)
    assert refused.value.detail == {"untrusted_types": ["torch.nn.modules.linear.Linear"]}
    assert "TorchMLPClassifier" in refused.value.message
    assert "ONNX is not supported" in refused.value.message


def test_load_model_refuses_a_pickle_without_unpickling_it() -> None:
    X, y = data()
    with pytest.raises(UntrustedModel, match="is a pickle") as refused:
        load_model(pickle.dumps(LinearRegression().fit(X, y)), max_unpacked_bytes=LIMIT)
    assert refused.value.detail == {"format": "pickle"}


def test_load_model_refuses_a_zip_that_is_not_skops_and_one_that_unpacks_too_far() -> None:
    sink = io.BytesIO()
    with zipfile.ZipFile(sink, "w") as archive:
        archive.writestr("model.pkl", b"x")
    with pytest.raises(UntrustedModel, match="not a skops file"):
        load_model(sink.getvalue(), max_unpacked_bytes=LIMIT)
    X, _ = data()
    packed = sio.dumps(OneHotEncoder().fit(X.round()))
    with pytest.raises(UntrustedModel, match="KEPLER_REGISTER_MAX_BYTES"):
        load_model(packed, max_unpacked_bytes=100)


@pytest.mark.parametrize("name", TRUSTED_TYPES)
def test_every_trusted_type_names_a_real_type(name: str) -> None:
    module, _, attr = name.rpartition(".")
    if module.startswith("xgboost"):
        pytest.importorskip("xgboost")
    assert isinstance(getattr(importlib.import_module(module), attr), type)
