"""Where the command finds the bridge: the app's setup page inside Splunk, the environment
outside it (tests, a developer's laptop)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from kepler.core.errors import BadParameter, BridgeUnavailable
from kepler.searchcommand.progress import DEFAULT_INTERVAL, MAX_INTERVAL

APP = "kepler"
CONF = "kepler_settings"
# UCC keeps a stanza's encrypted fields as one JSON object in storage/passwords, split into
# pieces of at most 255 characters under `<stanza>``splunk_cred_sep``<n>` (n from 1), the
# last piece being solnlib's end mark (splunk_app/README.md has the sources).
REALM = f"__REST_CREDENTIAL__#{APP}#configs/conf-{CONF}"
SEP = "``splunk_cred_sep``"
END_MARK = SEP + SEP.join("SPLUNK") + SEP


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


def decode_secrets(pieces: Mapping[str, str], stanza: str = "bridge") -> dict[str, Any]:
    """Join UCC's ``<stanza>``splunk_cred_sep``<n>`` password pieces up to the end mark and
    parse the JSON (a single entry named ``<stanza>`` is the older one-piece form)."""
    prefix = stanza + SEP
    ordered = sorted(
        (int(k[len(prefix) :]), v)
        for k, v in pieces.items()
        if k.startswith(prefix) and k[len(prefix) :].isdigit()
    )
    text = ""
    for _, piece in ordered:
        if piece == END_MARK:
            break
        text += piece
    if not text:
        text = pieces.get(stanza, "")
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def from_splunkd(searchinfo: Mapping[str, Any]) -> Config:
    """Read the setup page's values through splunkd with the search's session key:
    ``configs/conf-kepler_settings/bridge`` and the app's ``storage/passwords``."""
    from splunklib import binding

    uri = urlparse(str(searchinfo.get("splunkd_uri") or "https://127.0.0.1:8089"))
    try:
        splunkd = binding.Context(
            scheme=uri.scheme or "https",
            host=uri.hostname or "127.0.0.1",
            port=uri.port or 8089,
            token=str(searchinfo.get("session_key") or ""),
            app=APP,
            owner="nobody",
        )
        conf = _json(splunkd.get(f"configs/conf-{CONF}/bridge", output_mode="json"))
        stanza = conf["entry"][0]["content"]
        stored = _json(splunkd.get("storage/passwords", output_mode="json", count=0))
        pieces = {
            e["content"]["username"]: e["content"].get("clear_password", "")
            for e in stored.get("entry", [])
            if e.get("content", {}).get("realm") == REALM
        }
    except Exception as exc:
        raise BridgeUnavailable(
            "Kepler is not set up: open Apps > Kepler > Configuration and enter the bridge's "
            f"URL and token ({type(exc).__name__} reading the settings from splunkd)"
        ) from None
    try:  # the HEC tab is optional: without it the bridge's own KEPLER_HEC_* apply
        hec = _json(splunkd.get(f"configs/conf-{CONF}/hec", output_mode="json"))
        hec_stanza = hec["entry"][0]["content"]
    except Exception:
        hec_stanza = {}
    return from_settings(
        stanza, decode_secrets(pieces), hec_stanza, decode_secrets(pieces, stanza="hec")
    )


def _json(response: Any) -> Any:
    return json.loads(response.body.read())


def load(searchinfo: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Config:
    found = from_environ(os.environ if env is None else env)
    return found if found is not None else from_splunkd(searchinfo)
