"""Kepler's job kinds, one module (or package) each, holding both the bridge's side (submit:
check, record, queue) and the worker's side (run: the work, once):

- :mod:`~kepler.server.jobs.fit`: ``submit_fit`` / ``run_fit``;
- :mod:`~kepler.server.jobs.apply`: async apply, ``submit_apply`` / ``run_apply``;
- :mod:`~kepler.server.jobs.score`: scheduled scoring, ``fire`` / ``run_score``;
- :mod:`~kepler.server.jobs.automl`: ``submit_automl`` / ``start_automl``,
  ``run_automl_trial``, ``finalise_automl``, and the beat's ``sweep``.

Every function takes the process's :class:`~kepler.server.context.ServerContext` first,
then ids (``run_fit(ctx, dataset_id, job_id)``); the Celery tasks only call them. What
every worker-side run does around its work (once, failed with a safe message) is
:func:`~kepler.server.jobs.runner.run_once`.
"""
