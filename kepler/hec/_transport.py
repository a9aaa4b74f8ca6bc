"""HTTP to the collector: post one gzip batch, poll acknowledgements, classify each answer.

The token travels only in the ``Authorization`` header; nothing here formats a header, a
request or an exception's arguments into a message, so the token cannot leak into logs.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from kepler.hec._settings import HecSettings

EVENT_PATH = "/services/collector/event"
ACK_PATH = "/services/collector/ack"
HEALTH_PATH = "/services/collector/health"

# HEC codes about the request or the token, not the events: resending cannot help until
# someone fixes the configuration, so the events wait in the disk queue.
CONFIG_CODES = {1, 2, 3, 4, 10, 11, 14, 16}
# Codes about the events themselves (HEC names the first bad one in invalid-event-number).
DATA_CODES = {5, 6, 7, 12, 13, 15}

Kind = Literal["ok", "retry", "rejected", "config", "too_large"]


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    text: str
    code: int | None = None
    ack_id: int | None = None
    invalid_event: int | None = None
    status: int | None = None
    refused: bool = False  # the request never left: no connection was made


class Transport:
    def __init__(self, settings: HecSettings) -> None:
        self.settings = settings
        token = settings.token.get_secret_value() if settings.token else ""
        verify: Any = str(settings.ca_bundle) if settings.ca_bundle else settings.verify_tls
        self.client = httpx.Client(
            base_url=settings.url,
            headers={
                "Authorization": f"Splunk {token}",
                "Content-Type": "application/json",
            },
            verify=verify,
            timeout=settings.timeout,
            limits=httpx.Limits(max_connections=2, max_keepalive_connections=2),
        )

    def post(self, events: list[bytes], channel: str) -> Outcome:
        body = b"".join(events)
        headers = {"X-Splunk-Request-Channel": channel}
        if self.settings.gzip_level:
            body = gzip.compress(body, compresslevel=self.settings.gzip_level)
            headers["Content-Encoding"] = "gzip"
        try:
            response = self.client.post(EVENT_PATH, content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            text = f"HEC could not be reached ({type(exc).__name__})"
            return Outcome("retry", text, refused=True)
        except httpx.TransportError as exc:
            return Outcome("retry", f"HEC's answer was lost ({type(exc).__name__})")
        return classify(response.status_code, _json(response))

    def poll_acks(self, ack_ids: list[int], channel: str) -> dict[int, bool] | Outcome:
        try:
            response = self.client.post(
                ACK_PATH,
                params={"channel": channel},
                json={"acks": ack_ids},
                headers={"X-Splunk-Request-Channel": channel},
            )
        except httpx.TransportError as exc:
            return Outcome("retry", f"HEC could not be reached ({type(exc).__name__})")
        body = _json(response)
        acks = body.get("acks") if response.status_code == 200 else None
        if not isinstance(acks, dict):
            return classify(response.status_code, body)
        return {int(k): bool(v) for k, v in acks.items() if str(k).isdigit()}

    def close(self) -> None:
        self.client.close()


def classify(status: int, body: dict[str, Any]) -> Outcome:
    """What an HEC answer means for the batch (docs/splunk-protocols.md section 2)."""
    code = body.get("code")
    code = code if isinstance(code, int) else None
    text = str(body.get("text") or f"HTTP {status}")[:200]
    if status == 200 and code in (0, None):
        ack = body.get("ackId")
        return Outcome("ok", text, code, ack_id=ack if isinstance(ack, int) else None)
    if status == 413:
        return Outcome("too_large", text, code, status=status)
    if status >= 500 or status == 429 or status == 408:
        return Outcome("retry", f"HEC answered HTTP {status}: {text}", code, status=status)
    if code in DATA_CODES:
        number = body.get("invalid-event-number")
        number = number if isinstance(number, int) else None
        return Outcome("rejected", text, code, invalid_event=number, status=status)
    return Outcome("config", f"HEC answered HTTP {status}: {text}", code, status=status)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
