"""The SDK's one settings object: where the bridge is and how to talk to it."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kepler._home import DEFAULT_PORT, default_home, stack_url

DEFAULT_URL = stack_url()


class ClientSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEPLER_", extra="ignore")

    # Without KEPLER_URL: the local stack where `kepler up` serves it, from the settings it
    # reads too (KEPLER_HOST, KEPLER_PORT, and HTTPS when KEPLER_TLS_CERTFILE is set).
    url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    tls_certfile: Path | None = None
    token: SecretStr | None = None
    home: Path = default_home()
    # TLS verification is on unless turned off; a CA bundle adds a private authority.
    verify_tls: bool = True
    ca_bundle: Path | None = None
    timeout: float = 120.0
    # Largest piece of a frame sent in one request (the bridge caps requests too).
    chunk_bytes: int = 64 * 1024 * 1024
    # Piece of an uploaded frame per request (at most chunk_bytes): small enough that the
    # bridge turns one piece into Parquet while the next is on the wire, so little of the
    # conversion is left to wait for after the last byte is sent.
    upload_chunk_bytes: int = 16 * 1024 * 1024
    # Who the notebook acts for, in the bridge's audit trail (jobs, MLflow's kepler.user
    # tag, kepler:* events, deletions): KEPLER_USER, else the OS user.
    user: str = ""
    # The MLflow UI (``mlflow ui`` / ``mlflow server``) the registry is seen through, e.g.
    # http://127.0.0.1:5000: results then carry their run's page (``result.url``).
    mlflow_ui_url: str = ""

    def who(self) -> str:
        """``KEPLER_USER``, else the OS user (``getpass.getuser``), else ``""``."""
        if self.user.strip():
            return self.user.strip()
        import getpass

        try:
            return getpass.getuser()
        except Exception:  # no user name in the environment or the password database
            return ""

    @model_validator(mode="after")
    def _local_stack_url(self) -> ClientSettings:
        if not self.url.strip():
            self.url = stack_url(self.host, self.port, tls=self.tls_certfile is not None)
        return self
