"""AutoML jobs in process with the real stores: lanes driven through a queue as workers
would take them, the MLflow record, and bad input refused before any task is queued."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from kepler.core.errors import BadParameter, DataError
from kepler.core.spec import parse
from kepler.ml.store import ModelStore
from kepler.server import queue as queue_names
from kepler.server.context import ServerContext
from kepler.server.datasets import DatasetStore
from kepler.server.db import Database
from kepler.server.jobs import automl
from kepler.server.jobs.automl import sweep as automl_sweep
from kepler.server.settings import ServerSettings
from kepler.server.stores.automl_runs import AutoMLRuns
from kepler.server.stores.jobs import FAILED, SUCCEEDED, Job, JobStore
from kepler_bridge.ingest import ingest_chunk


def _upload(settings: ServerSettings, frame: pd.DataFrame) -> str:
    store = DatasetStore(settings.dataset_store)
    dataset_id = store.create("csv")
    body = frame.to_csv(index=False, lineterminator="\r\n").encode()

    async def stream() -> AsyncIterator[bytes]:
        yield body

    asyncio.run(
        ingest_chunk(
            store,
            dataset_id,
            0,
            stream(),
            fmt="csv",
            max_chunk_bytes=settings.max_chunk_bytes,
            max_dataset_bytes=settings.max_dataset_bytes,
        )
    )
    store.complete(dataset_id, 1, None)
    return dataset_id


def _events(n: int = 160, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    color = rng.choice(["red", "blue"], size=n)
    return pd.DataFrame(
        {"x": x, "color": color, "y": np.where(x + (color == "red") > 0.5, "yes", "no")}
    )


class Queue:
    """The broker's part: tasks in, taken one at a time (what one worker does); ``order``
    picks which waiting task goes next, as different workers and timings would."""

    def __init__(self, order: str = "fifo", seed: int = 0) -> None:
        self.tasks: deque[tuple[str, list]] = deque()
        self.order = order
        self.rng = random.Random(seed)
        self.taken: list[list] = []
        self._ctx: ServerContext | None = None

    def ctx(self, settings: ServerSettings) -> ServerContext:
        """The worker's context, this queue its broker (one worker process: its caches
        last across the tasks it takes)."""
        if self._ctx is None:
            self._ctx = ServerContext(settings, component="worker", celery=self)
        return self._ctx

    def send_task(self, name: str, args: list, **_: object) -> None:  # task_id= etc.
        self.tasks.append((name, args))

    def take(self) -> tuple[str, list]:
        if self.order == "lifo":
            return self.tasks.pop()
        if self.order == "shuffle":
            self.tasks.rotate(-self.rng.randrange(len(self.tasks)))
        return self.tasks.popleft()

    def run(self, task: tuple[str, list], settings: ServerSettings) -> dict:
        name, args = task
        self.taken.append(args)
        if name == queue_names.AUTOML_TASK:
            return automl.start_automl(self.ctx(settings), *args)
        job_id, lane, *trial = args
        return automl.run_automl_trial(self.ctx(settings), job_id, lane, *trial)

    def drain(self, settings: ServerSettings) -> list[dict]:
        out = []
        while self.tasks:
            out.append(self.run(self.take(), settings))
        return out


def test_automl_job_runs_lanes_registers_winner_and_records_runs(
    settings: ServerSettings,
) -> None:
    dataset_id = _upload(settings, _events())
    jobs, queue = JobStore(Database(settings.database_url)), Queue()
    spec = parse(  # no seed: lanes that ask as they go
        "automl y from x color into picker time_budget=60 max_trials=4 parallel=2 "
        "algorithms=LogisticRegression,DecisionTreeClassifier"
    )
    job = automl.submit_automl(queue.ctx(settings), spec, dataset_id)
    assert job.spec["task"] == "classification" and job.spec["metric"] == "f1"
    assert list(queue.tasks) == [(queue_names.AUTOML_TASK, [dataset_id, job.id])]
    queue.tasks.append(queue.tasks[0])  # a redelivered start must not start twice
    queue.drain(settings)

    done = jobs.get(job.id)
    assert done.state == SUCCEEDED, done.error
    result = done.result or {}
    assert (result["model"], result["version"]) == ("picker", 1)
    assert result["counts"]["trials"] == 4  # max_trials held across both lanes
    board = result["leaderboard"]
    assert [r["rank"] for r in board] == list(range(1, len(board) + 1))
    assert result["algorithm"] == board[0]["algorithm"]
    assert {"f1", "accuracy", "roc_auc"} <= set(board[0]["metrics"])
    assert {"f1", "accuracy"} <= set(result["metrics"])  # holdout metrics of the refit
    first = next(r for r in board if r["trial"] == 0)  # the search starts from the default
    assert (first["algorithm"], first["params"]) == (
        "LogisticRegression",
        {"C": 1.0, "class_weight": None},
    )
    assert AutoMLRuns(Database(settings.database_url)).get(job.id).finalised  # type: ignore[union-attr]

    client = MlflowClient(settings.tracking_uri, settings.tracking_uri)
    parent = client.get_run(result["parent_run_id"])
    assert parent.data.tags["kepler.automl"] == "true"
    assert parent.data.metrics["n_trials"] == 4
    exp = parent.info.experiment_id
    children = client.search_runs(
        [exp], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    trial_runs = [r for r in children if "kepler.automl.trial" in r.data.tags]
    assert len(trial_runs) == len(board)
    registered = client.get_run(result["run_id"])
    assert registered.data.tags["mlflow.parentRunId"] == parent.info.run_id

    pipeline, meta = ModelStore(settings.tracking_uri, settings.artifact_location).load("picker", 1)
    assert meta.algorithm == result["algorithm"] and meta.features == ["x", "color"]
    raw = pd.DataFrame({"x": ["2.5", "-3", ""], "color": ["red", "blue", ""]})
    from kepler.ml.frames import conform

    assert list(pipeline.predict(conform(raw, meta.feature_types))[:2]) == ["yes", "no"]


def test_seeded_serial_job_repeats_its_trials_and_winner(settings: ServerSettings) -> None:
    dataset_id = _upload(settings, _events(seed=4))
    jobs = JobStore(Database(settings.database_url))
    boards = []
    for model in ("first", "second"):
        queue = Queue()
        spec = parse(
            f"automl y from x color into {model} time_budget=300 seed=11 max_trials=5 "
            "parallel=1 algorithms=LogisticRegression,DecisionTreeClassifier,KNeighborsClassifier"
        )
        job = automl.submit_automl(queue.ctx(settings), spec, dataset_id)
        queue.drain(settings)
        result = jobs.get(job.id).result or {}
        boards.append(
            [(r["trial"], r["algorithm"], r["params"], r["score"]) for r in result["leaderboard"]]
        )
    assert boards[0] == boards[1] and len(boards[0]) >= 2


SEEDED = (
    "automl y from x color into {model} time_budget=300 seed=3 max_trials=9 parallel=3 "
    "algorithms=LogisticRegression,DecisionTreeClassifier,KNeighborsClassifier"
)


def _board(job: dict) -> list[tuple]:
    return [(r["trial"], r["algorithm"], r["params"], r["score"]) for r in job["leaderboard"]]


def _submit(settings: ServerSettings, dataset_id: str, line: str, queue: Queue) -> Job:
    return automl.submit_automl(queue.ctx(settings), parse(line), dataset_id)


def _succeeded(settings: ServerSettings, job_id: str) -> dict:
    """The job's result, once it succeeded."""
    done = JobStore(Database(settings.database_url)).get(job_id)
    assert done.state == SUCCEEDED, done.error
    return done.result or {}


