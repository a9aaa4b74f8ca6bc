"""kp.drift and kp.baseline through the real bridge app and a real MLflow registry."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import kepler as kp
from kepler.core.spec import FitSpec
from kepler.ml.store import ModelStore
from kepler.ml.training import train
from kepler.server.settings import ServerSettings
from kepler_bridge.app import create_app

TOKEN = "drift-route-token"
USER_TOKEN = "drift-route-user-token"


def pumps(n: int, *, seed: int, hot: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    temp = rng.normal(60 + hot, 5, n)
    site = rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2])
    failure = np.where(temp + rng.normal(0, 3, n) > 66, "yes", "no")
    return pd.DataFrame({"temp": temp, "site": site, "failure": failure})


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> ServerSettings:
    return ServerSettings(home=tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def store(settings: ServerSettings) -> ModelStore:
    store = ModelStore(settings.tracking_uri, settings.artifact_location, settings.experiment)
    spec = FitSpec("LogisticRegression", target="failure", features=("temp", "site"))
    store.register(train(pumps(3_000, seed=0), spec), "pump")
    old = train(pumps(3_000, seed=0), spec)
    old.baseline = None  # fitted before Kepler kept baselines
    store.register(old, "legacy")
    return store


@pytest.fixture(scope="module")
def apps(settings: ServerSettings, store: ModelStore) -> Iterator[tuple[kp.Client, kp.Client]]:
    with TestClient(create_app(settings, TOKEN, user_token=USER_TOKEN)) as tc:
        admin = kp.Client("http://testserver", TOKEN, transport=tc._transport)
        user = kp.Client("http://testserver", USER_TOKEN, transport=tc._transport)
        yield admin, user


def test_drift_of_a_window_like_training_flags_nothing(apps: tuple[kp.Client, kp.Client]) -> None:
    _, user = apps
    out = user.drift(pumps(2_000, seed=1).drop(columns=["failure"]), "pump")
    assert list(out["field"]) == ["temp", "site", "predicted(failure)"]
    assert list(out["role"]) == ["feature", "feature", "output"]
    # The output's baseline is the holdout's 600 rows: at most 1,000, two classes, a z-test.
    assert list(out["method"]) == ["wasserstein", "jensenshannon", "z"]
    assert not out["drifted"].any(), out
    assert (out.attrs["model"], out.attrs["version"]) == ("pump", 1)


def test_drift_of_a_hotter_window_flags_temp_and_the_output(
    apps: tuple[kp.Client, kp.Client],
) -> None:
    _, user = apps
    window = pumps(2_000, seed=2, hot=8.0)
    window["predicted(failure)"] = "yes"  # events already scored: their output is used
    out = user.drift(window, "pump@1", method="psi").set_index("field")
    assert out.loc["temp", "drifted"] and out.loc["predicted(failure)", "drifted"]
    assert not out.loc["site", "drifted"]
    assert (out["threshold"] == 0.1).all() and (out["method"] == "psi").all()


def test_absent_field_is_a_row_with_a_note(apps: tuple[kp.Client, kp.Client]) -> None:
    _, user = apps
    out = user.drift(pumps(500, seed=3)[["temp"]], "pump").set_index("field")
    assert "no field 'site'" in out.loc["site", "note"]
    assert pd.isna(out.loc["site", "statistic"])
    assert out.loc["temp", "note"] == ""


def test_version_without_baseline_says_how_to_get_one(apps: tuple[kp.Client, kp.Client]) -> None:
    admin, user = apps
    with pytest.raises(kp.BaselineNotFound) as err:
        user.drift(pumps(100, seed=4), "legacy")
    assert 'kp.baseline("legacy@1", df)' in err.value.message
    made = user.baseline("legacy@1", pumps(3_000, seed=0))
    assert made["version"] == 1 and made["baseline"]["source"] == "supplied"
    assert set(made["baseline"]["fields"]) == {"temp", "site"}
    assert not user.drift(pumps(2_000, seed=5), "legacy")["drifted"].any()
    with pytest.raises(kp.Conflict, match="already has a baseline"):
        user.baseline("legacy@1", pumps(100, seed=6))
    with pytest.raises(kp.Forbidden):
        user.baseline("legacy@1", pumps(100, seed=6), replace=True)
    assert (
        admin.baseline("legacy@1", pumps(1_000, seed=7), replace=True)["baseline"]["rows"] == 1_000
    )


def test_bad_method_is_refused_with_the_choices(apps: tuple[kp.Client, kp.Client]) -> None:
    _, user = apps
    with pytest.raises(kp.BadParameter, match="use one of auto, psi, ks, wasserstein"):
        user.drift(pumps(100, seed=8), "pump", method="magic")


def test_summary_shows_the_baseline(apps: tuple[kp.Client, kp.Client]) -> None:
    _, user = apps
    shown = user.summary("pump")["baseline"]
    assert shown["source"] == "fit" and shown["rows"] == 3_000
    assert set(shown["fields"]["site"]["top"]) == {"north", "south", "east"}
