"""What the bridge and the workers keep in the jobs database (:mod:`kepler.server.db`).

- :mod:`~kepler.server.stores.jobs`: every job's record (state, spec, progress, result)
  and the deletions audit trail;
- :mod:`~kepler.server.stores.aliases`: every move of a model alias (who, when, from, to);
- :mod:`~kepler.server.stores.schedules`: scheduled scoring (what, how often, when next);
- :mod:`~kepler.server.stores.automl_runs`: what an AutoML run's tasks agree on;
- :mod:`~kepler.server.stores.worker_devices`: which devices the workers' hosts have.

Datasets are files, not rows: :mod:`kepler.server.datasets`.
"""

from kepler.server.stores.aliases import AliasMove, AliasMoves
from kepler.server.stores.automl_runs import AutoMLRun, AutoMLRuns, Round
from kepler.server.stores.jobs import Job, JobStore
from kepler.server.stores.schedules import Schedule, ScheduleStore
from kepler.server.stores.worker_devices import WorkerDevices

__all__ = [
    "AliasMove",
    "AliasMoves",
    "AutoMLRun",
    "AutoMLRuns",
    "Job",
    "JobStore",
    "Round",
    "Schedule",
    "ScheduleStore",
    "WorkerDevices",
]
