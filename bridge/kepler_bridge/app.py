"""Build the bridge's FastAPI application from one settings object."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from kepler._version import __version__
from kepler.server.context import ServerContext
from kepler.server.queue import make_celery
from kepler.server.scoring.service import OnlineService
from kepler.server.settings import ServerSettings
from kepler_bridge import errors
from kepler_bridge.body_limits import BodyLimits
from kepler_bridge.deps import AuthDep, BridgeState
from kepler_bridge.ingest import own_spool_dir
from kepler_bridge.ratelimit import TokenRateLimit
from kepler_bridge.routes import (
    algorithms,
    audit,
    automl,
    datasets,
    evaluation,
    health,
    hec,
    jobs,
    leaderboards,
    models,
    monitoring,
    monitors,
    predict,
    register,
    schedules,
    versions,
)
from kepler_bridge.throttle import AuthThrottle

log = logging.getLogger("kepler.bridge")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """At shutdown (uvicorn's SIGTERM handling ends here) the context closes: every HEC
    sender delivers for KEPLER_HEC_SHUTDOWN_TIMEOUT, then writes what it still holds to
    its disk queue, and the database's connections close."""
    yield
    from starlette.concurrency import run_in_threadpool

    state: BridgeState = app.state.kepler
    await run_in_threadpool(state.ctx.close)


def preload(state: BridgeState, refs: str) -> None:
    """Load each of ``refs`` (comma-separated ``name[@version|:alias]``) into the cache."""
    from kepler.core.refs import ModelRef

    for text in filter(None, (r.strip() for r in refs.split(","))):
        info, _ = state.cache.fetch(ModelRef.parse(text))
        log.info("preloaded model %s@%s", info.name, info.version)


def create_app(settings: ServerSettings, token: str, *, user_token: str | None = None) -> FastAPI:
    """The bridge for ``settings``: ``token`` (the admin level) or ``user_token`` (the user
    level, when given) is required on every route but ``/health``."""
    if not token:
        raise ValueError("the bridge refuses to start without a token")
    if user_token is not None and user_token == token:
        raise ValueError("the user-level token must differ from the admin token")
    # The broker's application and the database (every table) are made now, before the
    # first request, as the workers and the beat make theirs when they start.
    ctx = ServerContext(settings, component="bridge", celery=make_celery(settings))
    ctx.db.open()
    # Start the sender now, not on the first event: what an earlier run left in the disk
    # queue drains as soon as HEC answers.
    ctx.start_hec()
    state = BridgeState(ctx=ctx, token=token, user_token=user_token or None)
    app = FastAPI(
        title="Kepler bridge",
        version=__version__,
        description="Datasets in, training jobs queued, models versioned and served.",
        # The document is served behind the token like every route but /health, and
        # published in the repository as docs/openapi.json.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    # What a bridge killed mid-upload left: its spooled chunk bodies and half-written parts.
    state.spool_dir = own_spool_dir(settings.home / "spool")
    state.rate = TokenRateLimit(settings.requests_per_minute)
    state.predict_rate = TokenRateLimit.for_predict(settings.predict_requests_per_minute)
    state.online = OnlineService.from_settings(state.cache, settings, ctx.telemetry)
    swept = state.datasets.sweep()
    if swept:
        log.info("removed %d temporary file(s) left by writers that stopped", len(swept))
    preload(state, settings.preload_models)
    app.state.kepler = state
    errors.install(app)
    # The last added runs first: throttled clients are refused before any body is read.
    app.add_middleware(
        BodyLimits,
        max_json_bytes=settings.max_json_bytes,
        read_timeout=settings.body_read_timeout,
    )
    app.add_middleware(AuthThrottle, failures_per_minute=settings.auth_failures_per_minute)
    for module in (
        health,
        datasets,
        jobs,
        automl,
        leaderboards,
        models,
        register,
        versions,
        predict,
        monitoring,
        algorithms,
        hec,
        schedules,
        monitors,
        audit,
        evaluation,
    ):
        app.include_router(module.router)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[AuthDep])
    def openapi() -> dict[str, Any]:
        return app.openapi()

    return app
