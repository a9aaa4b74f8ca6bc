"""AutoML jobs: accept (bridge), start, run trials in any worker, finalise.

One module per step: :mod:`.submit` (the bridge), :mod:`.lanes` (start and trial tasks),
:mod:`.rounds` (a seeded run), :mod:`.finalise`, :mod:`.sweep` (the beat's watch for runs
that lost their tasks); :mod:`.common` what they share. Their state is
:mod:`kepler.server.stores.automl_runs`.

* :func:`submit_automl` (bridge) checks everything that can be checked from the dataset's
  manifest and target column, then queues ``kepler.automl``.
* :func:`start_automl` (a worker) creates the Optuna study and MLflow parent run, records
  the deadline, and enqueues ``parallel`` trial tasks: the lanes.
* :func:`run_automl_trial` (any worker) runs a trial (several, when they are quick);
  while budget and ``max_trials`` allow it enqueues its lane's next task, else it closes
  the lane. Whoever closes the
  last lane finalises: leaderboard, child runs, the winner refitted on every training row,
  scored on the holdout and registered as a new version of the model.

A run with a ``seed`` goes in rounds instead, so that it repeats however many workers
take part and in whatever order they finish: a round's trials are drawn at once
(:func:`kepler.ml.automl.search.plan_round`) and cut into one run per lane; the worker
that finishes a round's last trial draws the next round, queues every lane's run but one
and evaluates that one itself; when the budget or ``max_trials`` is spent it finalises
instead. Lanes wait for a round's slowest run: the price of repeatability, paid only when
a seed is given.

Enqueuing stops once the budget is spent; a trial under way stops after its current
validation fold, so a run ends at most one fold after its budget (then refits the winner).
"""

from kepler.server.jobs.automl.finalise import finalise_automl
from kepler.server.jobs.automl.lanes import run_automl_trial, start_automl, study_url
from kepler.server.jobs.automl.submit import check_automl, check_candidates, submit_automl
from kepler.server.jobs.automl.sweep import finalise_stale

__all__ = [
    "check_automl",
    "check_candidates",
    "finalise_automl",
    "finalise_stale",
    "run_automl_trial",
    "start_automl",
    "study_url",
    "submit_automl",
]
