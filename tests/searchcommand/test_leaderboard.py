"""`| kepler leaderboard <automl job | model>` as splunkd runs it, against a real bridge and
worker: the trials of an AutoML search run through `| kepler automl`, found by the model,
the version, the job id or `*`; bad targets answered with one ERROR."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from kepler._stack import LocalStack, wait_until
from tests.splunk.harness import chunks
from tests.splunk.kepler_command import run_fit, sensor_events, splunkd

pytestmark = pytest.mark.system
FIELDS = ["_time", "temp", "vibration", "site", "failure"]
AUTOML = [
    "automl",
    "failure",
    "from",
    "temp",
    "vibration",
    "into",
    "pump_auto",
    "time_budget=60",
    "max_trials=4",
    "seed=1",
    "algorithms=DecisionTreeClassifier,LogisticRegression",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("leaderboard-stack")) as s:
        yield s


@pytest.fixture(scope="module")
def searched(stack: LocalStack, script: Path) -> list[dict]:
    """What `| kepler automl ...` answered: its leaderboard, best first."""
    cmd = splunkd(script, stack.url, stack.token)
    _, replies = run_fit(cmd, AUTOML, chunks(sensor_events(400), 200, FIELDS))
    assert cmd.close() == 0, cmd.stderr
    rows = replies[-1].records()
    assert rows and rows[0]["model"] == "pump_auto", rows
    cmd = splunkd(script, stack.url, stack.token)
    _, replies = run_fit(
        cmd,
        ["fit", "LogisticRegression", "failure", "from", "temp", "into", "plain"],
        chunks(sensor_events(200), 200, FIELDS),
    )
    assert cmd.close() == 0, cmd.stderr
    return rows


def same(value: object, cell: str) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value) == cell
    return math.isclose(float(value), float(cell), rel_tol=1e-5)  # the CSV's 6 digits


def board(stack: LocalStack, script: Path, *args: str) -> list[dict]:
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["leaderboard", *args])
    assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
    rows = cmd.execute(b"", finished=True).records()
    assert cmd.close() == 0, cmd.stderr
    return rows


def refused(stack: LocalStack, script: Path, *args: str) -> str:
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["leaderboard", *args])
    errors = [text for level, text in info.messages if level == "ERROR"]
    assert len(errors) == 1, info.metadata
    assert cmd.close() == 1
    assert "Traceback" not in errors[0] and "Traceback" not in cmd.stderr
    return errors[0]


def test_leaderboard_of_a_model_is_its_automl_searchs_trials(
    stack: LocalStack, script: Path, searched: list[dict]
) -> None:
    rows = board(stack, script, "pump_auto")
    assert len(rows) == len(searched) >= 2
    assert [r["rank"] for r in rows] == [str(i) for i in range(1, len(rows) + 1)]
    for got, want in zip(rows, searched, strict=True):
        assert (got["rank"], got["algorithm"]) == (want["rank"], want["algorithm"])
        assert got["fit_seconds"] == want["fit_seconds"]
        assert got["latency_ms_per_row"] == want["latency_ms_per_row"]
        assert got["accuracy"] == want["accuracy"]
        params = {
            k.removeprefix("param."): v for k, v in want.items() if k.startswith("param.") and v
        }
        # The automl answer's cells are Splunk's text (6 digits, None as empty).
        shown = {k: v for k, v in json.loads(got["params"]).items() if v is not None}
        assert shown.keys() == params.keys()
        assert all(same(shown[k], params[k]) for k in params), (shown, params)
        assert got["status"] == "complete" and got["model"] == "pump_auto"
    # The search's score, best first (a classifier's metric: greater is better), the metric
    # also a column of its own; the winner's version.
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True) and rows[0]["metric"] in rows[0]
    assert rows[0]["version"] == "1" and all(r["version"] == "" for r in rows[1:])
    assert rows[0]["job_state"] == "succeeded"


def test_the_job_id_the_version_and_star_find_the_same_run(
    stack: LocalStack, script: Path, searched: list[dict]
) -> None:
    by_model = board(stack, script, "pump_auto")
    job_id = by_model[0]["job_id"]
    jobs = board_jobs(stack, script)
    assert job_id in {j["job_id"] for j in jobs if j["kind"] == "automl"}
    assert board(stack, script, job_id) == by_model
    assert board(stack, script, "pump_auto@1") == by_model
    assert board(stack, script, '"*"') == by_model


def board_jobs(stack: LocalStack, script: Path) -> list[dict]:
    cmd = splunkd(script, stack.url, stack.token)
    cmd.getinfo(["jobs"])
    rows = cmd.execute(b"", finished=True).records()
    assert cmd.close() == 0
    return rows


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ([], "leaderboard takes one AutoML job id or model"),
        (["pump_auto", "extra"], "leaderboard takes one AutoML job id or model"),
        (["plain"], "no AutoML run made plain"),
        (["pump_auto@7"], "no AutoML run made pump_auto version 7"),
        (["pump@x"], "must be a positive whole number"),
    ],
)
def test_bad_targets_are_one_error_saying_what_to_name(
    stack: LocalStack, script: Path, searched: list[dict], args: list[str], says: str
) -> None:
    assert says in refused(stack, script, *args)


def test_a_search_still_running_shows_the_trials_finished_so_far(
    stack: LocalStack, script: Path, searched: list[dict]
) -> None:
    """Last in this module: the search runs out its budget in the stack's worker."""
    cmd = splunkd(script, stack.url, stack.token)
    live = [*AUTOML[:6], "pump_live", "time_budget=90", "seed=2", AUTOML[-1], "async=t"]
    _, replies = run_fit(cmd, live, chunks(sensor_events(400, seed=3), 400, FIELDS))
    (row,) = replies[-1].records()
    assert cmd.close() == 0 and row["job_id"], row
    seen: list[list[dict]] = []

    def some_trials() -> bool:
        seen.append(board(stack, script, row["job_id"]))
        return bool(seen[-1])

    wait_until(some_trials, 60, "a finished trial of the running search")
    rows = seen[-1]
    assert {r["job_state"] for r in rows} == {"running"} and rows[0]["model"] == "pump_live"
    assert [r["rank"] for r in rows] == [str(i) for i in range(1, len(rows) + 1)]
    assert all(r["version"] == "" for r in rows)  # no winner before the search ends
    assert board(stack, script, "pump_live")[0]["job_id"] == row["job_id"]
