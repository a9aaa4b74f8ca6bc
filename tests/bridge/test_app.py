"""The bridge in process (real app, real stores; no worker needed): auth, limits, errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kepler.server.settings import ServerSettings
from kepler_bridge.app import create_app

TOKEN = "s3cret-token-value"


@pytest.fixture(scope="module")
def small_settings(tmp_path_factory: pytest.TempPathFactory) -> ServerSettings:
    return ServerSettings(home=tmp_path_factory.mktemp("home"), max_chunk_bytes=4096)


@pytest.fixture(scope="module")
def http(small_settings: ServerSettings) -> Iterator[TestClient]:
    with TestClient(create_app(small_settings, TOKEN), raise_server_exceptions=False) as c:
        yield c


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_health_needs_no_token(http: TestClient) -> None:
    resp = http.get("/health")
    assert resp.status_code == 200 and resp.json()["status"] == "ok"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/v1/models"),
        ("get", "/v1/jobs"),
        ("post", "/v1/datasets"),
        ("get", "/v1/algorithms"),
        ("post", "/v1/models/x/apply"),
        ("delete", "/v1/models/x"),
        ("get", "/v1/jobs/abc"),
        ("put", "/v1/datasets/x/chunks/0"),
        ("post", "/v1/jobs/automl"),
    ],
)
def test_every_route_but_health_needs_token(http: TestClient, method: str, path: str) -> None:
    resp = getattr(http, method)(path)
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == "Bearer"
    wrong = getattr(http, method)(path, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert TOKEN not in wrong.text


def test_openapi_published_lists_routes(http: TestClient) -> None:
    assert http.get("/openapi.json").status_code == 401
    spec = http.get("/openapi.json", headers=AUTH).json()
    paths = set(spec["paths"])
    assert {"/v1/datasets", "/v1/jobs/fit", "/v1/models/{ref}/apply", "/v1/models"} <= paths


def test_oversize_chunk_413_names_limit(http: TestClient) -> None:
    created = http.post("/v1/datasets", json={"format": "csv"}, headers=AUTH).json()
    body = b"a\r\n" + b"1\r\n" * 5000
    resp = http.put(
        f"/v1/datasets/{created['id']}/chunks/0",
        content=body,
        headers={**AUTH, "Content-Type": "text/csv"},
    )
    assert resp.status_code == 413
    err = resp.json()["error"]
    assert err["code"] == "payload_too_large"
    assert "KEPLER_MAX_CHUNK_BYTES" in err["message"]


def test_oversize_apply_413(http: TestClient) -> None:
    resp = http.post(
        "/v1/models/pump/apply",
        content=b"a\r\n" + b"1\r\n" * 5000,
        headers={**AUTH, "Content-Type": "text/csv"},
    )
    assert resp.status_code == 413


def test_unknown_dataset_404(http: TestClient) -> None:
    resp = http.get("/v1/datasets/nope", headers=AUTH)
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "dataset_not_found"


def test_fit_dry_run_checks_spec_only(http: TestClient) -> None:
    ok = http.post(
        "/v1/jobs/fit?dry_run=true",
        headers=AUTH,
        json={"algorithm": "KMeans", "params": {"k": "3"}},
    )
    assert ok.status_code == 202 and ok.json()["spec"]["params"] == {"k": 3}
    bad = http.post(
        "/v1/jobs/fit?dry_run=true", headers=AUTH, json={"algorithm": "KMeans", "params": {"kk": 3}}
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_parameter"
    line = http.post(
        "/v1/jobs/fit?dry_run=true", headers=AUTH, json={"line": "fit SVM y from a b C=2"}
    )
    assert line.json()["spec"]["algorithm"] == "SVM"


def test_automl_dry_run_checks_options_and_candidates(http: TestClient) -> None:
    ok = http.post(
        "/v1/jobs/automl?dry_run=true",
        headers=AUTH,
        json={"target": "y", "into": "m", "time_budget": "2m", "seed": 3},
    )
    assert ok.status_code == 202
    assert ok.json()["spec"]["time_budget"] == 120.0 and ok.json()["spec"]["seed"] == 3
    line = http.post(
        "/v1/jobs/automl?dry_run=true",
        headers=AUTH,
        json={"line": "automl y from * into m use_case=quality_control"},
    )
    assert line.json()["spec"]["metric"] == "recall"
    for body, code, fragment in (
        ({"target": "y", "into": "m", "metric": "rmse", "task": "classification"}, 400, "f1"),
        ({"target": "y", "into": "m", "time_budget": "soon"}, 400, "10m"),
        ({"target": "y"}, 400, "into <model>"),
        ({"target": "y", "into": "m", "algorithms": ["RandomForestClasifier"]}, 400, "did you"),
        (
            {"target": "y", "into": "m", "task": "anomaly", "interpretable": True},
            400,
            "interpretable",
        ),
    ):
        resp = http.post("/v1/jobs/automl?dry_run=true", headers=AUTH, json=body)
        assert resp.status_code == code, (body, resp.text)
        assert fragment in resp.json()["error"]["message"], body


def test_automl_on_a_constant_target_is_422_and_queues_nothing(http: TestClient) -> None:
    created = http.post("/v1/datasets", json={"format": "csv"}, headers=AUTH).json()
    body = b"x,y\r\n" + b"".join(b"%d,same\r\n" % i for i in range(40))
    http.put(
        f"/v1/datasets/{created['id']}/chunks/0",
        content=body,
        headers={**AUTH, "Content-Type": "text/csv"},
    )
    http.post(f"/v1/datasets/{created['id']}/complete", json={"chunks": 1}, headers=AUTH)
    before = len(http.get("/v1/jobs", headers=AUTH).json())
    resp = http.post(
        "/v1/jobs/automl",
        headers=AUTH,
        json={"dataset_id": created["id"], "target": "y", "into": "m", "time_budget": 30},
    )
    assert resp.status_code == 422 and "constant" in resp.json()["error"]["message"]
    assert len(http.get("/v1/jobs", headers=AUTH).json()) == before


def test_invalid_request_body_is_400_with_message(http: TestClient) -> None:
    resp = http.post("/v1/datasets", headers=AUTH, json={"format": "xml"})
    assert resp.status_code == 400
    assert "format" in resp.json()["error"]["message"]


def test_unsupported_content_type(http: TestClient) -> None:
    resp = http.post(
        "/v1/models/pump/apply", content=b"{}", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert resp.status_code == 400
    assert "text/csv" in resp.json()["error"]["message"]


def test_apply_unknown_model_404(http: TestClient) -> None:
    resp = http.post(
        "/v1/models/ghost/apply",
        content=b"a\r\n1\r\n",
        headers={**AUTH, "Content-Type": "text/csv"},
    )
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "model_not_found"


def test_create_app_refuses_empty_token(small_settings: ServerSettings) -> None:
    with pytest.raises(ValueError, match="token"):
        create_app(small_settings, "")


def test_published_openapi_document_is_current() -> None:
    import json
    from pathlib import Path

    from kepler_bridge.openapi import document

    published = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
    assert json.loads(published.read_text()) == json.loads(json.dumps(document())), (
        "docs/openapi.json is stale: run `make openapi`"
    )


def test_apply_loads_each_version_once_csv_and_arrow(
    http: TestClient, small_settings: ServerSettings
) -> None:
    import io

    import pandas as pd
    import pyarrow as pa

    from kepler.core.spec import FitSpec
    from kepler.ml.store import ModelStore
    from kepler.ml.training import train

    frame = pd.DataFrame({"x": [float(i) for i in range(50)], "y": [2.0 * i for i in range(50)]})
    trained = train(frame, FitSpec("LinearRegression", target="y", features=("x",)))
    store = ModelStore(small_settings.tracking_uri, small_settings.artifact_location)
    store.register(trained, "line")
    cache = http.app.state.kepler.cache  # type: ignore[attr-defined]
    before = cache.loads

    for _ in range(3):
        resp = http.post(
            "/v1/models/line/apply",
            content=b"x\r\n10\r\n",
            headers={**AUTH, "Content-Type": "text/csv"},
        )
        assert resp.status_code == 200
        assert pd.read_csv(io.StringIO(resp.text))["predicted(y)"].iloc[0] == pytest.approx(20)

    sink = io.BytesIO()
    table = pa.table({"x": [1.0, 2.0]})
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    resp = http.post(
        "/v1/models/line@1/apply?include_input=false",
        content=sink.getvalue(),
        headers={**AUTH, "Content-Type": "application/vnd.apache.arrow.stream"},
    )
    out = pa.ipc.open_stream(resp.content).read_all()
    assert out.column_names == ["predicted(y)"]
    assert out.column("predicted(y)").to_pylist() == pytest.approx([2.0, 4.0])
    assert cache.loads - before == 1
