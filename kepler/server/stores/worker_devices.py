"""Which devices the workers have: each pool process records its host's, the bridge reads.

A worker's devices are found where it trains, in a pool process (a CUDA probe in the
process that forks the pool would break CUDA in every child). They go to the jobs
database, which the bridge and the workers share, so ``GET /v1/algorithms`` can say where
an algorithm with a ``device`` parameter can run without asking a worker anything.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from kepler.server.db import Database
from kepler.server.db import worker_devices_table as _table

__all__ = ["WorkerDevices", "record_this_worker"]

log = logging.getLogger(__name__)


class WorkerDevices:
    """The ``kepler_worker_devices`` table: one row per worker host, last write wins."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, host: str, devices: Sequence[str]) -> None:
        row = {"host": host, "devices": json.dumps(list(devices)), "seen_at": time.time()}
        try:
            with self.db.engine.begin() as conn:
                conn.execute(delete(_table).where(_table.c.host == host))
                conn.execute(insert(_table).values(**row))
        except IntegrityError:
            pass  # another pool process of this host wrote the same row first

    def by_host(self) -> dict[str, list[str]]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(select(_table.c.host, _table.c.devices)).all()
        return {host: json.loads(devices) for host, devices in rows}

    def all_devices(self) -> list[str]:
        """Every device some worker has, ``cpu`` first; ``["cpu"]`` before any worker ran."""
        found = {d for devices in self.by_host().values() for d in devices}
        return ["cpu", *sorted(found - {"cpu"})]


def record_this_worker(store: WorkerDevices) -> tuple[str, ...]:
    """Probe this process's devices, log them, record them; a failure only logs."""
    from kepler.ml.devices import detect_devices

    devices = detect_devices()
    host = socket.gethostname()
    log.info("kepler worker process %d on %s: devices %s", os.getpid(), host, ", ".join(devices))
    try:
        store.record(host, devices)
    except Exception:  # the worker trains whether or not the bridge can show its devices
        log.warning("could not record this worker's devices", exc_info=True)
    return devices
