"""What the bridge and the workers keep in the jobs database (:mod:`kepler.server.db`).

- :mod:`~kepler.server.stores.jobs`: every job's record (state, spec, progress, result)
  and the deletions audit trail;
- :mod:`~kepler.server.stores.schedules`: scheduled scoring (what, how often, when next);
- :mod:`~kepler.server.stores.automl_runs`: what an AutoML run's tasks agree on.

Datasets are files, not rows: :mod:`kepler.server.datasets`.
"""

from kepler.server.stores.automl_runs import AutoMLRun, AutoMLRuns, Round
from kepler.server.stores.jobs import Job, JobStore
from kepler.server.stores.schedules import Schedule, ScheduleStore

__all__ = ["AutoMLRun", "AutoMLRuns", "Job", "JobStore", "Round", "Schedule", "ScheduleStore"]
