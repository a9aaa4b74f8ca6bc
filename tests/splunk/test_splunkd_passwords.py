"""The splunkd double's storage/passwords against splunklib.client (which reads Atom XML)
and plain HTTP (JSON with output_mode=json): names, escaping, paging, errors, capabilities."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.splunk.splunkd_rest import SplunkdRest

KEY = "admin-key"


@pytest.fixture
def rest() -> Iterator[SplunkdRest]:
    with SplunkdRest() as r:
        caps = ("list_storage_passwords", "edit_storage_passwords")
        r.add_session(KEY, "admin", ("admin",), caps)
        yield r


def service(rest: SplunkdRest, key: str = KEY, app: str = "kepler") -> Any:
    from splunklib import client

    return client.Service(
        scheme="http", host="127.0.0.1", port=rest.port, token=key, owner="nobody", app=app
    )


def call(
    rest: SplunkdRest, method: str, path: str, key: str = KEY, **form: str
) -> tuple[int, str, bytes]:
    """(status, content type, body) of a raw request."""
    data = urlencode(form).encode() if method == "POST" else None
    url = rest.url + path + ("" if data is not None or not form else "?" + urlencode(form))
    req = urllib.request.Request(  # noqa: S310 - loopback double
        url, data=data, method=method, headers={"Authorization": f"Splunk {key}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


def test_splunklib_creates_reads_updates_and_deletes(rest: SplunkdRest) -> None:
    passwords = service(rest).storage_passwords
    created = passwords.create("s3cret", "bridge``sep``1", "__R__#kepler#configs/conf-x")
    assert created.name == "__R__#kepler#configs/conf-x:bridge``sep``1:"
    (listed,) = passwords.list(count=-1)
    assert (listed.realm, listed.username, listed.clear_password) == (
        "__R__#kepler#configs/conf-x",
        "bridge``sep``1",
        "s3cret",
    )
    # splunklib addresses the entity with the realm's '/' unencoded, as in real splunkd.
    listed.update(password="n3w")
    assert listed.refresh().clear_password == "n3w"
    assert [c.clear_password for c in rest.passwords.stored("kepler")] == ["n3w"]
    listed.delete()
    assert passwords.list() == [] and rest.passwords.stored("kepler") == []


def test_names_escape_colons_and_backslashes(rest: SplunkdRest) -> None:
    """As splunk-sdk-python's tests of a real splunkd expect."""
    passwords = service(rest).storage_passwords
    made = passwords.create("pw", "u:end", ":start\\r")
    assert made.name == "\\:start\\\\r:u\\:end:"
    assert (made.realm, made.username) == (":start\\r", "u:end")
    made.delete()
    passwords.create("pw", "user/foo", "/myrealm")
    passwords.delete("user/foo", "/myrealm")  # by realm and username, '/' encoded
    assert passwords.list() == []


def test_creating_twice_is_409_and_a_missing_entity_404(rest: SplunkdRest) -> None:
    from splunklib.binding import HTTPError

    passwords = service(rest).storage_passwords
    passwords.create("pw", "user", "realm")
    with pytest.raises(HTTPError) as twice:
        passwords.create("other", "user", "realm")
    assert twice.value.status == 409 and "already exists" in str(twice.value)
    status, _, body = call(rest, "GET", "/servicesNS/nobody/kepler/storage/passwords/nope%3A")
    assert status == 404 and b"Could not find object id=nope:" in body


def test_json_with_output_mode_atom_xml_otherwise(rest: SplunkdRest) -> None:
    rest.add_password("realm", "user", "pw")
    path = "/servicesNS/nobody/kepler/storage/passwords"
    status, ctype, body = call(rest, "GET", path, output_mode="json")
    assert status == 200 and ctype.startswith("application/json")
    answer = json.loads(body)
    (entry,) = answer["entry"]
    assert entry["name"] == "realm:user:"
    assert entry["links"]["alternate"] == f"{path}/realm%3Auser%3A"
    assert entry["acl"]["app"] == "kepler" and entry["acl"]["sharing"] == "app"
    content = entry["content"]
    assert (content["realm"], content["username"], content["clear_password"]) == (
        "realm",
        "user",
        "pw",
    )
    assert content["password"] == "********"
    assert answer["paging"] == {"total": 1, "perPage": 30, "offset": 0}
    status, ctype, body = call(rest, "GET", path)
    assert status == 200 and ctype.startswith("text/xml")
    from splunklib import data  # splunklib's own Atom reader

    atom = data.load(body.decode())
    assert atom.feed.totalResults == "1" and atom.feed.entry.title == "realm:user:"
    assert atom.feed.entry.content["clear_password"] == "pw"


def test_search_count_and_offset(rest: SplunkdRest) -> None:
    for n in range(5):
        rest.add_password("ours#x", f"u{n}", f"pw{n}")
    rest.add_password("theirs", "u9", "pw9")
    rest.add_password("ours#x", "elsewhere", "pw", app="search")
    passwords = service(rest).storage_passwords
    ours = passwords.list(count=-1, search="realm=ours#x")
    assert [p.username for p in ours] == [f"u{n}" for n in range(5)]
    assert [p.username for p in passwords.list(count=2, offset=1)] == ["u1", "u2"]
    assert [p.username for p in passwords.list(search="OURS")] == [f"u{n}" for n in range(5)]
    # Another app's credentials are not in this app's namespace, but all are in /services.
    assert [p.username for p in service(rest, app="search").storage_passwords.list()] == [
        "elsewhere"
    ]
    _, _, body = call(rest, "GET", "/services/storage/passwords", output_mode="json", count="0")
    assert len(json.loads(body)["entry"]) == 7


def test_reading_needs_list_and_writing_edit_storage_passwords(rest: SplunkdRest) -> None:
    rest.add_session("reader", "rita", ("user",), ("list_storage_passwords",))
    rest.add_session("nobody-key", "nora", ("user",), ("search",))
    path = "/servicesNS/nobody/kepler/storage/passwords"
    status, _, body = call(rest, "GET", path, "nobody-key", output_mode="json")
    assert status == 403
    (message,) = json.loads(body)["messages"]
    assert "requires capability: list_storage_passwords" in message["text"]
    assert call(rest, "GET", path, "reader")[0] == 200
    status, _, body = call(rest, "POST", path, "reader", name="u", password="p")
    assert status == 403 and b"edit_storage_passwords" in body
    assert rest.passwords.stored("kepler") == []
