"""What an AutoML run's tasks share: its spec, its candidates, its prepared data (kept per
process in the context's :class:`PreparedCache`), its progress message and its failing."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from kepler.core.automl import AutoMLSpec
from kepler.server.stores.jobs import Job, JobStore

if TYPE_CHECKING:
    from kepler.ml.automl.data import Prepared
    from kepler.server.context import ServerContext

_PREPARED_KEEP = 2


class PreparedCache:
    """Prepared data by job, the most recent few: every trial of a run in this process
    reuses it (one per process, in its context)."""

    def __init__(self, keep: int = _PREPARED_KEEP) -> None:
        self.keep = keep
        self._items: OrderedDict[str, Prepared] = OrderedDict()

    def get(self, job_id: str) -> Prepared | None:
        return self._items.get(job_id)

    def put(self, job_id: str, prepared: Prepared) -> None:
        self._items[job_id] = prepared
        while len(self._items) > self.keep:
            self._items.popitem(last=False)


def spec_of(job: Job) -> AutoMLSpec:
    return AutoMLSpec.from_dict(job.spec)


def pool(spec: AutoMLSpec, engine_task: str) -> list[Any]:
    """The candidate algorithms the spec allows for ``engine_task`` (errors say why none)."""
    from kepler.ml.automl.space import candidates

    return candidates(
        engine_task,
        algorithms=spec.algorithms,
        interpretable=spec.interpretable,
        robust=spec.robust,
    )


def load(ctx: ServerContext, run_dataset: str, job: Job) -> Prepared:
    from kepler.ml.automl.data import prepare

    cached = ctx.prepared.get(job.id)
    if cached is not None:
        return cached
    spec = spec_of(job)
    frame = ctx.datasets.read_frame(run_dataset)
    assert spec.task is not None and spec.metric is not None
    prepared = prepare(frame, spec, spec.task, spec.metric)
    ctx.prepared.put(job.id, prepared)
    return prepared


def report(
    jobs: JobStore, job_id: str, study: Any, spec: AutoMLSpec, t0: float, deadline: float
) -> None:
    from kepler.ml.automl import search

    assert spec.metric is not None
    n = search.counts(study)
    rows = search.leaderboard(study, spec.metric)
    best = next((r for r in rows if r["feasible"]), None)
    done = n["complete"] + n["pruned"] + n["failed"]
    text = f"{done} trials done ({n['pruned']} pruned)"
    if best is not None:
        text += f", best so far {spec.metric}={best['score']:.4g} ({best['algorithm']})"
    fraction = 0.05 + 0.85 * min(1.0, (time.time() - t0) / max(deadline - t0, 1e-9))
    if spec.max_trials:
        fraction = max(fraction, 0.05 + 0.85 * min(1.0, done / spec.max_trials))
    jobs.progress(job_id, fraction, text)


def fail_once(ctx: ServerContext, job_id: str, study: str, error: dict[str, Any]) -> None:
    """Fail the job, once: whoever claims the finalising; its study goes with it."""
    if ctx.automl_runs.claim_finalise(job_id):
        ctx.jobs.fail(job_id, error)
        discard_study(ctx, study)


def discard_study(ctx: ServerContext, url: str) -> None:
    """Remove a finished run's journal file (its trials live on in the job's result and
    in MLflow); a study in a database stays there."""
    ctx.studies.discard(url)
