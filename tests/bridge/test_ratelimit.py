"""Request budgets per token: the predict route counts against its own, larger budget."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from kepler.core.errors import TooManyRequests
from kepler.server.settings import ServerSettings
from kepler_bridge.app import create_app
from kepler_bridge.ratelimit import TokenRateLimit

ADMIN = "admin-token-value-0123456789"
USER = "user-token-value-0123456789"
BODY = {"rows": [{"x": 1.0}]}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_predicts_spend_their_own_budget_not_the_general_one(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = ServerSettings(
        home=tmp_path_factory.mktemp("rate"), requests_per_minute=2, predict_requests_per_minute=4
    )
    with TestClient(create_app(settings, ADMIN, user_token=USER)) as c:
        # No such model: 404, still counted (the budget is checked with the token).
        for _ in range(4):
            assert (
                c.post("/v1/models/nope/predict", json=BODY, headers=auth(USER)).status_code == 404
            )
        over = c.post("/v1/models/nope/predict", json=BODY, headers=auth(USER))
        assert over.status_code == 429
        error = over.json()["error"]
        assert error["code"] == "too_many_requests"
        assert "KEPLER_PREDICT_REQUESTS_PER_MINUTE" in error["message"]
        assert "more rows per request" in error["message"]
        assert 1 <= int(over.headers["Retry-After"]) <= 60
        # The general budget was not spent by the predicts, and is spent apart.
        assert all(c.get("/v1/models", headers=auth(USER)).status_code == 200 for _ in range(2))
        assert c.get("/v1/models", headers=auth(USER)).status_code == 429
        # The admin token's predict budget is its own.
        assert c.post("/v1/models/nope/predict", json=BODY, headers=auth(ADMIN)).status_code == 404


def test_no_predict_budget_when_zero(tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = ServerSettings(home=tmp_path_factory.mktemp("free"), predict_requests_per_minute=0)
    with TestClient(create_app(settings, ADMIN)) as c:
        for _ in range(10):
            assert (
                c.post("/v1/models/nope/predict", json=BODY, headers=auth(ADMIN)).status_code == 404
            )


def test_default_predict_budget_holds_an_online_load_the_general_one_refuses() -> None:
    fields = ServerSettings.model_fields
    per_minute = fields["requests_per_minute"].default
    predicts = fields["predict_requests_per_minute"].default
    # Past 100 predicts a second for a minute: over the general budget, within the predict one.
    load = per_minute + 1
    assert load <= predicts
    general = TokenRateLimit(per_minute)
    with pytest.raises(TooManyRequests, match="KEPLER_REQUESTS_PER_MINUTE"):
        for _ in range(load):
            general.hit("user")
    predict = TokenRateLimit.for_predict(predicts)
    for _ in range(load):
        predict.hit("user")
    # ...and still bounded.
    with pytest.raises(TooManyRequests, match="KEPLER_PREDICT_REQUESTS_PER_MINUTE"):
        for _ in range(predicts):
            predict.hit("user")
