"""The app's ``kepler/credentials`` REST handler: the setup a Splunk user may have.

Why a handler: the bridge tokens live in Splunk's password storage, which only
``list_storage_passwords`` reads, and that capability reads *every* app's secrets. The
handler runs in splunkd with ``passSystemAuth``: it reads the caller's capabilities with
the caller's own session (``authentication/current-context``), then Kepler's setup and
secrets with the system session, and answers with what that caller's level may hold:

* ``kepler_admin_actions`` (role ``kepler_admin``, and ``admin``): the admin token;
* ``kepler_use`` (role ``kepler_user``): the user-level token, which the bridge refuses for
  deletions, aliases and schedules, whatever the request claims;
* neither: 403 naming the role to ask for.

So a ``kepler_user`` runs fit and apply without any power over other apps' secrets, and
cannot widen its level: the level is in the token the handler chose, not in a header.

Standard library and the vendored splunklib's ``binding`` only: it runs in Splunk's
Python (3.9 and 3.13).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlparse

from kepler.core.identity import (
    CAPABILITY_ADMIN,
    CAPABILITY_USE,
    LEVEL_ADMIN,
    LEVEL_USER,
    ROLE_ADMIN,
    clean_roles,
    clean_user,
    role_needed,
)
from kepler.searchcommand.config import APP, CONF, REALM, decode_secrets

SETUP = "Apps > Kepler > Configuration"
# The bridge stanza's fields the command needs (never the '******' stand-ins for secrets).
BRIDGE_FIELDS = (
    "url",
    "verify_tls",
    "ca_bundle",
    "connect_timeout",
    "read_timeout",
    "job_timeout",
    "progress_interval",
)
HEC_FIELDS = ("url", "index", "use_ack", "verify_tls")

# (path, query) -> parsed JSON; raises splunklib.binding.HTTPError (``.status``) on >= 400.
Get = Callable[[str, Mapping[str, Any]], Any]


def answer(request: Mapping[str, Any], connect: Callable[..., Get] | None = None) -> dict:
    """The handler's reply to splunkd's request (a persistent REST request as JSON:
    ``session.user``/``session.authtoken``, ``system_authtoken``, ``server.rest_uri``,
    ``method``): ``{"status": ..., "payload": {...}}``."""
    if str(request.get("method") or "GET").upper() != "GET":
        return _error(405, "method_not_allowed", "kepler/credentials answers GET only")
    session = request.get("session") or {}
    user = clean_user(session.get("user"))
    user_key = str(session.get("authtoken") or "")
    system_key = str(request.get("system_authtoken") or "")
    rest_uri = str((request.get("server") or {}).get("rest_uri") or "https://127.0.0.1:8089")
    if not user_key or not system_key:
        return _error(
            500,
            "internal",
            "splunkd passed no session to kepler/credentials: restmap.conf needs "
            "passSystemAuth = true and requireAuthentication = true",
        )
    connect = connect or splunkd
    try:
        context = connect(rest_uri, user_key)("authentication/current-context", {})
        content = context["entry"][0]["content"]
        capabilities = {str(c) for c in content.get("capabilities") or ()}
        roles = clean_roles(content.get("roles") or ())
        user = clean_user(content.get("username")) or user
    except Exception as exc:
        return _error(502, "splunk_error", f"could not read your Splunk roles ({_why(exc)})")
    if CAPABILITY_ADMIN in capabilities:
        level = LEVEL_ADMIN
    elif CAPABILITY_USE in capabilities:
        level = LEVEL_USER
    else:
        return _error(403, "forbidden", role_needed(user), needs="kepler_user")

    system = connect(rest_uri, system_key)
    try:
        stanza = _stanza(system, "bridge")
        hec = _stanza(system, "hec")
        stored = system("storage/passwords", {"count": 0, "search": APP})
        pieces = {
            e["content"]["username"]: e["content"].get("clear_password", "")
            for e in stored.get("entry", [])
            if e.get("content", {}).get("realm") == REALM
        }
    except Exception as exc:
        return _error(
            502, "splunk_error", f"could not read Kepler's setup from splunkd ({_why(exc)})"
        )
    secrets = decode_secrets(pieces)
    url = str((stanza or {}).get("url") or "")
    if stanza is None or not url or not secrets.get("token"):
        return _error(
            404,
            "not_configured",
            f"Kepler is not set up: a Splunk admin enters the bridge's URL and tokens on {SETUP}",
        )
    token = secrets.get("token") if level == LEVEL_ADMIN else secrets.get("user_token")
    if not token:
        return _error(
            404,
            "not_configured",
            "Kepler's setup has no user-level token yet, so only the "
            f"{ROLE_ADMIN!r} role can run Kepler: a Splunk admin enters the bridge's user "
            f"token (KEPLER_USER_TOKEN, or the user-token file `kepler up` made) on {SETUP}",
        )
    hec_secrets = decode_secrets(pieces, stanza="hec")
    return {
        "status": 200,
        "payload": {
            "user": user,
            "roles": list(roles),
            "level": level,
            "bridge": {
                **{k: str(stanza.get(k) or "") for k in BRIDGE_FIELDS},
                "token": str(token),
            },
            "hec": {
                **{k: str((hec or {}).get(k) or "") for k in HEC_FIELDS},
                "token": str(hec_secrets.get("token") or ""),
            },
        },
    }


def _stanza(get: Get, name: str) -> dict | None:
    from splunklib.binding import HTTPError

    try:
        conf = get(f"configs/conf-{CONF}/{name}", {})
    except HTTPError as exc:
        if exc.status == 404:
            return None
        raise
    entries = conf.get("entry") or []
    return dict(entries[0].get("content") or {}) if entries else None


def splunkd(rest_uri: str, session_key: str) -> Get:
    """A GET on splunkd's REST API in Kepler's namespace with ``session_key``."""
    from splunklib import binding

    uri = urlparse(rest_uri)
    context = binding.Context(
        scheme=uri.scheme or "https",
        host=uri.hostname or "127.0.0.1",
        port=uri.port or 8089,
        token=session_key,
        app=APP,
        owner="nobody",
    )

    def get(path: str, query: Mapping[str, Any]) -> Any:
        response = context.get(path, output_mode="json", **dict(query))
        return json.loads(response.body.read())

    return get


def _why(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    return f"HTTP {status}" if status else type(exc).__name__


def _error(status: int, code: str, message: str, **detail: Any) -> dict:
    error: dict = {"code": code, "message": message, "status": status}
    if detail:
        error["detail"] = detail
    return {"status": status, "payload": {"error": error}}
