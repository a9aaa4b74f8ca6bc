"""The app's kepler/credentials handler against splunkd's REST side (the double in
tests/splunk): the token of the caller's level, never more, and clear refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from kepler.searchcommand.credentials import answer
from tests.splunk.app_setup import app_splunkd, store_secrets
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
    with app_splunkd("https://bridge:8765", ADMIN, USER) as r:
        r.static["/servicesNS/nobody/kepler/configs/conf-kepler_settings/hec"] = {
            "entry": [{"name": "hec", "content": {"url": "https://hec:8088", "index": "scores"}}]
        }
        store_secrets(r, "hec", {"token": HEC})
        hec = answer(request(r, "alice-key"))["payload"]["hec"]
    assert (hec["url"], hec["index"], hec["token"]) == ("https://hec:8088", "scores", HEC)


# solnlib 7.0.0's storage format, written out here rather than imported from solnlib: a
# secret is split into 255-character pieces named <username>``splunk_cred_sep``<n> (n from
# 1), then one more piece holding the end mark.
SEP = "``splunk_cred_sep``"
END_MARK = SEP + SEP.join("SPLUNK") + SEP
PIECE = 255


def test_tokens_longer_than_solnlib_pieces_round_trip() -> None:
    """Past nine pieces too, where the pieces' names no longer sort as their numbers."""
    admin, user = "a" * 3000 + "-end", "u" * (PIECE + 1)
    with app_splunkd("https://bridge:8765", admin, user) as r:
        pieces = [c for c in r.passwords.stored("kepler") if c.username.startswith("bridge")]
        assert len(pieces) > 10
        assert answer(request(r, "bob-key"))["payload"]["bridge"]["token"] == admin
        assert answer(request(r, "alice-key"))["payload"]["bridge"]["token"] == user


def test_secrets_are_stored_as_solnlib_writes_them() -> None:
    """The double keeps what solnlib sent, piece by piece; a second CredentialManager (a
    fresh client, as UCC's page is) reads the same JSON back."""
    from kepler.searchcommand.config import REALM
    from tests.splunk.app_setup import credential_manager

    with app_splunkd("https://bridge:8765", ADMIN, USER) as r:
        text = json.dumps({"token": ADMIN, "user_token": USER})
        store_secrets(r, "hec", {"token": "h" * 600})
        stored = [(c.realm, c.username, c.clear_password) for c in r.passwords.stored("kepler")]
        hec_text = json.dumps({"token": "h" * 600})
        hec_pieces = [hec_text[i : i + PIECE] for i in range(0, len(hec_text), PIECE)]
        assert stored == [
            (REALM, f"bridge{SEP}1", text),
            (REALM, f"bridge{SEP}2", END_MARK),
            *((REALM, f"hec{SEP}{n}", p) for n, p in enumerate(hec_pieces, start=1)),
            (REALM, f"hec{SEP}{len(hec_pieces) + 1}", END_MARK),
            ("other", "x", "not ours"),
        ]
        second = credential_manager(r)
        assert json.loads(second.get_password("bridge")) == {"token": ADMIN, "user_token": USER}
        assert json.loads(second.get_password("hec")) == {"token": "h" * 600}


def test_a_shorter_secret_saved_over_a_longer_one_reads_back_whole() -> None:
    """solnlib overwrites pieces in place and leaves the old tail behind its new end mark."""
    with app_splunkd("https://bridge:8765", "x" * 700, USER) as r:
        store_secrets(r, "bridge", {"token": "short", "user_token": USER})
        assert answer(request(r, "bob-key"))["payload"]["bridge"]["token"] == "short"


def test_older_single_entry_and_hand_written_secrets() -> None:
    """An entry named after the stanza itself (solnlib's older form) is still read; a
    value that is not a JSON object counts as no secret."""
    from kepler.searchcommand.config import REALM

    with app_splunkd("https://bridge:8765", None, None) as r:
        r.add_password(REALM, "bridge", json.dumps({"token": "old", "user_token": "old-u"}))
        assert answer(request(r, "alice-key"))["payload"]["bridge"]["token"] == "old-u"
    with app_splunkd("https://bridge:8765", None, None) as r:
        r.add_password(REALM, "bridge", "not json")
        reply = answer(request(r, "bob-key"))
        assert reply["status"] == 404 and "not set up" in reply["payload"]["error"]["message"]


def test_a_splunkd_refusal_never_shows_the_token(rest: SplunkdRest) -> None:
    """The system session lost its list_storage_passwords: one 502 naming the HTTP status."""
    rest.add_session(rest.system_key, "splunk-system-user", ("admin",), ("admin_all_objects",))
    reply = answer(request(rest, "bob-key"))
    assert reply["status"] == 502
    assert "HTTP 403" in reply["payload"]["error"]["message"]
    assert ADMIN not in json.dumps(reply) and USER not in json.dumps(reply)
