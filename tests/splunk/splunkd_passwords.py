"""splunkd's ``storage/passwords`` endpoint, for the splunkd double (tests/splunk/splunkd_rest).

What it answers, as splunkd does (Splunk's REST API reference, and what
``splunklib.client.StoragePasswords``/``StoragePassword`` and solnlib's
``CredentialManager`` send and parse; splunk-sdk-python's ``tests/test_storage_passwords.py``
for the names):

* A credential is named ``<realm>:<username>:``, with ``\\`` doubled and ``:`` written
  ``\\:`` inside realm and username; an entity's path is that name URL-encoded after
  ``storage/passwords/``. splunklib sends it back with ``/`` unencoded (it unquotes the
  ``alternate`` link, then quotes all but ``/``), and splunkd takes the whole rest of the
  path as the name, so a realm such as UCC's ``__REST_CREDENTIAL__#<app>#configs/conf-x``
  works. A name without its trailing ``:`` finds the entity too.
* ``GET .../storage/passwords``: the credentials visible in the namespace (the app's own,
  and those shared ``global`` or ``system``; ``/services/`` and ``-`` see all), sorted by
  name, paged by ``offset`` and ``count`` (default 30; 0 or less: all), filtered by
  ``search`` (``<field>=<text>``: that field contains the text, case-insensitive; a bare
  text: any of name, realm or username contains it). Each entry's content holds
  ``realm``, ``username``, ``clear_password``, ``password`` (``********``), an empty
  ``encr_password`` (Splunk 9.x no longer hands it out) and ``eai:acl``.
* ``POST .../storage/passwords`` with ``name`` (the username), ``password`` and optional
  ``realm``: 201 with the new entry; 409 "An object with name=... already exists" when
  that realm and username exist (solnlib then updates the entity).
* ``GET|POST|DELETE .../storage/passwords/<name>``: the entry; a new ``password``;
  removal (200 with the remaining collection). 404 "Could not find object id=<name>".

Atom XML unless ``output_mode=json``. The caller's capabilities are checked by the double
(``list_storage_passwords`` to read, ``edit_storage_passwords`` to write).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from tests.splunk.atom import Entity, feed, json_feed

PATH = "storage/passwords"
ALL = "-"


class RestError(Exception):
    """An answer other than success: HTTP ``status`` and splunkd's message ``text``."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _escape(part: str) -> str:
    return part.replace("\\", "\\\\").replace(":", "\\:")


@dataclass
class Credential:
    realm: str
    username: str
    clear_password: str
    app: str
    owner: str = "nobody"
    sharing: str = "app"

    @property
    def name(self) -> str:
        """splunkd's name for it: ``<realm>:<username>:``, ``:`` and ``\\`` escaped."""
        return f"{_escape(self.realm)}:{_escape(self.username)}:"

    def entity(self, prefix: str) -> Entity:
        path = f"{prefix}/{quote(self.name, safe='')}"
        acl = {
            "app": self.app,
            "can_change_perms": True,
            "can_list": True,
            "can_share_app": True,
            "can_share_global": True,
            "can_share_user": True,
            "can_write": True,
            "modifiable": True,
            "owner": self.owner,
            "perms": {"read": ["*"], "write": ["admin"]},
            "removable": True,
            "sharing": self.sharing,
        }
        content = {
            "clear_password": self.clear_password,
            "encr_password": "",
            "password": "********",
            "realm": self.realm,
            "username": self.username,
        }
        links = {"list": path, "edit": path, "remove": path}
        return Entity(self.name, path, content, acl=acl, author=self.owner, links=links)


class Passwords:
    """The credentials splunkd keeps, by app; thread-safe (the double serves threads)."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], Credential] = {}
        self._lock = threading.Lock()

    def add(
        self, realm: str, username: str, clear_password: str, *, app: str, owner: str = "nobody"
    ) -> Credential:
        """A new credential; :class:`RestError` 409 when ``realm:username`` exists."""
        sharing = "system" if app == "system" else ("app" if owner == "nobody" else "user")
        credential = Credential(realm, username, clear_password, app, owner, sharing)
        with self._lock:
            if (app, credential.name) in self._items:
                raise RestError(409, f"An object with name={credential.name} already exists")
            self._items[(app, credential.name)] = credential
        return credential

    def visible(self, app: str | None) -> list[Credential]:
        """What a request in ``app``'s namespace sees (``None`` or ``-``: every app)."""
        with self._lock:
            items = list(self._items.values())
        if app not in (None, ALL):
            items = [c for c in items if c.app == app or c.sharing in ("global", "system")]
        return sorted(items, key=lambda c: c.name)

    def find(self, app: str | None, name: str) -> Credential:
        for credential in self.visible(app):
            if name in (credential.name, credential.name[:-1]):
                return credential
        raise RestError(404, f"Could not find object id={name}")

    def update(self, credential: Credential, clear_password: str) -> None:
        with self._lock:
            credential.clear_password = clear_password

    def remove(self, credential: Credential) -> None:
        with self._lock:
            self._items.pop((credential.app, credential.name), None)

    def stored(self, app: str) -> list[Credential]:
        """Everything kept for ``app``, in name order (what a test inspects)."""
        return [c for c in self.visible(app) if c.app == app]


