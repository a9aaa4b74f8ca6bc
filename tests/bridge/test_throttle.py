"""Failed token checks are throttled per client: 429 with Retry-After, in the real app."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from kepler.server.settings import ServerSettings
from kepler_bridge.app import create_app

TOKEN = "throttle-test-token"


def test_repeated_wrong_tokens_get_429_with_retry_after(tmp_path: Path) -> None:
    settings = ServerSettings(home=tmp_path / "home", auth_failures_per_minute=5)
    with TestClient(create_app(settings, TOKEN)) as http:
        for i in range(5):
            wrong = http.get("/v1/models", headers={"Authorization": f"Bearer guess-{i}"})
            assert wrong.status_code == 401

        for headers in ({"Authorization": "Bearer guess-5"}, {}):
            throttled = http.get("/v1/models", headers=headers)
            assert throttled.status_code == 429, throttled.text
            retry = int(throttled.headers["retry-after"])
            assert 1 <= retry <= 60
            error = throttled.json()["error"]
            assert error["code"] == "too_many_requests"
            assert "KEPLER_AUTH_FAILURES_PER_MINUTE" in error["message"]
            assert error["detail"]["retry_after_s"] == retry
        assert http.get("/health").status_code == 200  # probes are never throttled


def test_right_token_is_never_counted(tmp_path: Path) -> None:
    settings = ServerSettings(home=tmp_path / "home", auth_failures_per_minute=2)
    with TestClient(create_app(settings, TOKEN)) as http:
        for _ in range(10):
            ok = http.get("/v1/models", headers={"Authorization": f"Bearer {TOKEN}"})
            assert ok.status_code == 200
