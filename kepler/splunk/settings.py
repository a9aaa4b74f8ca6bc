"""Where splunkd's management port is and how to log in to it (prefix ``KEPLER_SPLUNK_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SplunkSettings(BaseSettings):
    """``KEPLER_SPLUNK_URL`` (``https://splunk.example.com:8089``) and either
    ``KEPLER_SPLUNK_TOKEN`` (an authentication token, sent as ``Bearer``) or
    ``KEPLER_SPLUNK_USERNAME`` + ``KEPLER_SPLUNK_PASSWORD`` (a login for a session key)."""

    model_config = SettingsConfigDict(env_prefix="KEPLER_SPLUNK_", extra="ignore")

    url: str = "https://127.0.0.1:8089"
    token: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    # TLS verification is on unless turned off; a CA bundle adds a private authority
    # (splunkd's default certificate is signed by Splunk's own).
    verify_tls: bool = True
    ca_bundle: Path | None = None
    # The namespace searches run in (servicesNS/<owner>/<app>/...); empty = /services.
    app: str | None = None
    owner: str | None = None
    # Seconds one read from splunkd may take (an export streams; this bounds each read).
    timeout: float = 300.0
    # Seconds `from_splunk(sid=...)` waits for a job still running to finish.
    job_wait: float = Field(default=600.0, gt=0)
    # Rows per Arrow batch while a result stream is read: memory holds one batch of
    # Python objects at most.
    batch_rows: int = 5_000

    @model_validator(mode="after")
    def _one_login(self) -> SplunkSettings:
        if self.password is not None and not self.username:
            raise ValueError("KEPLER_SPLUNK_PASSWORD needs KEPLER_SPLUNK_USERNAME too")
        return self
