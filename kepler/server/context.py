"""One process's services, built once: :class:`ServerContext`.

The bridge builds its context at startup (``kepler_bridge.app.create_app``), each worker
process at its start (``kepler_workers.app.context``), the beat when it starts; every job
function takes it first (``run_fit(ctx, dataset_id, job_id)``). It holds the settings and
every service a job or a route uses, and every cache a process keeps between jobs, so
nothing hides in a module global:

- the Celery application jobs are queued through;
- the jobs database (one engine) and its stores: jobs, schedules, AutoML runs, workers'
  devices;
- the dataset store and the model registry (``kepler.ml.store.ModelStore``);
- the one :class:`~kepler.server.model_cache.ModelCache` of loaded models;
- the HEC sender pool and telemetry;
- AutoML's prepared data and open Optuna storages, reused by a run's trials in this
  process.

Celery, the registry, the model cache and the Optuna storages are made on first use: the beat
and a bridge that never scores do not import MLflow or Optuna for them.

What stays global, and why: the liveness module's lost hook (``set_lost_hook``): it is
what a Celery pool process does when its job is taken from it (kill itself), a property
of the process rather than of a context.

:meth:`ServerContext.close` releases what the process holds: HEC senders deliver or spool
what they have, the database engine closes its connections.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from kepler.server.datasets import DatasetStore
from kepler.server.db import Database
from kepler.server.liveness import JobLimits
from kepler.server.queue import Broker, make_celery
from kepler.server.senders import SenderPool
from kepler.server.settings import ServerSettings
from kepler.server.stores import AliasMoves, AutoMLRuns, JobStore, ScheduleStore, WorkerDevices
from kepler.server.telemetry import Telemetry

if TYPE_CHECKING:
    from kepler.ml.automl.search import Storages
    from kepler.ml.store import ModelStore
    from kepler.server.jobs.automl.common import PreparedCache
    from kepler.server.model_cache import ModelCache


class ServerContext:
    """Settings and services of one process (see the module docstring)."""

    def __init__(
        self, settings: ServerSettings, *, component: str, celery: Broker | None = None
    ) -> None:
        """``component``: ``bridge``, ``worker`` or ``beat`` (named in telemetry);
        ``celery``: the application tasks are sent through (default: one made from
        ``settings`` on first use; a worker passes its own)."""
        self.settings = settings
        self.component = component
        self.limits = JobLimits.from_settings(settings)
        self.db = Database(settings.database_url)
        self.senders = SenderPool()
        self.telemetry = Telemetry(settings.hec, component=component, senders=self.senders)
        self.jobs = JobStore(self.db, telemetry=self.telemetry)
        self.schedules = ScheduleStore(self.db)
        self.alias_moves = AliasMoves(self.db)
        self.automl_runs = AutoMLRuns(self.db)
        self.workers = WorkerDevices(self.db)
        self.datasets = DatasetStore(settings.dataset_store)
        self._lazy = threading.Lock()
        self._celery = celery
        self._models: ModelStore | None = None
        self._cache: ModelCache | None = None
        self._prepared: PreparedCache | None = None
        self._studies: Storages | None = None

    @property
    def celery(self) -> Broker:
        """The Celery application that jobs are queued through."""
        with self._lazy:
            if self._celery is None:
                self._celery = make_celery(self.settings)
            return self._celery

    @property
    def models(self) -> ModelStore:
        """The model registry (MLflow), opened on first use."""
        with self._lazy:
            if self._models is None:
                from kepler.ml.store import ModelStore

                s = self.settings
                self._models = ModelStore(s.tracking_uri, s.artifact_location, s.experiment)
            return self._models

    @property
    def cache(self) -> ModelCache:
        """The process's loaded models (``KEPLER_MODEL_CACHE_SIZE`` of them)."""
        models = self.models
        with self._lazy:
            if self._cache is None:
                from kepler.server.model_cache import ModelCache

                self._cache = ModelCache.for_store(
                    models,
                    self.settings.model_cache_size,
                    resolve_ttl=self.settings.predict_resolve_ttl_s,
                )
            return self._cache

    @property
    def prepared(self) -> PreparedCache:
        """AutoML's prepared data by job: a run's trials in this process share it."""
        with self._lazy:
            if self._prepared is None:
                from kepler.server.jobs.automl.common import PreparedCache

                self._prepared = PreparedCache()
            return self._prepared

    @property
    def studies(self) -> Storages:
        """Open Optuna storages by URL (a journal then reads only what is new)."""
        with self._lazy:
            if self._studies is None:
                from kepler.ml.automl.search import Storages

                self._studies = Storages()
            return self._studies

    def start_hec(self) -> None:
        """Start the process's own sender now, not on its first event: what an earlier
        process left in the disk queue drains as soon as HEC answers."""
        self.senders.own(self.settings.hec)

    def close(self, timeout: float | None = None) -> None:
        """Release the process's senders (they flush for ``timeout``, default their
        ``KEPLER_HEC_SHUTDOWN_TIMEOUT``, then spool the rest) and database connections."""
        self.senders.close(timeout)
        self.db.close()
