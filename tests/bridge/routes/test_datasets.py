"""/v1/datasets routes against the real app and a real dataset store."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from kepler.server.settings import ServerSettings
from kepler_bridge.app import create_app
from kepler_bridge.wire import ARROW

TOKEN = "datasets-route-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = ServerSettings(home=tmp_path_factory.mktemp("home"))
    with TestClient(create_app(settings, TOKEN)) as c:
        yield c


def test_complete_without_chunks_is_refused_and_seals_nothing(http: TestClient) -> None:
    dataset = http.post("/v1/datasets", json={"format": "csv"}, headers=AUTH).json()["id"]
    put = http.put(
        f"/v1/datasets/{dataset}/chunks/0",
        content=b"x\r\n1\r\n",
        headers={**AUTH, "Content-Type": "text/csv"},
    )
    assert put.status_code == 200
    # chunk 1 is still on its way when a client completes without saying how many it sent

    resp = http.post(f"/v1/datasets/{dataset}/complete", json={}, headers=AUTH)
    assert resp.status_code == 400, resp.text
    assert '{"chunks": <n>}' in resp.json()["error"]["message"]

    late = http.put(
        f"/v1/datasets/{dataset}/chunks/1",
        content=b"x\r\n2\r\n",
        headers={**AUTH, "Content-Type": "text/csv"},
    )
    assert late.status_code == 200, late.text  # not sealed: the late chunk still lands
    done = http.post(f"/v1/datasets/{dataset}/complete", json={"chunks": 2}, headers=AUTH)
    assert done.status_code == 200 and done.json()["rows"] == 2


def _arrow(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _upload(http: TestClient, pieces: list[pa.Table], **body: object) -> str:
    created = http.post("/v1/datasets", json={"format": "arrow", **body}, headers=AUTH)
    assert created.status_code == 201, created.text
    dataset = str(created.json()["id"])
    for seq, piece in enumerate(pieces):
        put = http.put(
            f"/v1/datasets/{dataset}/chunks/{seq}",
            content=_arrow(piece),
            headers={**AUTH, "Content-Type": ARROW},
        )
        assert put.status_code == 200, put.text
    return dataset


def test_read_rows_as_arrow_equals_upload(http: TestClient) -> None:
    pieces = [
        pa.table({"a": [1, 2], "b": ["x", "y"], "c": [0.5, None], "d": [True, False]}),
        pa.table({"a": [3], "b": ["z"], "c": [2.5], "d": [None]}, schema=pieces_schema()),
    ]
    dataset = _upload(http, pieces, name="rows-back")
    done = http.post(f"/v1/datasets/{dataset}/complete", json={"chunks": 2}, headers=AUTH)
    assert done.status_code == 200, done.text

    for path, headers in [
        ("/v1/datasets/rows-back/rows", AUTH),
        (f"/v1/datasets/{dataset}", {**AUTH, "Accept": ARROW}),
    ]:
        resp = http.get(path, headers=headers)
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == ARROW
        back = pa.ipc.open_stream(resp.content).read_all()
        assert back.equals(pa.concat_tables(pieces).cast(back.schema))
        assert back.schema.types == [pa.int64(), pa.string(), pa.float64(), pa.bool_()]

    view = http.get("/v1/datasets/rows-back", headers=AUTH).json()
    assert view["id"] == dataset and view["rows"] == 3 and view["name"] == "rows-back"
    listed = {r["id"]: r for r in http.get("/v1/datasets", headers=AUTH).json()}
    assert listed[dataset]["complete"] and listed[dataset]["versions"] == []


def pieces_schema() -> pa.Schema:
    types = [pa.int64(), pa.string(), pa.float64(), pa.bool_()]
    return pa.schema(list(zip("abcd", types, strict=True)))


def test_create_named_dataset_clash_is_409(http: TestClient) -> None:
    _upload(http, [], name="twice")
    again = http.post("/v1/datasets", json={"format": "arrow", "name": "twice"}, headers=AUTH)
    assert again.status_code == 409, again.text
    assert "already named 'twice'" in again.json()["error"]["message"]


def test_read_rows_of_incomplete_dataset_is_refused(http: TestClient) -> None:
    dataset = _upload(http, [pa.table({"a": [1]})])
    resp = http.get(f"/v1/datasets/{dataset}/rows", headers=AUTH)
    assert resp.status_code == 409, resp.text
    assert "never completed" in resp.json()["error"]["message"]


def test_delete_unnamed_dataset_then_it_is_gone(http: TestClient) -> None:
    dataset = _upload(http, [pa.table({"a": [1]})])
    resp = http.delete(f"/v1/datasets/{dataset}", headers=AUTH)
    assert resp.status_code == 200 and resp.json()["deleted"] == dataset
    assert http.get(f"/v1/datasets/{dataset}", headers=AUTH).status_code == 404
    deleted = http.get("/v1/audit/deletions", headers=AUTH).json()
    assert any(d["detail"].get("dataset_id") == dataset for d in deleted)  # by an admin
