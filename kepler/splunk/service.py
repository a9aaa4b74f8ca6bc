"""Log in to splunkd with splunklib's service; turn splunkd's failures into Kepler errors.

splunkd answers errors as ``<response><messages><msg type="FATAL">...`` (XML) or
``{"messages": [{"type": "FATAL", "text": "..."}]}`` (``output_mode=json``); the text is
the search's own problem ("Unknown search command 'foo'.") and is what the user sees.
Credentials never appear in a message.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse
from xml.etree.ElementTree import ParseError, fromstring

from kepler.core.errors import (
    BadParameter,
    SearchFailed,
    SplunkError,
    SplunkLoginFailed,
    SplunkUnavailable,
    require,
)
from kepler.splunk.settings import SplunkSettings

FAILING = ("FATAL", "ERROR")


def connect(settings: SplunkSettings | None = None) -> Any:
    """A logged-in :class:`splunklib.client.Service` for ``settings``. A session key from a
    login is renewed by splunklib when it expires (``autologin``)."""
    s = settings or SplunkSettings()
    client = require("splunklib.client", "splunk")
    binding = require("splunklib.binding", "splunk")
    url = urlparse(s.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise BadParameter(
            f"KEPLER_SPLUNK_URL {s.url!r} is not a splunkd address; "
            "give its management port, e.g. https://splunk.example.com:8089"
        )
    context = None
    if url.scheme == "https" and s.verify_tls:
        context = ssl.create_default_context(cafile=str(s.ca_bundle) if s.ca_bundle else None)
    kwargs: dict[str, Any] = {
        "scheme": url.scheme,
        "host": url.hostname,
        "port": url.port or 8089,
        "handler": binding.handler(timeout=s.timeout, verify=s.verify_tls, context=context),
        "autologin": True,
    }
    if s.app:
        kwargs["app"] = s.app
    if s.owner:
        kwargs["owner"] = s.owner
    if s.token is not None:
        token = s.token.get_secret_value()
        # An authentication token goes as Bearer; "Splunk <key>" is a session key already.
        if token.startswith("Splunk "):
            kwargs["token"] = token
        else:
            kwargs["splunkToken"] = token
        how = "the token in KEPLER_SPLUNK_TOKEN"
        hint = "check it, or create a new one in Splunk Web (Settings > Tokens)"
    elif s.username and s.password is not None:
        kwargs["username"] = s.username
        kwargs["password"] = s.password.get_secret_value()
        how = f"user {s.username!r} (KEPLER_SPLUNK_USERNAME / KEPLER_SPLUNK_PASSWORD)"
        hint = "check the user name and password"
    else:
        raise SplunkLoginFailed(
            "no Splunk credentials: set KEPLER_SPLUNK_TOKEN, or KEPLER_SPLUNK_USERNAME "
            "and KEPLER_SPLUNK_PASSWORD"
        )
    service = client.Service(**kwargs)
    with translate(s.url, login=how, hint=hint):
        service.login()
        _ = service.splunk_version  # GET server/info: checks the login and picks the API
    return service


def messages_of(body: bytes | str) -> list[tuple[str, str]]:
    """``[(type, text), ...]`` from splunkd's JSON or XML ``messages``."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    text = text.strip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            return []
        return [
            (str(m.get("type", "")).upper(), str(m.get("text", "")))
            for m in doc.get("messages") or []
            if isinstance(m, dict)
        ]
    if text.startswith("<"):
        try:
            root = fromstring(text)  # noqa: S314 - splunkd's answer; expat resolves no external entities
        except ParseError:
            return []
        return [
            (str(m.get("type", "")).upper(), "".join(m.itertext()).strip())
            for m in root.iter("msg")
        ]
    return []


def failure(messages: list[tuple[str, str]]) -> str | None:
    """The FATAL/ERROR texts joined, or None when nothing failed."""
    bad = [text for kind, text in messages if kind in FAILING and text]
    return "; ".join(dict.fromkeys(bad)) or None


@contextlib.contextmanager
def translate(
    url: str,
    *,
    login: str = "the configured credentials",
    hint: str = "check KEPLER_SPLUNK_TOKEN or KEPLER_SPLUNK_USERNAME / KEPLER_SPLUNK_PASSWORD",
) -> Iterator[None]:
    """Run splunklib calls, raising Kepler's errors for what splunkd or the network did."""
    binding = require("splunklib.binding", "splunk")
    try:
        yield
    except binding.HTTPError as exc:  # AuthenticationError (a 401) included
        raise http_error(url, exc.status, exc.body, login=login, hint=hint) from None
    except ssl.SSLError as exc:
        raise SplunkUnavailable(
            f"TLS verification of splunkd at {url} failed ({exc.reason or exc}); set "
            "KEPLER_SPLUNK_CA_BUNDLE to the certificate of the authority that signed it"
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        reason = str(exc) or type(exc).__name__
        raise SplunkUnavailable(
            f"cannot reach splunkd at {url} ({reason}); check KEPLER_SPLUNK_URL "
            "(splunkd's management port, usually 8089)"
        ) from None


def http_error(
    url: str, status: int, body: bytes | str, *, login: str, hint: str = ""
) -> SplunkError:
    messages = messages_of(body)
    said = failure(messages) or "; ".join(t for _, t in messages if t)
    if status == 401:
        return SplunkLoginFailed(
            f"splunkd at {url} refused {login}"
            + (f" ({said})" if said else "")
            + (f"; {hint}" if hint else "")
        )
    if status == 400:
        return SearchFailed(
            f"Splunk refused the search: {said or 'HTTP 400 without a message'}",
            detail={"messages": [list(m) for m in messages]},
        )
    if status == 403:
        return SplunkError(
            f"splunkd at {url} denied the request for {login}"
            + (f" ({said})" if said else "")
            + "; the role needs the 'search' capability and access to the index"
        )
    return SplunkError(
        f"splunkd at {url} answered HTTP {status}" + (f": {said}" if said else ""),
        detail={"status": status},
    )