def _undisturbed_board(settings: ServerSettings, dataset_id: str, model: str) -> list[tuple]:
    """The leaderboard of the seeded run, its tasks taken in order by one worker."""
    queue = Queue()
    job = _submit(settings, dataset_id, SEEDED.format(model=model), queue)
    queue.drain(settings)
    return _board(_succeeded(settings, job.id))


def test_seeded_parallel_job_repeats_whatever_order_the_workers_take_trials(
    settings: ServerSettings,
) -> None:
    """Three lanes, trials taken first-in-first-out, last-in-first-out and shuffled (as
    workers of different speeds would): the same configurations, scores and winner."""
    dataset_id = _upload(settings, _events(seed=5))
    results, queues = [], []
    for model, order in (("fifo", "fifo"), ("lifo", "lifo"), ("shuffled", "shuffle")):
        queue = Queue(order, seed=len(model))
        job = _submit(settings, dataset_id, SEEDED.format(model=model), queue)
        queue.drain(settings)
        results.append(_succeeded(settings, job.id))
        queues.append(queue)
    boards = [_board(r) for r in results]
    assert boards[0] == boards[1] == boards[2]
    counts = [r["counts"] for r in results]
    assert counts[0] == counts[1] == counts[2]  # the same trials pruned, too
    assert counts[0]["trials"] == 9 and counts[0]["running"] == 0  # max_trials, all ended
    assert len({(r["algorithm"], str(r["params"])) for r in results[0]["leaderboard"]}) > 3
    assert [(r["algorithm"], r["params"]) for r in results[1:]] == [
        (results[0]["algorithm"], results[0]["params"])
    ] * 2
    # The orders really differed: the trials were evaluated in different sequences.
    sequences = [[a[2] for a in q.taken if len(a) == 3 and a[2] is not None] for q in queues]
    assert len({tuple(s) for s in sequences}) > 1
    # Round 0: a trial per lane; round 1: two per lane (3-4, 5-6, 7-8), one run continued
    # by the worker that drew it, the other two queued.
    starts = {a[2] for a in queues[0].taken if len(a) == 3 and a[2] is not None}
    assert {0, 1, 2} < starts and len(starts - {0, 1, 2}) == 2 and starts <= {0, 1, 2, 3, 5, 7}
    study_files = list((Path(settings.home) / "automl").glob("*.journal*"))
    assert study_files == []  # each finished run removed its journal


