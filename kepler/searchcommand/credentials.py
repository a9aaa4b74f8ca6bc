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

The secrets are read as UCC's own handler reads them, with the vendored solnlib's
``CredentialManager`` (the app's lib/ ships solnlib 7.0.0 for the Configuration page), which
joins the pieces it stored them in. Standard library, the vendored splunklib's ``binding``
and solnlib only: it runs in Splunk's Python (3.9 and 3.13).
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
from kepler.searchcommand.config import APP, CONF, REALM

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


class _Refused(Exception):
    """A reply other than 200, raised by the steps of :func:`answer`."""

    def __init__(self, status: int, code: str, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.reply = _error(status, code, message, **detail)


def answer(request: Mapping[str, Any], connect: Callable[..., Get] | None = None) -> dict:
    """The handler's reply to splunkd's request (a persistent REST request as JSON:
    ``session.user``/``session.authtoken``, ``system_authtoken``, ``server.rest_uri``,
    ``method``): ``{"status": ..., "payload": {...}}``."""
    connect = connect or splunkd
    try:
        rest_uri, user_key, system_key = _sessions(request)
        fallback = clean_user((request.get("session") or {}).get("user"))
        user, roles, level = _caller(connect, rest_uri, user_key, fallback)
        stanza, hec, secrets = _setup(connect(rest_uri, system_key), rest_uri, system_key)
        token = _token(stanza, secrets.get("bridge") or {}, level)
    except _Refused as refused:
        return refused.reply
    hec_secrets = secrets.get("hec") or {}
    return {
        "status": 200,
        "payload": {
            "user": user,
            "roles": list(roles),
            "level": level,
            "bridge": {**{k: str(stanza.get(k) or "") for k in BRIDGE_FIELDS}, "token": token},
            "hec": {
                **{k: str(hec.get(k) or "") for k in HEC_FIELDS},
                "token": str(hec_secrets.get("token") or ""),
            },
        },
    }


def _sessions(request: Mapping[str, Any]) -> tuple[str, str, str]:
    """splunkd's URI, the caller's session key and the system's, from a GET request."""
    if str(request.get("method") or "GET").upper() != "GET":
        raise _Refused(405, "method_not_allowed", "kepler/credentials answers GET only")
    user_key = str((request.get("session") or {}).get("authtoken") or "")
    system_key = str(request.get("system_authtoken") or "")
    rest_uri = str((request.get("server") or {}).get("rest_uri") or "https://127.0.0.1:8089")
    if not user_key or not system_key:
        raise _Refused(
            500,
            "internal",
            "splunkd passed no session to kepler/credentials: restmap.conf needs "
            "passSystemAuth = true and requireAuthentication = true",
        )
    return rest_uri, user_key, system_key


def _caller(
    connect: Callable[..., Get], rest_uri: str, user_key: str, fallback_user: str
) -> tuple[str, tuple[str, ...], str]:
    """The caller's name, roles and Kepler level, read with the caller's own session."""
    try:
        context = connect(rest_uri, user_key)("authentication/current-context", {})
        content = context["entry"][0]["content"]
        capabilities = {str(c) for c in content.get("capabilities") or ()}
        roles = tuple(clean_roles(content.get("roles") or ()))
        user = clean_user(content.get("username")) or fallback_user
    except Exception as exc:
        raise _Refused(
            502, "splunk_error", f"could not read your Splunk roles ({_why(exc)})"
        ) from None
    if CAPABILITY_ADMIN in capabilities:
        return user, roles, LEVEL_ADMIN
    if CAPABILITY_USE in capabilities:
        return user, roles, LEVEL_USER
    raise _Refused(403, "forbidden", role_needed(user), needs="kepler_user")


def _setup(system: Get, rest_uri: str, system_key: str) -> tuple[dict, dict, dict[str, dict]]:
    """Kepler's bridge and HEC stanzas (empty when absent) and each stanza's secrets, read
    with the system session."""
    try:
        stanza = _stanza(system, "bridge")
        hec = _stanza(system, "hec")
        secrets = stored_secrets(rest_uri, system_key)
    except Exception as exc:
        raise _Refused(
            502, "splunk_error", f"could not read Kepler's setup from splunkd ({_why(exc)})"
        ) from None
    if stanza is None or not str(stanza.get("url") or ""):
        raise _not_set_up()
    return stanza, hec or {}, secrets


def stored_secrets(rest_uri: str, session_key: str) -> dict[str, dict[str, Any]]:
    """Each setup stanza's encrypted fields (``{"bridge": {"token": ..., "user_token": ...},
    "hec": {"token": ...}}``), as UCC's handler stored them in storage/passwords: one JSON
    object per stanza under Kepler's realm, read back by the same solnlib that wrote it."""
    from solnlib.credentials import CredentialManager

    uri = urlparse(rest_uri)
    manager = CredentialManager(
        session_key,
        APP,
        owner="nobody",
        realm=REALM,
        scheme=uri.scheme or "https",
        host=uri.hostname or "127.0.0.1",
        port=uri.port or 8089,
    )
    return {
        str(entry["username"]): _fields(entry.get("clear_password"))
        for entry in manager.get_clear_passwords_in_realm()
        if entry.get("realm") == REALM
    }


def _fields(text: Any) -> dict[str, Any]:
    """A stanza's secret JSON; {} for anything else (a value written by hand)."""
    try:
        value = json.loads(text or "")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _token(stanza: dict, secrets: Mapping[str, Any], level: str) -> str:
    """The bridge token of ``level``: the admin token, or the user-level one."""
    if not secrets.get("token"):
        raise _not_set_up()
    token = secrets.get("token") if level == LEVEL_ADMIN else secrets.get("user_token")
    if not token:
        raise _Refused(
            404,
            "not_configured",
            "Kepler's setup has no user-level token yet, so only the "
            f"{ROLE_ADMIN!r} role can run Kepler: a Splunk admin enters the bridge's user "
            f"token (KEPLER_USER_TOKEN, or the user-token file `kepler up` made) on {SETUP}",
        )
    return str(token)


def _not_set_up() -> _Refused:
    return _Refused(
        404,
        "not_configured",
        f"Kepler is not set up: a Splunk admin enters the bridge's URL and tokens on {SETUP}",
    )


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
