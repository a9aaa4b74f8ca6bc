"""Build the bridge's FastAPI application from one settings object."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI

from kepler._version import __version__
from kepler.server.jobs import JobStore
from kepler.server.queue import make_celery
from kepler.server.settings import ServerSettings
from kepler_bridge import errors
from kepler_bridge.deps import AuthDep, BridgeState
from kepler_bridge.model_cache import ModelCache
from kepler_bridge.routes import algorithms, automl, datasets, health, jobs, models

log = logging.getLogger("kepler.bridge")


def create_app(settings: ServerSettings, token: str) -> FastAPI:
    """The bridge for ``settings``; ``token`` is required on every route but ``/health``."""
    from kepler.ml.store import ModelStore
    from kepler.server.datasets import DatasetStore

    if not token:
        raise ValueError("the bridge refuses to start without a token")
    store = ModelStore(settings.tracking_uri, settings.artifact_location, settings.experiment)
    state = BridgeState(
        settings=settings,
        token=token,
        jobs=JobStore(settings.database_url),
        datasets=DatasetStore(settings.dataset_store),
        models=store,
        cache=ModelCache(settings.model_cache_size, store.load),
        celery=make_celery(settings),
    )
    app = FastAPI(
        title="Kepler bridge",
        version=__version__,
        description="Datasets in, training jobs queued, models versioned and served.",
        # The document is served behind the token like every route but /health, and
        # published in the repository as docs/openapi.json.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.kepler = state
    errors.install(app)
    for module in (health, datasets, jobs, automl, models, algorithms):
        app.include_router(module.router)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[AuthDep])
    def openapi() -> dict[str, Any]:
        return app.openapi()

    return app
