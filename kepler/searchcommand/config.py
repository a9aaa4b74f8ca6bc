"""Where the command finds the bridge: the app's setup page inside Splunk, the environment
outside it (tests, a developer's laptop)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlparse

from kepler.core.errors import BadParameter, BridgeUnavailable, Forbidden, KeplerError, Unauthorized
from kepler.core.identity import clean_roles, clean_user, identity_headers, role_needed
from kepler.searchcommand.progress import DEFAULT_INTERVAL, MAX_INTERVAL

APP = "kepler"
CONF = "kepler_settings"
# The realm under which UCC's handler keeps each stanza's encrypted fields (one JSON object
# per stanza) in storage/passwords; kepler.searchcommand.credentials reads them with solnlib.
REALM = f"__REST_CREDENTIAL__#{APP}#configs/conf-{CONF}"


@dataclass(frozen=True)
class Config:
    url: str
    token: str
    verify: bool = True
    ca_bundle: str | None = None
    timeout: float = 60.0
    job_timeout: float = 3600.0
    # How long one execute chunk waits for a running fit before answering with its progress.
    progress_interval: float = DEFAULT_INTERVAL
    # The setup page's HEC tab: passed to the bridge in X-Kepler-Hec-* headers on the
    # requests that write scores (never in a URL, so never in an access log).
    hec_url: str = ""
    hec_token: str = ""
    hec_index: str = ""
    hec_ack: bool = False
    hec_verify: bool = True
    # Who the search runs as, for the bridge's audit trail (X-Kepler-User/-Roles).
    user: str = ""
    roles: tuple[str, ...] = ()

    def identity_headers(self) -> dict[str, str]:
        return identity_headers(self.user, self.roles)

    def __repr__(self) -> str:  # the tokens never show up in a log or a message
        return f"Config(url={self.url!r}, verify={self.verify}, ca_bundle={self.ca_bundle!r})"

    def hec_headers(self) -> dict[str, str]:
        if not (self.hec_url and self.hec_token):
            return {}
        headers = {
            "X-Kepler-Hec-Url": self.hec_url,
            "X-Kepler-Hec-Token": self.hec_token,
            "X-Kepler-Hec-Ack": "true" if self.hec_ack else "false",
            "X-Kepler-Hec-Verify-Tls": "true" if self.hec_verify else "false",
        }
        if self.hec_index:
            headers["X-Kepler-Hec-Index"] = self.hec_index
        return headers


def _truthy(value: Any, default: bool = True) -> bool:
    if value is None or value == "":
        return default
    return str(value).strip().lower() in ("1", "true", "t", "yes", "y", "on")


def _interval(value: Any, where: str) -> float:
    """Seconds between progress answers: a number from 0.1 to 30 (the bridge's longest poll)."""
    if value is None or str(value).strip() == "":
        return DEFAULT_INTERVAL
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0.1 <= seconds <= MAX_INTERVAL:
        raise BadParameter(
            f"{where} is the seconds between progress messages, a number from 0.1 to "
            f"{MAX_INTERVAL:g} (default {DEFAULT_INTERVAL:g}); got {str(value)[:40]!r}"
        )
    return seconds


def from_environ(env: Mapping[str, str]) -> Config | None:
    """``KEPLER_URL``, ``KEPLER_TOKEN``, ``KEPLER_CA_BUNDLE`` (outside Splunk); the HEC tab's
    fields as ``KEPLER_HEC_URL``, ``KEPLER_HEC_TOKEN``, ``KEPLER_HEC_INDEX``, ``KEPLER_HEC_ACK``;
    ``KEPLER_JOB_TIMEOUT`` and ``KEPLER_PROGRESS_INTERVAL`` (seconds)."""
    url = env.get("KEPLER_URL")
    if not url:
        return None
    return Config(
        url=url,
        token=env.get("KEPLER_TOKEN", ""),
        verify=_truthy(env.get("KEPLER_VERIFY_TLS")),
        ca_bundle=env.get("KEPLER_CA_BUNDLE") or None,
        timeout=float(env.get("KEPLER_TIMEOUT") or 60),
        job_timeout=float(env.get("KEPLER_JOB_TIMEOUT") or 3600),
        progress_interval=_interval(
            env.get("KEPLER_PROGRESS_INTERVAL"), "KEPLER_PROGRESS_INTERVAL"
        ),
        hec_url=env.get("KEPLER_HEC_URL", ""),
        hec_token=env.get("KEPLER_HEC_TOKEN", ""),
        hec_index=env.get("KEPLER_HEC_INDEX", ""),
        hec_ack=_truthy(env.get("KEPLER_HEC_ACK"), default=False),
        hec_verify=_truthy(env.get("KEPLER_HEC_VERIFY_TLS")),
    )


def from_settings(
    stanza: Mapping[str, Any],
    secrets: Mapping[str, Any],
    hec: Mapping[str, Any] | None = None,
    hec_secrets: Mapping[str, Any] | None = None,
) -> Config:
    """Build the config from the ``[bridge]`` stanza, the ``[hec]`` stanza (optional) and
    their decrypted fields."""
    hec = hec or {}
    hec_secrets = hec_secrets or {}
    return Config(
        hec_url=str(hec.get("url") or ""),
        hec_token=str(hec_secrets.get("token") or ""),
        hec_index=str(hec.get("index") or ""),
        hec_ack=_truthy(hec.get("use_ack"), default=False),
        hec_verify=_truthy(hec.get("verify_tls")),
        url=str(stanza.get("url") or ""),
        token=str(secrets.get("token") or ""),
        verify=_truthy(stanza.get("verify_tls")),
        ca_bundle=str(stanza.get("ca_bundle") or "") or None,
        # urllib has one timeout per request: the page's read timeout bounds each call.
        timeout=float(stanza.get("read_timeout") or stanza.get("connect_timeout") or 300),
        job_timeout=float(stanza.get("job_timeout") or 3600),
        progress_interval=_interval(
            stanza.get("progress_interval"), "progress_interval in kepler_settings.conf [bridge]"
        ),
    )


CREDENTIALS = "kepler/credentials"


def from_splunkd(searchinfo: Mapping[str, Any]) -> Config:
    """Ask the app's ``kepler/credentials`` REST handler (kepler.searchcommand.credentials)
    with the search's session key: it answers the setup with the token of the Splunk
    user's level, so the user needs no ``list_storage_passwords``."""
    from splunklib import binding

    uri = urlparse(str(searchinfo.get("splunkd_uri") or "https://127.0.0.1:8089"))
    user = clean_user(searchinfo.get("username"))
    try:
        splunkd = binding.Context(
            scheme=uri.scheme or "https",
            host=uri.hostname or "127.0.0.1",
            port=uri.port or 8089,
            token=str(searchinfo.get("session_key") or ""),
            app=APP,
            owner="nobody",
        )
        body = json.loads(splunkd.get(CREDENTIALS, output_mode="json").body.read())
    except binding.HTTPError as exc:
        raise setup_error(exc.status, exc.body, user) from None
    except (ValueError, KeyError) as exc:
        raise BridgeUnavailable(
            f"splunkd's {CREDENTIALS} answer could not be read ({type(exc).__name__}); "
            "check that the Kepler app is installed whole, then restart Splunk"
        ) from None
    except Exception as exc:
        raise BridgeUnavailable(
            f"could not reach splunkd at {uri.scheme}://{uri.hostname}:{uri.port} to read "
            f"Kepler's setup ({type(exc).__name__}); run the search again"
        ) from None
    return from_credentials(body, user=user)


def from_credentials(body: Mapping[str, Any], *, user: str = "") -> Config:
    """The config from the credentials handler's answer (``bridge``, ``hec``, ``user``,
    ``roles``)."""
    bridge = dict(body.get("bridge") or {})
    hec = dict(body.get("hec") or {})
    config = from_settings(
        bridge, {"token": bridge.pop("token", "")}, hec, {"token": hec.pop("token", "")}
    )
    return replace(
        config,
        user=clean_user(body.get("user")) or user,
        roles=clean_roles(body.get("roles") or ()),
    )


def setup_error(status: int, raw: bytes, user: str) -> KeplerError:
    """What to tell the search when splunkd or the credentials handler says no: no role
    (which one to ask for), no setup, a setup this user cannot read, or a lost session."""
    try:
        payload = json.loads(raw or b"{}")
    except ValueError:
        payload = {}
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict) and error.get("message"):
        message = str(error["message"])
        if error.get("code") == "forbidden":
            return Forbidden(message, detail={"needs": "kepler_user"})
        return BridgeUnavailable(message)
    if status == 403:  # splunkd itself: restmap.conf's capability check refused the user
        return Forbidden(role_needed(user), detail={"needs": "kepler_user"})
    if status == 401:
        return Unauthorized(
            "splunkd did not accept this search's session when Kepler read its setup; "
            "log in again and rerun the search"
        )
    if status == 404:
        return BridgeUnavailable(
            f"splunkd has no {CREDENTIALS} endpoint: the Kepler app is missing or was "
            "installed without a restart; install it whole and restart Splunk"
        )
    return BridgeUnavailable(
        f"Kepler's setup could not be read from splunkd (HTTP {status}); splunkd.log has "
        "the details (search for kepler_credentials)"
    )


def load(searchinfo: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Config:
    found = from_environ(os.environ if env is None else env)
    if found is None:
        return from_splunkd(searchinfo)
    user = clean_user(searchinfo.get("username"))
    return replace(found, user=user) if user else found
