"""The worker process's Celery application and its one settings object."""

from __future__ import annotations

from functools import lru_cache

from celery.signals import worker_process_init, worker_process_shutdown

from kepler.server.queue import make_celery
from kepler.server.settings import ServerSettings


@lru_cache(maxsize=1)
def settings() -> ServerSettings:
    return ServerSettings()


app = make_celery(settings())
app.conf.include = ["kepler_workers.tasks"]


@worker_process_init.connect
def _preload(**_: object) -> None:
    """Import the ML stack when a pool process starts, not on its first job: the first
    fit after `kepler up` then starts as fast as the hundredth. The HEC sender starts too,
    so events an earlier process left in the disk queue drain without waiting for a job."""
    from kepler.server.liveness import kill_this_process, set_lost_hook
    from kepler.server.telemetry import sender_for
    from kepler.server.worker_devices import record_this_worker

    # A job cancelled or out of time while this process runs it: the process ends, Celery's
    # pool starts another (kepler.server.liveness).
    set_lost_hook(kill_this_process)
    sender_for(settings().hec)
    preload_ml()
    # Logged and recorded for GET /v1/algorithms; probed here, after the fork, for CUDA.
    record_this_worker(settings().database_url)


@worker_process_shutdown.connect
def _close_hec(**_: object) -> None:
    """A pool process leaves through os._exit (atexit does not run): its HEC senders deliver
    for KEPLER_HEC_SHUTDOWN_TIMEOUT, then write what they still hold to the disk queue."""
    from kepler.server.telemetry import close_senders

    close_senders()


def preload_ml() -> None:
    import importlib

    for module in ("kepler.ml.training", "kepler.ml.store", "xgboost", "torch"):
        try:
            importlib.import_module(module)
        except ImportError:  # optional extras stay optional
            continue
