"""AutoML end to end with real processes: SDK -> bridge -> two worker processes sharing
one Optuna study -> MLflow; the winner applies to raw events through the bridge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

import kepler as kp
from kepler._stack import LocalStack

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("automl-stack"), concurrency=2) as s:
        yield s


def machines(n: int, seed: int) -> pd.DataFrame:
    """Failures at night on hot machines: only the hour of `when` tells night from day."""
    rng = np.random.default_rng(seed)
    when = pd.Timestamp("2024-01-01") + pd.to_timedelta(
        rng.integers(0, 30 * 24 * 3600, size=n), unit="s"
    )
    temp = rng.normal(60, 15, size=n)
    line = rng.choice(["A", "B", "C"], size=n)
    night = (when.hour < 6) | (when.hour >= 22)
    failure = np.where(night & (temp > 55), "yes", "no")
    frame = pd.DataFrame({"when": when, "temp": temp, "line": line, "failure": failure})
    frame.loc[::19, "temp"] = np.nan
    return frame


def test_automl_spreads_trials_over_both_processes_and_registers_the_winner(
    stack: LocalStack,
) -> None:
    client = stack.client()
    options = {
        "target": "failure",
        "time_budget": "60s",
        "max_trials": 8,
        "parallel": 2,
        "seed": 5,
        "algorithms": ["DecisionTreeClassifier", "LogisticRegression", "KNeighborsClassifier"],
        "progress": False,
    }
    result = client.automl(machines(400, 0), into="night_shift", **options)
    assert (result.model, result.version, result.ref) == ("night_shift", 1, "night_shift@1")
    board = result.leaderboard
    assert isinstance(board, pd.DataFrame) and len(board) >= 1
    for column in ("rank", "algorithm", "params", "f1", "fit_seconds"):
        assert column in board.columns, column
    assert {"latency_ms_per_row", "model_mb", "feasible", "worker"} <= set(board.columns)
    assert list(board["rank"]) == list(range(1, len(board) + 1))
    assert board.iloc[0]["algorithm"] == result.algorithm
    assert result.counts["trials"] == 8

    # Trials ran in both pool processes of the worker (pid recorded per trial).
    pids = {int(w.rsplit(":", 1)[1]) for w in board["worker"]}
    worker_main = psutil.Process(stack.workers[0].pid)
    children = {p.pid for p in worker_main.children(recursive=True)}
    assert len(pids) == 2 and pids <= children, (pids, children)

    # The seed makes the run repeat across both processes, whichever takes which trial.
    again = client.automl(machines(400, 0), into="night_shift_again", **options)
    columns = ["algorithm", "params", "f1"]
    assert again.leaderboard[columns].to_dict("records") == board[columns].to_dict("records")
    assert (again.algorithm, again.counts) == (result.algorithm, result.counts)

    # The winner scores raw events through the bridge: `when` is expanded the same way.
    fresh = machines(300, 1)
    scored = client.apply(fresh.drop(columns="failure"), "night_shift")
    accuracy = (scored["predicted(failure)"] == fresh["failure"]).mean()
    assert accuracy > 0.9, accuracy
    summary = client.summary("night_shift")
    assert summary["algorithm"] == result.algorithm
    assert summary["features"] == ["when", "temp", "line"]

    from mlflow import MlflowClient

    tracking = f"sqlite:///{Path(stack.home) / 'mlflow.db'}"
    mlflow = MlflowClient(tracking, tracking)
    parent = mlflow.get_run(str(result.parent_run_id))
    assert parent.data.metrics["n_trials"] == 8
    assert mlflow.get_run(str(result.run_id)).data.tags["mlflow.parentRunId"] == (
        result.parent_run_id
    )


def test_automl_bad_input_is_refused_before_the_upload(stack: LocalStack) -> None:
    client = stack.client()
    frame = machines(100, 2)
    before = len(client.jobs())
    with pytest.raises(kp.BadParameter, match="rmse, mae, r2"):
        client.automl(frame, target="temp", into="m", task="regression", metric="f1")
    with pytest.raises(kp.DataError, match="constant"):
        client.automl(frame.assign(failure="no"), target="failure", into="m", time_budget=30)
    assert len(client.jobs()) == before


def test_the_anomaly_detection_preset_runs_end_to_end_and_its_detector_applies(
    stack: LocalStack,
) -> None:
    """use_case=anomaly_detection through the real stack: detectors fitted without the
    label over both worker processes, scored by it, the false-positive cap enforced, and
    the registered detector flags new events through the bridge."""
    client = stack.client()

    def readings(n: int, odd: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        values = np.vstack([rng.normal(size=(n, 3)), rng.normal(loc=6.0, size=(odd, 3))])
        frame = pd.DataFrame(values, columns=["a", "b", "c"])
        return frame.assign(broken=[0] * n + [1] * odd)

    result = client.automl(
        readings(600, 20, 0),
        target="broken",
        into="pump_anomalies",
        use_case="anomaly_detection",
        max_trials=6,
        parallel=2,
        seed=0,
        time_budget="60s",
        progress=False,
    )
    board = result.leaderboard
    assert result.counts["trials"] == 6
    assert set(board["algorithm"]) <= {"IsolationForest", "LocalOutlierFactor"}
    assert {"roc_auc", "false_positive_rate"} <= set(board.columns)
    winner = board.iloc[0]
    assert bool(winner["feasible"]) and winner["false_positive_rate"] <= 0.01
    assert result.metrics["roc_auc"] > 0.9  # the holdout, scored by the label
    fresh = readings(300, 10, 1)
    scored = client.apply(fresh.drop(columns="broken"), "pump_anomalies")
    flags = scored["isOutlier"].to_numpy()
    assert set(np.unique(flags)) <= {0, 1}
    assert flags[-10:].mean() >= 0.8  # the odd readings are flagged...
    assert flags[:-10].mean() <= 0.03  # ...and few normal ones
