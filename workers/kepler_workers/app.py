"""The worker process's Celery application, its one settings object and its one context."""

from __future__ import annotations

import os
import threading
from functools import lru_cache

from celery.signals import worker_process_init, worker_process_shutdown

from kepler.server.context import ServerContext
from kepler.server.queue import make_celery
from kepler.server.settings import ServerSettings


@lru_cache(maxsize=1)
def settings() -> ServerSettings:
    return ServerSettings()


app = make_celery(settings())
app.conf.include = ["kepler_workers.tasks"]

_ctx: ServerContext | None = None
_ctx_pid = 0
_ctx_lock = threading.Lock()


def context() -> ServerContext:
    """This process's :class:`ServerContext`, built once (at ``worker_process_init``, or on
    the first task of a solo worker). Keyed by process id: a process forked from one that
    had a context (Celery's prefork pool) builds its own rather than share its parent's
    connections, senders and caches."""
    global _ctx, _ctx_pid
    with _ctx_lock:
        if _ctx is None or _ctx_pid != os.getpid():
            _ctx = ServerContext(settings(), component="worker", celery=app)
            _ctx_pid = os.getpid()
        return _ctx


def _forget_after_fork() -> None:
    # The lock may have been held by another thread of the parent at the fork.
    global _ctx_lock
    _ctx_lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


@worker_process_init.connect
def _preload(**_: object) -> None:
    """Build the process's context and import the ML stack when a pool process starts, not
    on its first job: the first fit after `kepler up` then starts as fast as the hundredth.
    The HEC sender starts too, so events an earlier process left in the disk queue drain
    without waiting for a job."""
    from kepler.server.liveness import kill_this_process, set_lost_hook
    from kepler.server.stores.worker_devices import record_this_worker

    # A job cancelled or out of time while this process runs it: the process ends, Celery's
    # pool starts another (kepler.server.liveness).
    set_lost_hook(kill_this_process)
    context().start_hec()
    preload_ml()
    # Logged and recorded for GET /v1/algorithms; probed here, after the fork, for CUDA.
    record_this_worker(context().workers)


@worker_process_shutdown.connect
def _close(**_: object) -> None:
    """A pool process leaves through os._exit (atexit does not run): its context closes,
    so its HEC senders deliver for KEPLER_HEC_SHUTDOWN_TIMEOUT, then write what they still
    hold to the disk queue."""
    if _ctx is not None and _ctx_pid == os.getpid():
        _ctx.close()


def preload_ml() -> None:
    import importlib

    for module in ("kepler.ml.training", "kepler.ml.store", "xgboost", "torch"):
        try:
            importlib.import_module(module)
        except ImportError:  # optional extras stay optional
            continue