def test_seeded_round_survives_redelivery_and_a_lost_worker(settings: ServerSettings) -> None:
    """A drawn trial whose worker died (its task taken, never finished) runs again when
    the broker redelivers it; a task redelivered after its trial finished does nothing."""
    dataset_id = _upload(settings, _events(seed=6))
    queue = Queue()
    job = _submit(settings, dataset_id, SEEDED.format(model="survivor"), queue)
    queue.run(queue.take(), settings)  # start: draws round 0, queues its three trials
    lost = queue.take()  # a worker takes trial 0 and dies before finishing it
    assert lost[1][2] == 0
    queue.run(queue.take(), settings)  # trial 1
    queue.run(queue.take(), settings)  # trial 2: round 0 is not complete, nothing drawn
    assert not queue.tasks
    queue.tasks.append(lost)  # the broker redelivers the unacknowledged task
    queue.tasks.append((queue_names.AUTOML_TRIAL_TASK, [job.id, 1, 1]))  # and a finished one
    queue.drain(settings)
    result = _succeeded(settings, job.id)
    assert result["counts"]["trials"] == 9 and result["counts"]["running"] == 0
    assert _board(result) == _undisturbed_board(settings, dataset_id, "undisturbed")


class Killed(BaseException):
    """A worker process killed mid-task: no ``except Exception`` handler runs."""


