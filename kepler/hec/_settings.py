"""The HEC sender's settings (prefix ``KEPLER_HEC_``): where the collector is, how to send."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kepler._home import default_home

MiB = 1024 * 1024
GiB = 1024 * MiB

# What a URL may end with: the sender appends the endpoint itself.
_ENDPOINT_SUFFIXES = ("/services/collector/event", "/services/collector", "/")


class HecSettings(BaseSettings):
    """One object per process; tests build it with keyword arguments, never by editing env."""

    model_config = SettingsConfigDict(env_prefix="KEPLER_HEC_", extra="ignore")

    # https://splunk.example.com:8088 (a trailing /services/collector[/event] is accepted).
    url: str = ""
    token: SecretStr | None = None
    # Defaults for events that do not set their own; None leaves it to the token's defaults.
    index: str | None = None
    source: str | None = None
    sourcetype: str | None = None
    host: str | None = None
    # Where Kepler's own metrics go (a metrics index); None: the token's default index.
    metrics_index: str | None = None

    # Indexer acknowledgement: the token must have useACK on; events never acknowledged
    # within ack_timeout are sent again.
    ack: bool = False
    ack_timeout: float = Field(default=60.0, gt=0)
    ack_poll_interval: float = Field(default=0.5, gt=0)
    # A channel GUID; one is generated per sender when unset.
    channel: str | None = None

    verify_tls: bool = True
    ca_bundle: Path | None = None
    timeout: float = Field(default=30.0, gt=0)

    # A batch is sent when it reaches either bound, or linger seconds after its first event.
    batch_bytes: int = Field(default=1 * MiB, ge=1024)
    batch_events: int = Field(default=10_000, ge=1)
    linger: float = Field(default=0.2, ge=0)
    gzip_level: int = Field(default=1, ge=0, le=9)  # 0 sends uncompressed
    max_event_bytes: int = Field(default=5_000_000, ge=1)  # Splunk's maxEventSize

    # Retries on 503 / code 9 / 5xx / connection errors: backoff * 2**attempt (capped at
    # backoff_max) with full jitter; after max_retries the batch goes to the disk queue and
    # HEC is probed every backoff_max seconds until it answers again.
    max_retries: int = Field(default=5, ge=0)
    backoff: float = Field(default=0.5, ge=0)
    backoff_max: float = Field(default=30.0, gt=0)

    # Events accepted but not yet delivered, in memory; send() waits for room above this.
    max_memory_bytes: int = Field(default=64 * MiB, ge=1024)
    # The disk queue: survives a restart of the process, drains when HEC answers again. One
    # folder per target (URL + token). The bound counts what waits on disk plus what waits
    # in memory (uncompressed): an event is accepted only if all of it could go to disk,
    # so a full queue refuses new events at once (HecQueueFull) and never drops one.
    queue_dir: Path | None = None
    queue_max_bytes: int = Field(default=1 * GiB, ge=1024)
    # How long a request (a sync apply with index=) or an async apply's batch waits for its
    # events to be in Splunk or in the disk queue before it fails with HecUnavailable.
    flush_timeout: float = Field(default=120.0, gt=0)
    # At shutdown (SIGTERM of the bridge or a worker): how long to keep delivering before
    # what is still in memory is written to the disk queue.
    shutdown_timeout: float = Field(default=5.0, ge=0)

    # Targets a caller may choose (the X-Kepler-Hec-Url/-Token headers of Splunk's command):
    # comma-separated base URLs (scheme, host and port must match; a path is a prefix), or
    # "*" for any. Empty: only this process's own ``url``.
    allowed_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Whether a caller may turn TLS verification off for its target (X-Kepler-Hec-Verify-Tls).
    allow_tls_verify_off: bool = False
    # Senders (one thread and one queue folder each) kept open for callers' targets; the
    # least recently used one is flushed to its disk queue and closed past this.
    max_senders: int = Field(default=8, ge=1)

    @field_validator("url")
    @classmethod
    def _strip_endpoint(cls, value: str) -> str:
        url = value.strip()
        for suffix in _ENDPOINT_SUFFIXES:
            if url.endswith(suffix):
                url = url[: -len(suffix)]
        return url

    @field_validator("allowed_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part for part in (p.strip() for p in value.split(",")) if part]
        if isinstance(value, list):
            for entry in value:
                if entry != "*" and base_url_problem(str(entry)):
                    raise ValueError(
                        f"KEPLER_HEC_ALLOWED_URLS: {str(entry)!r} {base_url_problem(str(entry))}; "
                        "give comma-separated base URLs such as https://splunk.example.com:8088, "
                        'or "*" for any'
                    )
        return value

    def queue_path(self) -> Path:
        """The disk queue's folder: ``queue_dir``, else ``$KEPLER_HOME/hec-queue``."""
        return (self.queue_dir or default_home() / "hec-queue").expanduser()

    @property
    def enabled(self) -> bool:
        """True when both a URL and a token are set: HEC is optional everywhere in Kepler."""
        return bool(self.url) and self.token is not None and bool(self.token.get_secret_value())

    def safe_url(self) -> str:
        """The URL as it may appear in a message or a log: no user info, query or fragment."""
        return safe_url(self.url)

    def target_id(self) -> str:
        """A name for this target (URL + token) that reveals neither: the disk queue's folder.
        A hash of the token, never the token, is what reaches the disk."""
        token = self.token.get_secret_value() if self.token else ""
        digest = hashlib.sha256(f"{self.url}\n{token}".encode()).hexdigest()[:24]
        parts = urlsplit(self.url)
        host = re.sub(r"[^A-Za-z0-9.-]", "_", f"{parts.hostname or 'hec'}-{parts.port or ''}")
        return f"{host.strip('-')}-{digest}"


def safe_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return url.split("?")[0].split("@")[-1][:200]
    netloc = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}"


def base_url_problem(url: str) -> str | None:
    """Why ``url`` is not a base URL HEC can be reached at, or None when it is one."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "is not an http(s) URL with a host"
    if parts.username is not None or parts.password is not None:
        return "carries user info (user@); give the token in its own setting, never in a URL"
    if parts.query or parts.fragment:
        return "has a query or fragment; give the base URL only"
    return None
