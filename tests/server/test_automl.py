"""AutoML jobs in process with the real stores: lanes driven through a queue as workers
would take them, the MLflow record, and bad input refused before any task is queued."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from kepler.core.errors import BadParameter, DataError
from kepler.core.spec import parse
from kepler.ml.store import ModelStore
from kepler.server import automl
from kepler.server.automl_runs import AutoMLRuns
from kepler.server.datasets import DatasetStore
from kepler.server.jobs import FAILED, SUCCEEDED, JobStore
from kepler.server.settings import ServerSettings
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
    """The broker's part: tasks in, taken one at a time (what one worker does)."""

    def __init__(self) -> None:
        self.tasks: deque[tuple[str, list]] = deque()

    def send_task(self, name: str, args: list) -> None:
        self.tasks.append((name, args))

    def enqueue(self, job_id: str, lane: int) -> None:
        self.send_task(automl.AUTOML_TRIAL_TASK, [job_id, lane])

    def drain(self, settings: ServerSettings) -> list[dict]:
        out = []
        while self.tasks:
            name, args = self.tasks.popleft()
            if name == automl.AUTOML_TASK:
                out.append(automl.start_automl(*args, settings, self.enqueue))
            else:
                out.append(automl.run_automl_trial(*args, settings, self.enqueue))
        return out


def test_automl_job_runs_lanes_registers_winner_and_records_runs(
    settings: ServerSettings,
) -> None:
    dataset_id = _upload(settings, _events())
    jobs, queue = JobStore(settings.database_url), Queue()
    spec = parse(
        "automl y from x color into picker time_budget=60 seed=1 max_trials=4 parallel=2 "
        "algorithms=LogisticRegression,DecisionTreeClassifier"
    )
    datasets = DatasetStore(settings.dataset_store)
    job = automl.submit_automl(spec, dataset_id, datasets=datasets, jobs=jobs, celery=queue)
    assert job.spec["task"] == "classification" and job.spec["metric"] == "f1"
    assert list(queue.tasks) == [(automl.AUTOML_TASK, [dataset_id, job.id])]
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
    assert AutoMLRuns(settings.database_url).get(job.id).finalised  # type: ignore[union-attr]

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
    jobs, datasets = JobStore(settings.database_url), DatasetStore(settings.dataset_store)
    boards = []
    for model in ("first", "second"):
        queue = Queue()
        spec = parse(
            f"automl y from x color into {model} time_budget=300 seed=11 max_trials=5 "
            "parallel=1 algorithms=LogisticRegression,DecisionTreeClassifier,KNeighborsClassifier"
        )
        job = automl.submit_automl(spec, dataset_id, datasets=datasets, jobs=jobs, celery=queue)
        queue.drain(settings)
        result = jobs.get(job.id).result or {}
        boards.append(
            [(r["trial"], r["algorithm"], r["params"], r["score"]) for r in result["leaderboard"]]
        )
    assert boards[0] == boards[1] and len(boards[0]) >= 2


def test_trial_failures_end_the_job_with_the_message(settings: ServerSettings) -> None:
    frame = _events()
    frame["y"] = np.where(frame["x"] > 0, "a", np.where(frame["x"] > -1, "b", "c"))
    dataset_id = _upload(settings, frame)
    jobs, queue = JobStore(settings.database_url), Queue()
    spec = parse("automl y from x into d task=anomaly time_budget=30 max_trials=2")
    datasets = DatasetStore(settings.dataset_store)
    job = automl.submit_automl(spec, dataset_id, datasets=datasets, jobs=jobs, celery=queue)
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
    jobs, queue = JobStore(settings.database_url), Queue()
    datasets = DatasetStore(settings.dataset_store)
    with pytest.raises(error, match=fragment):
        automl.submit_automl(parse(line), dataset_id, datasets=datasets, jobs=jobs, celery=queue)
    assert not queue.tasks and jobs.list() == []
