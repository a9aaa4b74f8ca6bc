"""POST /v1/models/{ref}/predict on a real bridge process (uvicorn) over a real MLflow
registry on SQLite, adaptive micro-batching as by default: body forms, checks, the cached
resolution, and each concurrent caller getting exactly its own rows' answers."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from kepler._stack import free_port, wait_until
from kepler.core.refs import ModelRef
from kepler.core.spec import FitSpec
from kepler.ml.outputs import predict_frame
from kepler.ml.store import ModelStore
from kepler.ml.training import TrainedModel, train
from kepler.server.settings import ServerSettings
from tests.hec.receiver import HecReceiver

TOKEN = "predict-route-token"
HEC_TOKEN = "45454545-1212-3434-5656-787878787878"
USER_TOKEN = "predict-route-user-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.system


@dataclass
class Bridge:
    url: str
    store: ModelStore
    hec: HecReceiver

    def post(self, path: str, token: str = TOKEN, **kw: object) -> httpx.Response:
        return httpx.post(
            f"{self.url}{path}",
            headers={"Authorization": f"Bearer {token}", **kw.pop("headers", {})},  # type: ignore[dict-item]
            timeout=30,
            **kw,  # type: ignore[arg-type]
        )


def pump_frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "pressure": rng.normal(size=n),
            "temp": rng.normal(size=n),
            "site": rng.choice(["north", "south"], size=n).astype(object),
        }
    )
    frame["failure"] = np.where(frame["pressure"] + 0.5 * frame["temp"] > 0, "yes", "no")
    return frame


def forest() -> TrainedModel:
    spec = FitSpec(
        "RandomForestClassifier",
        target="failure",
        features=("pressure", "temp", "site"),
        params={"n_estimators": 20},
        probabilities=True,
    )
    return train(pump_frame(), spec)


def line(slope: float) -> TrainedModel:
    frame = pd.DataFrame({"x": [float(i) for i in range(30)]})
    frame["y"] = slope * frame["x"]
    return train(frame, FitSpec("LinearRegression", target="y", features=("x",)))


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bridge]:
    with HecReceiver(token=HEC_TOKEN) as receiver:
        yield from _bridge(tmp_path_factory, receiver)


def _bridge(tmp_path_factory: pytest.TempPathFactory, receiver: HecReceiver) -> Iterator[Bridge]:
    home = tmp_path_factory.mktemp("home")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(
        KEPLER_HOME=str(home),
        KEPLER_PORT=str(port),
        KEPLER_TOKEN=TOKEN,
        KEPLER_USER_TOKEN=USER_TOKEN,
        KEPLER_PREDICT_MAX_ROWS="100",
        # Long: a change the bridge made itself must show at once, not after the TTL.
        KEPLER_PREDICT_RESOLVE_TTL_S="600",
        KEPLER_PREDICT_BATCH_MAX_ROWS="64",
        KEPLER_REQUESTS_PER_MINUTE="0",
        KEPLER_HEC_URL=receiver.url,
        KEPLER_HEC_TOKEN=HEC_TOKEN,
        KEPLER_HEC_INDEX="kepler",
        KEPLER_HEC_METRICS_INDEX="kepler_metrics",
    )
    settings = ServerSettings(home=home)
    store = ModelStore(settings.tracking_uri, settings.artifact_location, settings.experiment)
    store.register(forest(), "pump")
    log = home / "bridge.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kepler", "bridge"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/health").status_code == 200, 60, "bridge")
        yield Bridge(url, store, receiver)
    finally:
        proc.terminate()
        proc.wait(20)


def expected(store: ModelStore, ref: str, rows: list[dict]) -> pd.DataFrame:
    pipeline, meta = store.load_version(store.resolve(ModelRef.parse(ref)))
    return predict_frame(pipeline, meta, pd.DataFrame(rows))


ROWS = [
    {"pressure": 1.5, "temp": 0.2, "site": "north"},
    {"pressure": -1.0, "temp": -0.3, "site": "south"},
]


def test_predict_json_rows(bridge: Bridge) -> None:
    resp = bridge.post("/v1/models/pump/predict", json={"rows": ROWS})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    got = resp.json()
    want = expected(bridge.store, "pump", ROWS)
    assert (got["model"], got["version"], got["rows"]) == ("pump", 1, 2)
    assert got["predictions"] == want["predicted(failure)"].tolist()
    assert got["outputs"]["probability(failure=yes)"] == pytest.approx(
        want["probability(failure=yes)"].tolist()
    )


def test_predict_mlflow_forms_csv_and_arrow(bridge: Bridge) -> None:
    want = expected(bridge.store, "pump@1", ROWS)["predicted(failure)"].tolist()
    frame = pd.DataFrame(ROWS)
    split = json.loads(frame.to_json(orient="split", index=False))
    sink = io.BytesIO()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    bodies = [
        {"json": {"dataframe_split": split}},
        {"json": {"dataframe_records": ROWS}},
        {"content": frame.to_csv(index=False), "headers": {"Content-Type": "text/csv"}},
        {
            "content": sink.getvalue(),
            "headers": {"Content-Type": "application/vnd.apache.arrow.stream"},
        },
    ]
    for body in bodies:
        resp = bridge.post("/v1/models/pump@1/predict", **body)
        assert resp.status_code == 200, resp.text
        assert resp.json()["predictions"] == want


def test_predict_missing_fields_is_422(bridge: Bridge) -> None:
    resp = bridge.post("/v1/models/pump/predict", json={"rows": [{"pressure": 1.0}]})
    assert resp.status_code == 422, resp.text
    err = resp.json()["error"]
    assert err["code"] == "data_error"
    assert err["detail"]["missing_fields"] == ["temp", "site"]
    assert "temp, site" in err["message"] and "null where a value is unknown" in err["message"]


def test_predict_unknown_model_is_404(bridge: Bridge) -> None:
    resp = bridge.post("/v1/models/ghost/predict", json={"rows": ROWS})
    assert resp.status_code == 404
    err = resp.json()["error"]
    assert err["code"] == "model_not_found" and "ghost" in err["message"]


def test_predict_too_many_rows_names_the_limit(bridge: Bridge) -> None:
    resp = bridge.post("/v1/models/pump/predict", json={"rows": ROWS * 51})
    assert resp.status_code == 413
    err = resp.json()["error"]
    assert "KEPLER_PREDICT_MAX_ROWS" in err["message"] and err["detail"]["limit_rows"] == 100


def test_predict_needs_a_token_and_takes_the_user_level(bridge: Bridge) -> None:
    assert (
        httpx.post(f"{bridge.url}/v1/models/pump/predict", json={"rows": ROWS}).status_code == 401
    )
    resp = bridge.post("/v1/models/pump/predict", token=USER_TOKEN, json={"rows": ROWS})
    assert resp.status_code == 200, resp.text


def test_predict_unsupported_content_type_says_what_to_send(bridge: Bridge) -> None:
    resp = bridge.post(
        "/v1/models/pump/predict", content=b"<rows/>", headers={"Content-Type": "text/xml"}
    )
    assert resp.status_code == 400
    assert "dataframe_split" in resp.json()["error"]["message"]


def test_predict_sees_alias_moves_and_deletes_at_once(bridge: Bridge) -> None:
    body = {"rows": [{"x": 2.0}]}
    bridge.store.register(line(2.0), "line")
    bridge.store.register(line(3.0), "line")
    alias = f"{bridge.url}/v1/models/line/aliases/production"
    assert httpx.put(alias, headers=AUTH, json={"version": 1}).status_code == 200
    first = bridge.post("/v1/models/line:production/predict", json=body).json()
    assert (first["version"], first["predictions"]) == (1, [pytest.approx(4.0)])
    assert httpx.put(alias, headers=AUTH, json={"version": 2}).status_code == 200
    moved = bridge.post("/v1/models/line:production/predict", json=body).json()
    assert (moved["version"], moved["predictions"]) == (2, [pytest.approx(6.0)])
    assert bridge.post("/v1/models/line/predict", json=body).json()["version"] == 2
    assert httpx.delete(f"{bridge.url}/v1/models/line", headers=AUTH).status_code == 200
    for ref in ("line", "line:production", "line@2"):
        assert bridge.post(f"/v1/models/{ref}/predict", json=body).status_code == 404


def test_micro_batched_callers_each_get_their_own_rows(bridge: Bridge) -> None:
    rng = np.random.default_rng(7)
    requests = []
    for i in range(96):
        n = 1 + i % 5
        rows = [
            {
                "pressure": float(rng.normal()),
                "temp": float(rng.normal()),
                "site": random.choice(["north", "south"]),
            }
            for _ in range(n)
        ]
        requests.append(rows)
    everything = [r for rows in requests for r in rows]
    want = expected(bridge.store, "pump", everything)
    proba = want["probability(failure=yes)"].tolist()

    def call(rows: list[dict]) -> dict:
        resp = bridge.post("/v1/models/pump/predict", json={"rows": rows})
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(call, requests))
    start = 0
    for rows, got in zip(requests, answers, strict=True):
        end = start + len(rows)
        assert got["rows"] == len(rows)
        assert got["predictions"] == want["predicted(failure)"].tolist()[start:end]
        assert got["outputs"]["probability(failure=yes)"] == pytest.approx(proba[start:end])
        start = end


def test_each_predicted_batch_is_an_online_apply_event(bridge: Bridge) -> None:
    """Online predictions count in the apply telemetry (the Model health dashboard): one
    kepler:apply event per predicted batch, mode=online, its requests and rows; a request
    refused before predicting (422) is not a prediction."""
    bridge.store.register(forest(), "watched")
    rows = pump_frame(5, seed=7)[["pressure", "temp", "site"]].to_dict("records")
    for n in (1, 2, 5):
        resp = bridge.post("/v1/models/watched/predict", json={"rows": rows[:n]})
        assert resp.status_code == 200, resp.text
    missing = bridge.post("/v1/models/watched/predict", json={"rows": [{"pressure": 1.0}]})
    assert missing.status_code == 422

    def online() -> list[dict]:
        with bridge.hec.lock:
            events = list(bridge.hec.events)
        return [
            e["event"]
            for e in events
            if e.get("sourcetype") == "kepler:apply" and e["event"].get("model") == "watched"
        ]

    wait_until(lambda: sum(e.get("requests", 0) for e in online()) >= 3, 30, "online events")
    events = online()
    assert {e["mode"] for e in events} == {"online"}
    assert sum(e["requests"] for e in events) == 3
    assert sum(e["rows"] for e in events) == 8
    assert all(e["errors"] == 0 and e["latency_ms"] > 0 for e in events)
    assert {str(e["version"]) for e in events} == {"1"}


def test_forecaster_requests_are_never_batched_together(bridge: Bridge) -> None:
    # A forecaster runs over the rows of a request as one series (MLTK's apply): two
    # callers' series coalesced into one predict would be one wrong series.
    def series(offset: int, n: int = 30) -> list[dict]:
        rng = np.random.default_rng(offset)
        return [
            {
                "_time": 1_700_000_000.0 + 3600.0 * (offset + i),
                "count": float(50 + 0.3 * i + 5 * np.sin(i / 3) + rng.normal()),
            }
            for i in range(n)
        ]

    frame = pd.DataFrame(series(0, 60))
    # period=1: no season (one would be detected in sin(i/3), 19 rows, more than a
    # 30-row request can run over)
    spec = FitSpec("StateSpaceForecast", features=("count",), params={"period": 1})
    bridge.store.register(train(frame, spec), "ssf")
    requests = [series(100 * k) for k in range(1, 25)]

    def call(rows: list[dict]) -> dict:
        resp = bridge.post("/v1/models/ssf/predict", json={"rows": rows})
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(call, requests))
    for rows, got in zip(requests, answers, strict=True):
        want = expected(bridge.store, "ssf", rows)
        assert got["rows"] == len(rows)
        np.testing.assert_allclose(got["predictions"], want["predicted(count)"], rtol=1e-12)
        upper = got["outputs"]["upper95(predicted(count))"]
        np.testing.assert_allclose(upper, want["upper95(predicted(count))"], rtol=1e-12)