def _matches(credential: Credential, search: str) -> bool:
    fields = {
        "name": credential.name,
        "realm": credential.realm,
        "username": credential.username,
    }
    key, eq, text = search.partition("=")
    if eq and key in fields:
        return text.lower() in fields[key].lower()
    return any(search.lower() in value.lower() for value in fields.values())


def _int(form: Mapping[str, str], key: str, default: int) -> int:
    try:
        return int(form.get(key) or default)
    except ValueError:
        raise RestError(400, f"Argument {key!r} must be an integer; got {form[key]!r}") from None


@dataclass
class Request:
    """A request on storage/passwords as the double routed it."""

    method: str
    prefix: str  # '/services' or '/servicesNS/<owner>/<app>', then '/storage/passwords'
    owner: str | None
    app: str | None
    name: str  # '' for the collection, else the entity's (URL-decoded) name
    form: Mapping[str, str]


def answer(store: Passwords, request: Request, base: str, version: str) -> tuple[int, bytes, str]:
    """(status, body, content type) of a storage/passwords request; :class:`RestError`
    for a refusal."""
    json_mode = request.form.get("output_mode", "").startswith("json")
    if not request.name:
        if request.method == "GET":
            return _list(store, request, base, version, json_mode)
        if request.method == "POST":
            return _create(store, request, base, version, json_mode)
        raise RestError(405, f"Method {request.method} is not supported on {PATH}")
    credential = store.find(request.app, request.name)
    if request.method == "POST":
        password = request.form.get("password")
        if password is None:
            raise RestError(400, "Missing argument: password")
        store.update(credential, password)
    elif request.method == "DELETE":
        store.remove(credential)
        return _list(store, request, base, version, json_mode, name_filter=False)
    elif request.method != "GET":
        raise RestError(405, f"Method {request.method} is not supported on {PATH}")
    return _render(request, [credential], base, version, json_mode, 200)


def _create(
    store: Passwords, request: Request, base: str, version: str, json_mode: bool
) -> tuple[int, bytes, str]:
    form = request.form
    for needed in ("name", "password"):
        if not form.get(needed):
            raise RestError(400, f"Missing argument: {needed}")
    app = request.app if request.app not in (None, ALL) else "system"
    owner = request.owner if request.owner not in (None, ALL) else "nobody"
    credential = store.add(
        form.get("realm", ""), form["name"], form["password"], app=str(app), owner=str(owner)
    )
    return _render(request, [credential], base, version, json_mode, 201)


def _list(
    store: Passwords,
    request: Request,
    base: str,
    version: str,
    json_mode: bool,
    name_filter: bool = True,
) -> tuple[int, bytes, str]:
    items = store.visible(request.app)
    search = request.form.get("search", "") if name_filter else ""
    if search:
        items = [c for c in items if _matches(c, search)]
    offset = max(_int(request.form, "offset", 0), 0)
    count = _int(request.form, "count", 30)
    total = len(items)
    page = items[offset:] if count <= 0 else items[offset : offset + count]
    return _render(
        request, page, base, version, json_mode, 200, total=total, count=count, offset=offset
    )


def _render(
    request: Request,
    items: list[Credential],
    base: str,
    version: str,
    json_mode: bool,
    status: int,
    *,
    total: int | None = None,
    count: int = 30,
    offset: int = 0,
) -> tuple[int, bytes, str]:
    prefix = request.prefix
    entities = [c.entity(prefix) for c in items]
    links = {"create": f"{prefix}/_new", "_reload": f"{prefix}/_reload", "_acl": f"{prefix}/_acl"}
    paging: dict[str, Any] = {"total": total, "per_page": count, "offset": offset, "links": links}
    if json_mode:
        body = json_feed(base, prefix, entities, version=version, **paging)
        return status, json.dumps(body).encode(), "application/json; charset=UTF-8"
    return (
        status,
        feed(base, "passwords", prefix, entities, version=version, **paging),
        ("text/xml; charset=UTF-8"),
    )


_PATH = re.compile(
    r"^(?P<prefix>/(?:services|servicesNS/(?P<owner>[^/]+)/(?P<app>[^/]+))/storage/passwords)"
    r"(?:/(?P<name>.*))?$"
)


def parse(method: str, raw_path: str, form: Mapping[str, str]) -> Request | None:
    """The storage/passwords request in ``raw_path`` (still URL-encoded), or None."""
    match = _PATH.match(raw_path)
    if not match:
        return None
    owner, app = match.group("owner"), match.group("app")
    return Request(
        method,
        match.group("prefix"),
        unquote(owner) if owner else None,
        unquote(app) if app else None,
        unquote(match.group("name") or ""),
        form,
    )
