"""splunkd's ``saved/searches`` endpoint, for the splunkd double (tests/splunk/splunkd_rest).

What it answers, as splunkd does (Splunk's REST API reference, "saved/searches"):

* ``POST [/servicesNS/<owner>/<app>]/saved/searches`` with ``name`` and ``search`` (and any
  of the saved search's settings: ``disabled``, ``is_scheduled``, ``cron_schedule``,
  ``alert_type``, ``alert_comparator``, ``alert_threshold``, ``alert.*``,
  ``dispatch.*``, ``description``, ``request.*``): 201 with the new entry. Without
  ``name`` or ``search``: 400; a name already in the namespace: 409 "An object with
  name=<name> already exists". A scheduled search (``is_scheduled=1``) needs the
  ``schedule_search`` capability: 403 otherwise.
* ``GET .../saved/searches``: the namespace's saved searches, sorted by name.
* ``GET|POST|DELETE .../saved/searches/<name>``: the entry; new settings (no ``name``);
  removal (200 with the remaining collection). 404 "Could not find object id=<name>".

Every setting is kept as the text it was sent as (splunkd's conf files hold text). Atom
XML unless ``output_mode=json``; the REST names ``alert_type``, ``alert_comparator`` and
``alert_threshold`` are the conf file's ``counttype``, ``relation`` and ``quantity``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from tests.splunk.atom import Entity, feed, json_feed
from tests.splunk.splunkd_passwords import RestError

PATH = "saved/searches"
NOT_SETTINGS = frozenset({"name", "output_mode", "count", "offset"})
_NS = re.compile(
    r"^/(?:services|servicesNS/(?P<owner>[^/]+)/(?P<app>[^/]+))/saved/searches(?:/(?P<name>.+))?$"
)


@dataclass
class SavedSearch:
    name: str
    app: str
    owner: str
    settings: dict[str, str] = field(default_factory=dict)

    def entity(self, prefix: str) -> Entity:
        path = f"{prefix}/{quote(self.name, safe='')}"
        acl = {
            "app": self.app,
            "owner": self.owner,
            "sharing": "app" if self.owner == "nobody" else "user",
            "can_write": True,
            "modifiable": True,
            "removable": True,
            "perms": {"read": ["*"], "write": ["admin", "power"]},
        }
        links = {"list": path, "edit": path, "remove": path}
        return Entity(self.name, path, dict(self.settings), acl=acl, author=self.owner, links=links)


class SavedSearches:
    """What the double keeps: saved searches by (app, name)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], SavedSearch] = {}
        self.lock = threading.Lock()

    def get(self, app: str, name: str) -> SavedSearch | None:
        with self.lock:
            return self.items.get((app, name))

    def names(self, app: str) -> list[str]:
        with self.lock:
            return sorted(n for a, n in self.items if a == app)


@dataclass(frozen=True)
class Request:
    method: str
    owner: str
    app: str
    name: str | None
    form: Mapping[str, str]

    @property
    def json(self) -> bool:
        return self.form.get("output_mode", "").startswith("json")

    @property
    def prefix(self) -> str:
        return f"/servicesNS/{self.owner}/{self.app}/{PATH}"

    @property
    def scheduled(self) -> bool:
        return self.form.get("is_scheduled", "0").lower() in ("1", "true")


def parse(method: str, path: str, form: Mapping[str, str]) -> Request | None:
    """The request when ``path`` is the endpoint (``/services/`` is app ``search``)."""
    match = _NS.match(path)
    if not match:
        return None
    owner, app = match.group("owner") or "nobody", match.group("app") or "search"
    name = unquote(match.group("name")) if match.group("name") else None
    return Request(method, owner, app, name, dict(form))


def answer(
    store: SavedSearches, request: Request, base: str, version: str
) -> tuple[int, bytes, str]:
    """``(status, body, content type)``; :class:`RestError` for what splunkd refuses."""
    settings = {k: v for k, v in request.form.items() if k not in NOT_SETTINGS}
    if request.name is None:
        if request.method == "GET":
            return _render(store, request, base, version, store.names(request.app))
        if request.method != "POST":
            raise RestError(405, f"Method {request.method} not allowed")
        name = request.form.get("name", "")
        if not name:
            raise RestError(400, "Missing name for creating a saved search")
        if not settings.get("search", "").strip():
            raise RestError(400, f"Cannot create search '{name}' with no search string")
        with store.lock:
            if (request.app, name) in store.items:
                raise RestError(409, f"An object with name={name} already exists")
            store.items[(request.app, name)] = SavedSearch(
                name, request.app, request.owner, settings
            )
        return _render(store, request, base, version, [name], status=201)
    with store.lock:
        found = store.items.get((request.app, request.name))
    if found is None:
        raise RestError(404, f"Could not find object id={request.name}")
    if request.method == "DELETE":
        with store.lock:
            store.items.pop((request.app, request.name), None)
        return _render(store, request, base, version, store.names(request.app))
    if request.method == "POST":
        if "name" in request.form:
            raise RestError(400, 'Argument "name" is not supported by this handler.')
        with store.lock:
            found.settings.update(settings)
    return _render(store, request, base, version, [request.name])


def _render(
    store: SavedSearches,
    request: Request,
    base: str,
    version: str,
    names: list[str],
    status: int = 200,
) -> tuple[int, bytes, str]:
    entities = [s.entity(request.prefix) for n in names if (s := store.get(request.app, n))]
    if request.json:
        body = json_feed(base, request.prefix, entities, version=version)
        return status, json.dumps(body).encode(), "application/json; charset=UTF-8"
    return (
        status,
        feed(base, "savedsearch", request.prefix, entities, version=version),
        ("text/xml; charset=UTF-8"),
    )
