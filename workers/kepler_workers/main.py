"""Start a worker process (what ``kepler worker`` runs)."""

from __future__ import annotations

import logging


def run_worker(concurrency: int | None = None, loglevel: str = "INFO") -> None:
    from kepler_workers.app import app, settings

    logging.basicConfig(level=loglevel, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv = [
        "worker",
        f"--loglevel={loglevel}",
        f"--concurrency={concurrency or settings().worker_concurrency}",
        "--queues=kepler",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    app.worker_main(argv)
