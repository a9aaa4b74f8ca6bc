"""MLTK's DensityFunction SPL lines as splunkd runs them, against a real bridge and worker:
fit with `by`, apply with the fitted and with a new threshold, an unseen group, summary."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from kepler._stack import LocalStack
from tests.splunk.harness import chunks
from tests.splunk.kepler_command import run_fit, splunkd

pytestmark = pytest.mark.system
FIELDS = ["_time", "Actual", "HourOfDay", "DayOfWeek", "source"]
GROUPS = [(h, d, s) for h in ("09", "14") for d in ("Monday", "Sunday") for s in ("a", "b")]


def call_center(per_group: int, seed: int) -> list[dict]:
    """Counts per 15 minutes shaped like MLTK's call_center.csv: normal per group."""
    rng = random.Random(seed)
    rows = []
    for i in range(per_group):
        for k, (hour, day, source) in enumerate(GROUPS):
            mean = 40 + 20 * k
            rows.append(
                {
                    "_time": 1700000000 + 900 * (i * len(GROUPS) + k),
                    "Actual": f"{rng.gauss(mean, 4):.2f}",
                    "HourOfDay": hour,
                    "DayOfWeek": day,
                    "source": source,
                }
            )
    return rows


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("density-stack")) as s:
        yield s


@pytest.fixture(scope="module")
def fitted(stack: LocalStack, script: Path) -> str:
    # MLTK: | fit DensityFunction Actual by "HourOfDay,BucketMinuteOfHour,DayOfWeek,source"
    #       into mymodel   (BucketMinuteOfHour left out: a few rows per group would remain)
    cmd = splunkd(script, stack.url, stack.token)
    _, replies = run_fit(
        cmd,
        ["fit", "DensityFunction", "Actual", "by", "HourOfDay,DayOfWeek,source", "into", "calls"],
        chunks(call_center(300, seed=1), 700, FIELDS),
    )
    (row,) = replies[-1].records()
    assert cmd.close() == 0
    assert row["model"] == "calls" and row["version"] == "1", row
    return "calls"


def apply_rows(stack: LocalStack, script: Path, args: list[str], events: list[dict]) -> list:
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["apply", *args])
    assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
    _, rows = cmd.send(events, finished=True)
    assert cmd.close() == 0
    return rows


def test_apply_fitted_threshold_flags_about_one_percent(
    stack: LocalStack, script: Path, fitted: str
) -> None:
    rows = apply_rows(stack, script, [fitted], call_center(400, seed=2))
    flags = [int(r["IsOutlier(Actual)"]) for r in rows]
    assert 0.003 < sum(flags) / len(flags) < 0.02


def test_apply_new_threshold_flags_more_without_refitting(
    stack: LocalStack, script: Path, fitted: str
) -> None:
    # MLTK: | apply mymodel threshold=0.1 show_density=true
    events = call_center(400, seed=3)
    rows = apply_rows(stack, script, [fitted, "threshold=0.1", "show_density=true"], events)
    flags = [int(r["IsOutlier(Actual)"]) for r in rows]
    assert 0.07 < sum(flags) / len(flags) < 0.13
    assert all(float(r["ProbabilityDensity(Actual)"]) > 0 for r in rows)


def test_apply_unseen_group_gets_empty_isoutlier(
    stack: LocalStack, script: Path, fitted: str
) -> None:
    events = [
        {"Actual": "40", "HourOfDay": "09", "DayOfWeek": "Monday", "source": "a"},
        {"Actual": "400", "HourOfDay": "09", "DayOfWeek": "Monday", "source": "a"},
        {"Actual": "40", "HourOfDay": "23", "DayOfWeek": "Monday", "source": "a"},
    ]
    rows = apply_rows(stack, script, [fitted], events)
    assert [r["IsOutlier(Actual)"] for r in rows] == ["0", "1", ""]


def test_summary_lists_each_group(stack: LocalStack, script: Path, fitted: str) -> None:
    cmd = splunkd(script, stack.url, stack.token)
    cmd.getinfo(["summary", fitted])
    rows = cmd.execute(b"", finished=True).records()
    assert cmd.close() == 0
    groups = {r["group"]: r for r in rows}
    # HourOfDay is numeric to Kepler ("09" and "9" are one group), named as a number
    assert set(groups) == {f"{int(h)},{d},{s}" for h, d, s in GROUPS}
    first = groups["9,Monday,a"]
    assert first["type"] == "norm" and first["cardinality"] == "300"
    assert "loc=" in first["params"] and "-inf.." in first["BoundaryRanges"]


@pytest.mark.parametrize(
    "args",
    [
        # MLTK's documented lines (fields and model names as in our data)
        ["fit", "DensityFunction", "Actual", "dist=norm", "into", "calls_norm"],
        [
            "fit",
            "DensityFunction",
            "Actual",
            "by",
            "source",
            "dist=expon",
            "threshold=0.1",
            "show_density=True",
            "into",
            "calls_expon",
        ],
        [
            "fit",
            "DensityFunction",
            "Actual",
            "lower_threshold=0.01",
            "upper_threshold=0.005",
            "into",
            "calls_tails",
        ],
    ],
    ids=["dist-norm", "by-expon-threshold", "lower-upper"],
)
def test_fit_mltk_lines_train(stack: LocalStack, script: Path, args: list[str]) -> None:
    cmd = splunkd(script, stack.url, stack.token)
    _, replies = run_fit(cmd, args, chunks(call_center(60, seed=4), 700, FIELDS))
    (row,) = replies[-1].records()
    assert cmd.close() == 0
    assert row["model"] == args[-1] and row["version"] == "1", row


def test_sdk_apply_with_threshold_matches_the_command(stack: LocalStack, fitted: str) -> None:
    import pandas as pd

    events = pd.DataFrame(call_center(200, seed=6))
    client = stack.client()
    default = client.apply(events, fitted)["IsOutlier(Actual)"]
    wider = client.apply(events, fitted, threshold=0.2, show_density=True)
    assert int(wider["IsOutlier(Actual)"].sum()) > 5 * int(default.sum())
    assert (wider["ProbabilityDensity(Actual)"] > 0).all()
