"""Run the bridge under uvicorn (what ``kepler bridge`` and ``kepler up`` call)."""

from __future__ import annotations

from kepler._home import USER_TOKEN_FILE, ensure_token
from kepler.server.settings import ServerSettings


def resolve_token(settings: ServerSettings) -> str:
    """``KEPLER_TOKEN`` when set, else the embedded stack's generated token file."""
    if settings.token is not None and settings.token.get_secret_value():
        return settings.token.get_secret_value()
    return ensure_token(settings.home)


def resolve_user_token(settings: ServerSettings) -> str:
    """``KEPLER_USER_TOKEN`` when set, else the embedded stack's generated user-level token
    file (``user-token`` beside ``token``)."""
    if settings.user_token is not None and settings.user_token.get_secret_value():
        return settings.user_token.get_secret_value()
    return ensure_token(settings.home, USER_TOKEN_FILE)


def run_bridge(settings: ServerSettings, *, log_level: str = "info") -> None:
    import uvicorn

    from kepler_bridge.app import create_app
    from kepler_bridge.slow_headers import protocol

    app = create_app(settings, resolve_token(settings), user_token=resolve_user_token(settings))
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        ssl_certfile=str(settings.tls_certfile) if settings.tls_certfile else None,
        ssl_keyfile=str(settings.tls_keyfile) if settings.tls_keyfile else None,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
        # An idle keep-alive connection is closed after this; a request whose body goes
        # silent is answered 408 by BodyLimits (KEPLER_BODY_READ_TIMEOUT). uvicorn's h11
        # and httptools parsers already bound a request's header size.
        timeout_keep_alive=settings.keep_alive_timeout,
        # Headers that trickle in (slowloris) close the connection: KEPLER_HEADER_TIMEOUT.
        http=protocol(settings.header_timeout),
    )
