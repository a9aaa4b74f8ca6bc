"""Where the embedded stack keeps its files and answers: its home, its generated bridge
token, and the URL a client on this machine reaches it at."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TOKEN_FILE = "token"  # noqa: S105 - a file name, not a secret
# The user-level token (fit, apply, read; no deletions): what Splunk's kepler_user gets.
USER_TOKEN_FILE = "user-token"  # noqa: S105 - a file name, not a secret
DEFAULT_PORT = 8765
# Listening on every address: a client on this machine reaches it on loopback.
_WILDCARD = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}


def default_home() -> Path:
    return Path(os.environ.get("KEPLER_HOME") or Path.home() / ".kepler").expanduser()


def token_path(home: Path | None = None, name: str = TOKEN_FILE) -> Path:
    return (home or default_home()) / name


def read_token(home: Path | None = None, name: str = TOKEN_FILE) -> str | None:
    path = token_path(home, name)
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return text or None


def ensure_token(home: Path | None = None, name: str = TOKEN_FILE) -> str:
    """The embedded stack's token (``name``: the admin or the user level): read it, or
    make one readable by this user only."""
    existing = read_token(home, name)
    path = token_path(home, name)
    if existing:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


def stack_url(host: str = "127.0.0.1", port: int = DEFAULT_PORT, *, tls: bool = False) -> str:
    """The URL of a bridge listening on ``host:port``, as a client on this machine writes
    it: what ``kepler up`` prints, and what the SDK connects to without ``KEPLER_URL``.
    HTTPS when the bridge has a certificate (``KEPLER_TLS_CERTFILE``), else HTTP."""
    host = _WILDCARD.get(host.strip(), host.strip())
    if ":" in host and not host.startswith("["):  # an IPv6 literal
        host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}"
