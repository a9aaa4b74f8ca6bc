"""POST /v1/score through the real bridge app, as kp.score calls it: the same table as
scikit-learn's, the dataset deleted afterwards, bad input as typed errors."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn import metrics

import kepler as kp
from kepler._api import connect
from kepler.core import wire
from kepler.server.settings import ServerSettings
from kepler_bridge.app import create_app

TOKEN = "score-test-token"


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = ServerSettings(home=tmp_path_factory.mktemp("home"), score_max_rows=1000)
    with TestClient(create_app(settings, TOKEN)) as tc:
        connect("http://testserver", TOKEN, transport=tc._transport)
        yield tc


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    label = rng.choice(["no", "yes"], 3000)
    return pd.DataFrame(
        {
            "failure": label,
            "predicted(failure)": np.where(rng.random(3000) < 0.85, label, "no"),
            "probability(failure=yes)": rng.random(3000),
            "kwh": rng.normal(10, 2, 3000),
            "predicted(kwh)": rng.normal(10, 2, 3000),
        }
    )


def test_kp_score_returns_mltks_table(bridge: TestClient, df: pd.DataFrame) -> None:
    out = kp.score(df, "f1_score", "failure", "predicted(failure)", pos_label="yes")
    assert list(out.columns) == ["Actual field", "Predicted field", "f1_score"]
    assert out.loc[0, "f1_score"] == pytest.approx(
        metrics.f1_score(df["failure"], df["predicted(failure)"], pos_label="yes")
    )
    assert out.attrs["rows_scored"] == 3000 and out.attrs["rows_dropped"] == 0
    out = kp.score(df, "r2_score", ["kwh"], ["predicted(kwh)"])
    assert out.loc[0, "r2_score"] == pytest.approx(
        metrics.r2_score(df["kwh"], df["predicted(kwh)"])
    )
    out = kp.score(df, "confusion_matrix", "failure", "predicted(failure)")
    assert list(out["Label"]) == ["actual(no)", "actual(yes)"]


def test_the_uploaded_dataset_is_deleted(bridge: TestClient, df: pd.DataFrame) -> None:
    before = set(_datasets(bridge))
    kp.score(df.head(50), "accuracy_score", "failure", "predicted(failure)")
    assert set(_datasets(bridge)) == before


def _datasets(bridge: TestClient) -> list[str]:
    store = bridge.app.state.kepler.datasets  # type: ignore[attr-defined]
    return list(store.fs.ls(store.root)) if store.fs.exists(store.root) else []


def test_bad_input_comes_back_typed(bridge: TestClient, df: pd.DataFrame) -> None:
    with pytest.raises(kp.InvalidSpec) as err:
        kp.score(df, "accuracy", "failure", "predicted(failure)")
    assert "valid metrics: accuracy_score" in err.value.message
    with pytest.raises(kp.DataError) as derr:
        kp.score(df, "mean_squared_error", "kwh", "failure")
    assert "holds text such as" in derr.value.message
    with pytest.raises(kp.DataError) as derr:
        kp.score(df, "ks_2samp", "kwh", "predicted(kwh)")
    assert "more than 1,000 rows" in derr.value.message
    with pytest.raises(kp.DataError) as derr:
        kp.score(df, "accuracy_score", "failure", "nope")
    assert "'nope' not in the DataFrame" in derr.value.message


def test_route_refuses_a_field_the_dataset_lacks(bridge: TestClient, df: pd.DataFrame) -> None:
    dataset_id = kp.client().upload(df[["failure"]])
    resp = bridge.post(
        wire.SCORE,
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={
            "dataset_id": dataset_id,
            "metric": "accuracy_score",
            "fields": ["failure"],
            "against": ["predicted(failure)"],
        },
    )
    assert resp.status_code == 422
    assert "predicted field 'predicted(failure)' is not in the events" in resp.text
    resp = bridge.post(
        wire.SCORE,
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={
            "dataset_id": dataset_id,
            "metric": "f1_score",
            "fields": ["failure"],
            "against": ["failure"],
            "options": {"avg": "macro"},
        },
    )
    assert resp.status_code == 400 and "no option 'avg'" in resp.text
    resp = bridge.post(wire.SCORE, json={"dataset_id": dataset_id})
    assert resp.status_code == 401
