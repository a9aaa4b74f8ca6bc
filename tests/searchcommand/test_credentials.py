"""The app's kepler/credentials handler against splunkd's REST side (the double in
tests/splunk): the token of the caller's level, never more, and clear refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from kepler.searchcommand.credentials import answer
from tests.splunk.app_setup import app_splunkd
from tests.splunk.splunkd_rest import SplunkdRest

ADMIN, USER, HEC = "admin-tok", "user-tok", "hec-tok"


@pytest.fixture
def rest() -> Iterator[SplunkdRest]:
    with app_splunkd("https://bridge:8765", ADMIN, USER) as r:
        yield r


def request(rest: SplunkdRest, key: str, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "method": "GET",
        "session": {"user": key.removesuffix("-key"), "authtoken": key},
        "system_authtoken": rest.system_key,
        "server": {"rest_uri": rest.url},
    }
    base.update(over)
    return base


def test_each_level_gets_its_own_token(rest: SplunkdRest) -> None:
    user = answer(request(rest, "alice-key"))
    assert user["status"] == 200
    payload = user["payload"]
    assert payload["bridge"]["token"] == USER and payload["level"] == "user"
    assert payload["bridge"]["url"] == "https://bridge:8765"
    assert payload["user"] == "alice" and "kepler_user" in payload["roles"]
    assert ADMIN not in json.dumps(user)
    admin = answer(request(rest, "bob-key"))["payload"]
    assert admin["bridge"]["token"] == ADMIN and admin["level"] == "admin"


def test_no_kepler_capability_is_refused_by_the_handler_itself(rest: SplunkdRest) -> None:
    reply = answer(request(rest, "carol-key"))  # even if restmap's check were missing
    assert reply["status"] == 403
    error = reply["payload"]["error"]
    assert error["code"] == "forbidden" and "'kepler_user'" in error["message"]
    assert "carol" in error["message"]
    assert USER not in json.dumps(reply) and ADMIN not in json.dumps(reply)


def test_only_get_and_only_with_sessions(rest: SplunkdRest) -> None:
    assert answer(request(rest, "alice-key", method="POST"))["status"] == 405
    reply = answer(request(rest, "alice-key", system_authtoken=""))
    assert reply["status"] == 500 and "passSystemAuth" in reply["payload"]["error"]["message"]
    lost = answer(request(rest, "gone-key"))
    assert lost["status"] == 502 and "roles" in lost["payload"]["error"]["message"]


def test_unset_setup_and_missing_user_token_say_so() -> None:
    with app_splunkd(None, None, None) as never:
        reply = answer(request(never, "bob-key"))
        assert reply["status"] == 404
        assert "not set up" in reply["payload"]["error"]["message"]
    with app_splunkd("https://bridge:8765", ADMIN, None) as half:
        reply = answer(request(half, "alice-key"))
        assert reply["status"] == 404
        message = reply["payload"]["error"]["message"]
        assert "user-level token" in message and ADMIN not in message
        assert answer(request(half, "bob-key"))["payload"]["bridge"]["token"] == ADMIN


def test_the_hec_tab_comes_with_its_token() -> None:
    from tests.splunk.app_setup import secret_entries

    with app_splunkd("https://bridge:8765", ADMIN, USER) as r:
        r.static["/servicesNS/nobody/kepler/configs/conf-kepler_settings/hec"] = {
            "entry": [{"name": "hec", "content": {"url": "https://hec:8088", "index": "scores"}}]
        }
        passwords = r.static["/servicesNS/nobody/kepler/storage/passwords"]["entry"]
        passwords += secret_entries("hec", {"token": HEC})
        hec = answer(request(r, "alice-key"))["payload"]["hec"]
    assert (hec["url"], hec["index"], hec["token"]) == ("https://hec:8088", "scores", HEC)
