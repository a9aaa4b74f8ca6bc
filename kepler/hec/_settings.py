"""The HEC sender's settings (prefix ``KEPLER_HEC_``): where the collector is, how to send."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    # The disk queue: survives a restart of the process, drains when HEC answers again.
    queue_dir: Path | None = None
    queue_max_bytes: int = Field(default=1 * GiB, ge=0)

    @field_validator("url")
    @classmethod
    def _strip_endpoint(cls, value: str) -> str:
        url = value.strip()
        for suffix in _ENDPOINT_SUFFIXES:
            if url.endswith(suffix):
                url = url[: -len(suffix)]
        return url

    def queue_path(self) -> Path:
        """The disk queue's folder: ``queue_dir``, else ``$KEPLER_HOME/hec-queue``."""
        return (self.queue_dir or default_home() / "hec-queue").expanduser()

    @property
    def enabled(self) -> bool:
        """True when both a URL and a token are set: HEC is optional everywhere in Kepler."""
        return bool(self.url) and self.token is not None and bool(self.token.get_secret_value())
