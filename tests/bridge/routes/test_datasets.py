"""/v1/datasets routes against the real app and a real dataset store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kepler.server.settings import ServerSettings
from kepler_bridge.app import create_app

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
