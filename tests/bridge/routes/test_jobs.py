"""/v1/jobs routes against the real app: what is refused before anything is queued."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from kepler.server.settings import ServerSettings
from kepler_bridge.app import create_app

TOKEN = "jobs-route-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = ServerSettings(home=tmp_path_factory.mktemp("home"))
    with TestClient(create_app(settings, TOKEN)) as c:
        yield c


@pytest.mark.parametrize("into", ["../evil", "a\x00b", "m" * 300, "", "pump@3"])
def test_fit_parts_refuse_an_invalid_into_as_spl_does(http: TestClient, into: str) -> None:
    body = {"algorithm": "KMeans", "features": ["a"], "into": into}
    resp = http.post("/v1/jobs/fit?dry_run=true", json=body, headers=AUTH)
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert err["code"] == "invalid_spec"
    assert "use letters, digits, _, - and . (at most 128 characters)" in err["message"]
    line = http.post(
        "/v1/jobs/fit?dry_run=true", json={"line": "fit KMeans a into ../evil"}, headers=AUTH
    )
    assert line.status_code == 400 and line.json()["error"]["code"] == "invalid_spec"
