"""A small client of the bridge over urllib: what Splunk's Python has."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from kepler.core import wire
from kepler.core.errors import BridgeUnavailable, KeplerError, Unauthorized, from_dict

SETUP = "Kepler's setup page (Apps > Kepler > Configuration > Bridge)"


class BridgeClient:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        verify: bool = True,
        ca_bundle: str | None = None,
        timeout: float = 60.0,
        hec_headers: dict[str, str] | None = None,
        identity: dict[str, str] | None = None,
    ) -> None:
        """``identity``: the X-Kepler-User/-Roles headers sent on every request (the
        bridge's audit trail; what the caller may do comes from the token alone)."""
        if not url:
            raise BridgeUnavailable(f"no bridge URL is set: enter it on {SETUP}")
        if not token:
            raise Unauthorized(f"no bridge token is set: enter it on {SETUP}")
        self.url = url.rstrip("/")
        self._token = token
        self._hec_headers = dict(hec_headers or {})
        self._identity = dict(identity or {})
        self.timeout = timeout
        self._context: ssl.SSLContext | None = None
        if self.url.startswith("https://"):
            self._context = ssl.create_default_context(cafile=ca_bundle or None)
            if not verify:
                # Only when an administrator turned verification off on the setup page.
                self._context.check_hostname = False
                self._context.verify_mode = ssl.CERT_NONE

    def __repr__(self) -> str:
        return f"BridgeClient({self.url!r})"

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        json_body: wire.Body | None = None,
        content_type: str | None = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        hec: bool = False,
    ) -> tuple[dict[str, str], bytes]:
        """``json_body``: one of the bodies of :mod:`kepler.core.wire`, sent as JSON.
        ``hec=True`` adds the setup page's HEC settings as ``X-Kepler-Hec-*`` headers."""
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        headers = {
            "Authorization": f"Bearer {self._token}",
            "User-Agent": "kepler-splunk",
            **self._identity,
        }
        if hec:
            headers.update(self._hec_headers)
        if json_body is not None:
            body = json.dumps(json_body.to_dict()).encode("utf-8")
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(  # noqa: S310 - the URL is the configured bridge
                req, timeout=timeout or self.timeout, context=self._context
            ) as resp:
                return dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as exc:
            raise _http_error(exc) from None
        except (ssl.SSLError, ssl.CertificateError) as exc:
            raise _tls_error(self.url, exc) from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, (ssl.SSLError, ssl.CertificateError)):
                raise _tls_error(self.url, exc.reason) from None
            raise BridgeUnavailable(
                f"cannot reach the Kepler bridge at {self.url} ({exc.reason}); check that it "
                f"runs and that the Bridge URL on {SETUP} is right"
            ) from None
        except TimeoutError:
            raise BridgeUnavailable(
                f"the Kepler bridge at {self.url} did not answer within "
                f"{timeout or self.timeout:g} s; raise the timeout on {SETUP}"
            ) from None

    def json(self, method: str, path: str, **kw: Any) -> Any:
        return json.loads(self.request(method, path, **kw)[1] or b"null")


def _http_error(exc: urllib.error.HTTPError) -> KeplerError:
    try:
        payload = json.loads(exc.read() or b"{}")
    except ValueError:
        payload = {}
    err = payload.get("error") if isinstance(payload, dict) else None
    if exc.code == 401:
        return Unauthorized(f"the bridge refused the token: update the token on {SETUP}")
    if isinstance(err, dict):
        return from_dict(err, status=exc.code)
    return KeplerError(f"the bridge answered HTTP {exc.code}; see the bridge's log")


def _tls_error(url: str, exc: BaseException) -> BridgeUnavailable:
    return BridgeUnavailable(
        f"TLS verification of the bridge at {url} failed ({getattr(exc, 'reason', exc)}); "
        f"set the CA bundle on {SETUP} to the certificate authority that signed the bridge's "
        "certificate"
    )
