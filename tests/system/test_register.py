"""Bring your own model over the real stack (bridge, worker, MLflow on SQLite): a
scikit-learn pipeline and an XGBoost model fitted here are registered with ``kp.register``
and score through ``kp.apply`` exactly as the local objects predict; the version records
who registered it and from which environment; an untrusted type, a pickle and an
oversized file are refused with what is wrong."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator

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
from kepler.core.errors import PayloadTooLarge, UntrustedModel

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
    assert summary["baseline"]["rows"] == len(X)


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