def test_seeded_run_recovers_when_the_worker_drawing_a_round_dies(
    settings: ServerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start task dies while drawing round 0, later a trial task dies while drawing
    round 1 (each after claiming the round): redelivered, each recognises its own claim
    and finishes the drawing; the run ends as an undisturbed one does."""
    from kepler.ml.automl import search

    dataset_id = _upload(settings, _events(seed=8))
    plan_round = search.plan_round
    deaths = {"left": 0}

    def dies_once(*args: object, **kwargs: object) -> list[int]:
        if deaths["left"]:
            deaths["left"] -= 1
            raise Killed()
        return plan_round(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(search, "plan_round", dies_once)
    queue = Queue()
    job = _submit(settings, dataset_id, SEEDED.format(model="phoenix"), queue)
    start = queue.take()
    deaths["left"] = 1
    with pytest.raises(Killed):
        queue.run(start, settings)
    assert not queue.tasks  # died before queuing any trial
    queue.run(start, settings)  # redelivered
    round0 = [queue.take() for _ in range(3)]
    assert [t[1][2] for t in round0] == [0, 1, 2]
    queue.run(round0[0], settings)
    queue.run(round0[1], settings)
    deaths["left"] = 1
    with pytest.raises(Killed):
        queue.run(round0[2], settings)  # finished round 0, died drawing round 1
    assert not queue.tasks
    queue.tasks.append(round0[2])  # redelivered
    queue.drain(settings)
    result = _succeeded(settings, job.id)
    assert _board(result) == _undisturbed_board(settings, dataset_id, "calm")


def _past_deadline(settings: ServerSettings, job_id: str, seconds: float) -> None:
    """Move the run's deadline into the past (its budget spent long ago)."""
    from sqlalchemy import update

    from kepler.server.db import automl_runs_table as _runs

    runs = AutoMLRuns(Database(settings.database_url))
    with runs.engine.begin() as conn:
        conn.execute(
            update(_runs).where(_runs.c.job_id == job_id).values(deadline=time.time() - seconds)
        )


def _lose_round_one(settings: ServerSettings, model: str, queue: Queue) -> Job:
    """A seeded run whose round 1 tasks the broker lost: round 0 done, round 1 drawn,
    the drawer's own part evaluated, the other lanes' tasks gone for good."""
    dataset_id = _upload(settings, _events(seed=9))
    job = _submit(settings, dataset_id, SEEDED.format(model=model), queue)
    queue.run(queue.take(), settings)  # start: round 0, three tasks
    for _ in range(3):
        queue.run(queue.take(), settings)  # the last one draws round 1 and queues two
    assert len(queue.tasks) == 2
    queue.tasks.clear()  # lost: no worker will ever take them
    assert JobStore(Database(settings.database_url)).get(job.id).state not in (SUCCEEDED, FAILED)
    return job


def test_a_run_that_lost_its_tasks_is_finalised_by_the_sweep(
    settings: ServerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing already accepted is lost: once the deadline is past and no trial moved for
    the grace period, the beat's sweep queues the finalising, which registers the best
    of the trials that finished and marks the lost ones failed with the reason."""
    queue = Queue()
    job = _lose_round_one(settings, "orphan", queue)
    assert automl_sweep.sweep(queue.ctx(settings), time.time()) == []  # within its budget: waits
    _past_deadline(settings, job.id, 1000)
    assert automl_sweep.sweep(queue.ctx(settings), time.time()) == []  # trials moved just now
    monkeypatch.setattr(automl_sweep, "STALE_AFTER_S", 0.5)
    time.sleep(1.0)
    run = AutoMLRuns(Database(settings.database_url)).get(job.id)
    assert run is not None
    last, grace = automl_sweep.quiet_since(run, queue.ctx(settings).studies)
    time.sleep(max(0.0, last + grace - time.time()) + 0.1)
    assert automl_sweep.sweep(queue.ctx(settings), time.time()) == [job.id]
    assert list(queue.tasks) == [(queue_names.AUTOML_FINALISE_TASK, [job.id])]
    result = automl.finalise_stale(queue.ctx(settings), job.id)
    assert result["model"] == "orphan" and result["version"] == 1
    done = _succeeded(settings, job.id)
    counts = done["counts"]
    assert counts["running"] == 0 and counts["failed"] >= 4  # round 1's lost lanes
    assert counts["complete"] + counts["pruned"] + counts["failed"] == counts["trials"]
    assert done["leaderboard"][0]["trial"] < 6  # from the trials that did finish
    # once finalised, neither the sweep nor a duplicate message does anything
    assert automl_sweep.sweep(queue.ctx(settings), time.time()) == []
    assert automl.finalise_stale(queue.ctx(settings), job.id) == {"skipped": True}


def test_the_sweep_leaves_a_run_whose_job_already_ended_alone(
    settings: ServerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = Queue()
    job = _lose_round_one(settings, "ended", queue)
    JobStore(Database(settings.database_url)).fail(job.id, {"code": "internal", "message": "gone"})
    _past_deadline(settings, job.id, 1000)
    monkeypatch.setattr(automl_sweep, "STALE_AFTER_S", 0.0)
    run = AutoMLRuns(Database(settings.database_url)).get(job.id)
    assert run is not None
    last, grace = automl_sweep.quiet_since(run, queue.ctx(settings).studies)
    time.sleep(max(0.0, last + grace - time.time()) + 0.1)
    assert automl_sweep.sweep(queue.ctx(settings), time.time()) == [job.id]
    assert automl.finalise_stale(queue.ctx(settings), job.id) == {"skipped": True}
    assert JobStore(Database(settings.database_url)).get(job.id).state == FAILED  # not registered
    assert automl_sweep.sweep(queue.ctx(settings), time.time()) == []  # and no longer looked at


def test_the_beat_sweeps_for_stale_runs(
    settings: ServerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kepler beat`` runs the sweep: a stale run's finalising reaches the broker."""
    import threading

    from kepler.server import beat
    from kepler.server import context as context_module

    queue = Queue()
    job = _lose_round_one(settings, "beaten", queue)
    _past_deadline(settings, job.id, 1000)
    monkeypatch.setattr(automl_sweep, "STALE_AFTER_S", 0.0)
    monkeypatch.setattr(context_module, "make_celery", lambda _: queue)  # the broker's part
    run = AutoMLRuns(Database(settings.database_url)).get(job.id)
    assert run is not None
    last, grace = automl_sweep.quiet_since(run, queue.ctx(settings).studies)
    time.sleep(max(0.0, last + grace - time.time()) + 0.1)  # quiet for long enough
    stop = threading.Event()
    thread = threading.Thread(target=beat.run_beat, args=(settings, stop, 0.05))
    thread.start()
    deadline = time.time() + 20
    while not queue.tasks and time.time() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(10)
    assert (queue_names.AUTOML_FINALISE_TASK, [job.id]) in queue.tasks


def test_a_trial_left_running_by_a_lost_lane_is_failed_at_the_end(
    settings: ServerSettings,
) -> None:
    """Unseeded lanes ask as they go: a trial asked by a worker that then died is marked
    failed (with why) when the run finalises, not left running for ever."""
    from kepler.ml.automl import search

    dataset_id = _upload(settings, _events(seed=7))
    jobs = JobStore(Database(settings.database_url))
    queue = Queue()
    spec = parse(
        "automl y from x color into orphan time_budget=60 max_trials=3 parallel=1 "
        "algorithms=LogisticRegression"
    )
    job = automl.submit_automl(queue.ctx(settings), spec, dataset_id)
    queue.run(queue.take(), settings)
    run = AutoMLRuns(Database(settings.database_url)).get(job.id)
    assert run is not None
    search.load_study(search.storage(run.study), job.id, seed=None).ask()  # then it died
    queue.drain(settings)
    result = jobs.get(job.id).result or {}
    assert result["counts"]["running"] == 0 and result["counts"]["failed"] == 1


def test_trial_failures_end_the_job_with_the_message(settings: ServerSettings) -> None:
    frame = _events()
    frame["y"] = np.where(frame["x"] > 0, "a", np.where(frame["x"] > -1, "b", "c"))
    dataset_id = _upload(settings, frame)
    jobs, queue = JobStore(Database(settings.database_url)), Queue()
    spec = parse("automl y from x into d task=anomaly time_budget=30 max_trials=2")
    job = automl.submit_automl(queue.ctx(settings), spec, dataset_id)
    queue.drain(settings)
    failed = jobs.get(job.id)
    assert failed.state == FAILED
    assert "two-valued label" in (failed.error or {})["message"]


@pytest.mark.parametrize(
    ("line", "frame_edit", "error", "fragment"),
    [
        ("automl nope from x into m time_budget=30", None, DataError, "'nope' is not in"),
        ("automl y from x into m time_budget=30", "constant", DataError, "constant"),
        ("automl y from x into m time_budget=30", "few", DataError, "too few"),
        ("automl y from x into m time_budget=2", None, BadParameter, "too short"),
        ("automl y from x into m metric=rmse time_budget=30", None, BadParameter, "f1"),
        (
            "automl y from x into m interpretable=t algorithms=KNeighborsClassifier",
            None,
            BadParameter,
            "interpretable",
        ),
    ],
)
def test_bad_input_is_refused_before_any_task_is_queued(
    settings: ServerSettings, line: str, frame_edit: str | None, error: type, fragment: str
) -> None:
    frame = _events()
    if frame_edit == "constant":
        frame["y"] = "same"
    elif frame_edit == "few":
        frame = frame.head(12)
    dataset_id = _upload(settings, frame)
    jobs, queue = JobStore(Database(settings.database_url)), Queue()
    with pytest.raises(error, match=fragment):
        automl.submit_automl(queue.ctx(settings), parse(line), dataset_id)
    assert not queue.tasks and jobs.list() == []
