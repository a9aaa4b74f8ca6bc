"""Server-side plumbing shared by the bridge and the workers, found by what it is for:

- ``settings.py``: the one settings object per process (``KEPLER_*``);
- ``context.py``: :class:`~kepler.server.context.ServerContext`, every service of a
  process, built once;
- ``db.py`` and ``stores/``: the jobs database (schema, engine) and its stores (jobs,
  schedules, AutoML runs); ``datasets/``: uploaded data as files;
- ``jobs/``: one module per job kind (fit, apply, score, automl), the bridge's submit and
  the worker's run side by side; ``queue.py``: every task name;
- ``scoring/``, ``model_cache.py``, ``senders.py``, ``telemetry.py``: scoring, loaded
  models, HEC senders and Kepler's own events;
- ``beat.py``, ``liveness.py``: the beat (schedules, reaper, AutoML sweep) and how a job
  is known to be alive.
"""
