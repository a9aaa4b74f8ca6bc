"""Shared state of running AutoML jobs, in the jobs database (:mod:`kepler.server.db`):
deadline, lanes, finalising.

Trial tasks run in any worker; this table is what they agree on, including how many
trials were started (so ``max_trials`` holds exactly however many lanes run). Each of the run's
``parallel`` lanes is a chain of trial tasks (a trial enqueues the next while budget is
left). A lane that stops closes itself; the one that closes the last lane finalises the
run. Both steps are single SQL updates, so two workers can never both finalise.

A seeded run goes in rounds instead (see :mod:`kepler.ml.automl.search`): a round is a row
keyed by (job, round number), so inserting it is how one worker, and only one, claims the
drawing of the next round's configurations.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from kepler.server.db import Database, from_row, jobs_table
from kepler.server.db import automl_rounds_table as _rounds
from kepler.server.db import automl_runs_table as _runs


@dataclass(frozen=True)
class Round:
    number: int
    first: int
    size: int

    @property
    def trials(self) -> range:
        return range(self.first, self.first + self.size)


@dataclass(frozen=True)
class AutoMLRun:
    job_id: str
    dataset_id: str
    study: str
    parent_run_id: str | None
    started_at: float
    deadline: float
    lanes_open: int
    finalised: bool
    trials_claimed: int = 0


def _run(m: Any) -> AutoMLRun:
    return from_row(AutoMLRun, m, decode={"finalised": bool})


class AutoMLRuns:
    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def engine(self) -> Engine:
        return self.db.engine

    def create(
        self,
        job_id: str,
        dataset_id: str,
        study: str,
        parent_run_id: str | None,
        budget_s: float,
        lanes: int,
    ) -> AutoMLRun:
        now = time.time()
        with self.engine.begin() as conn:
            conn.execute(
                insert(_runs).values(
                    job_id=job_id,
                    dataset_id=dataset_id,
                    study=study,
                    parent_run_id=parent_run_id,
                    started_at=now,
                    deadline=now + budget_s,
                    lanes_open=lanes,
                    finalised=0,
                    trials_claimed=0,
                )
            )
        run = self.get(job_id)
        assert run is not None
        return run

    def get(self, job_id: str) -> AutoMLRun | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_runs).where(_runs.c.job_id == job_id)).first()
        return None if row is None else _run(row._mapping)

    def of_model(self, model: str | None, *, limit: int = 200) -> list[AutoMLRun]:
        """The runs whose winner goes into ``model`` (None: any model), newest first."""
        query = (
            select(_runs)
            .join(jobs_table, jobs_table.c.id == _runs.c.job_id)
            .order_by(_runs.c.started_at.desc())
            .limit(limit)
        )
        if model is not None:
            query = query.where(jobs_table.c.model == model)
        with self.engine.connect() as conn:
            return [_run(row._mapping) for row in conn.execute(query)]

    def claim_trial(self, job_id: str, max_trials: int | None) -> bool:
        """Count one more trial; False once ``max_trials`` were claimed (exact across
        workers: one SQL update each)."""
        query = update(_runs).where(_runs.c.job_id == job_id)
        if max_trials is not None:
            query = query.where(_runs.c.trials_claimed < max_trials)
        with self.engine.begin() as conn:
            done = conn.execute(query.values(trials_claimed=_runs.c.trials_claimed + 1))
        return done.rowcount == 1

    def close_lane(self, job_id: str) -> bool:
        """Close one lane; True for the caller that closed the last one."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(_runs)
                .where(_runs.c.job_id == job_id, _runs.c.lanes_open > 0)
                .values(lanes_open=_runs.c.lanes_open - 1)
            )
            if done.rowcount == 0:
                return False
            left = conn.execute(select(_runs.c.lanes_open).where(_runs.c.job_id == job_id)).scalar()
        return left == 0

    def overdue(self, before: float) -> list[AutoMLRun]:
        """Runs not finalised whose deadline passed before ``before``."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_runs).where(_runs.c.finalised == 0, _runs.c.deadline < before)
            ).all()
        return [_run(row._mapping) for row in rows]

    def claim_finalise(self, job_id: str) -> bool:
        """True for exactly one caller: the one that finalises the run."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(_runs)
                .where(_runs.c.job_id == job_id, _runs.c.finalised == 0)
                .values(finalised=1)
            )
        return done.rowcount == 1

    def claim_round(
        self, job_id: str, number: int, first: int, size: int, drawer: int
    ) -> Round | None:
        """Record round ``number``, decided by task ``drawer``; the round for that task
        (also when it claimed it before and was redelivered), None for any other."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(_rounds).values(
                        job_id=job_id, round=number, first=first, size=size, drawer=drawer
                    )
                )
        except IntegrityError:
            with self.engine.connect() as conn:
                row = conn.execute(
                    select(_rounds).where(_rounds.c.job_id == job_id, _rounds.c.round == number)
                ).first()
            if row is None or row._mapping["drawer"] != drawer:
                return None
            return Round(number, row._mapping["first"], row._mapping["size"])
        return Round(number, first, size)

    def round_of(self, job_id: str, trial: int) -> Round | None:
        """The round that holds trial number ``trial``."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_rounds).where(
                    _rounds.c.job_id == job_id,
                    _rounds.c.first <= trial,
                    _rounds.c.first + _rounds.c.size > trial,
                )
            ).first()
        if row is None:
            return None
        return Round(row._mapping["round"], row._mapping["first"], row._mapping["size"])
