"""The worker process's Celery application and its one settings object."""

from __future__ import annotations

from functools import lru_cache

from kepler.server.queue import make_celery
from kepler.server.settings import ServerSettings


@lru_cache(maxsize=1)
def settings() -> ServerSettings:
    return ServerSettings()


app = make_celery(settings())
app.conf.include = ["kepler_workers.tasks"]
