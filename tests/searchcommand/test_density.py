"""MLTK's DensityFunction SPL lines as splunkd runs them, against a real bridge and worker:
fit with `by`, apply with the fitted and with a new threshold, an unseen group, summary."""

from __future__ import annotations

import csv
import io
import json
import os
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kepler._stack import LocalStack
from tests.splunk.harness import Reply, Splunkd, chunks
from tests.splunk.kepler_command import run_fit, splunkd
from tests.splunk.pythons import SplunkPython

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


# --- MLTK's options and outputs, as its DensityFunction.py and density_function/*.py
# (bin/ in the MLTK copy) answer them ---------------------------------------------------


def apply_reply(
    stack: LocalStack, script: Path, args: list[str], events: list[dict], python: str | None = None
) -> tuple[Reply, list, list]:
    """The reply splunkd receives (its raw CSV), the events after the command, and the
    messages of getinfo and of the reply."""
    kw = {"python": python} if python else {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(KEPLER_URL=stack.url, KEPLER_TOKEN=stack.token)
    cmd = Splunkd(script, command="kepler", python_args=["-S"], env=env, timeout=120, **kw)
    info = cmd.getinfo(["apply", *args])
    assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
    reply, rows = cmd.send(events, finished=True)
    assert cmd.close() == 0
    return reply, rows, [*info.messages, *reply.messages]


def _ranges_ok(cell: list | str, areas: list[str]) -> None:
    """A BoundaryRanges value as the search shows it: a multivalue field of
    <lower>:<upper>:<area> lines, open ends -Infinity/Infinity, bounds to 4 decimals."""
    lines = cell if isinstance(cell, list) else [cell]
    assert [ln.split(":")[2] for ln in lines] == areas, lines
    assert lines[0].startswith("-Infinity:") or lines[0].split(":")[0] != ""
    for ln in lines:
        for bound in ln.split(":")[:2]:
            assert bound in ("-Infinity", "Infinity") or len(bound.partition(".")[2]) <= 4


def test_fit_several_thresholds_answers_events_with_an_output_per_threshold(
    stack: LocalStack, script: Path
) -> None:
    # MLTK DensityFunction.py fit (multiple_floats threshold, _get_df_column_names):
    # | fit DensityFunction Actual by "DayOfWeek,source" threshold="0.01,0.005" into m
    cmd = splunkd(script, stack.url, stack.token)
    args = [
        *("fit", "DensityFunction", "Actual", "by", "DayOfWeek,source"),
        *("threshold=0.01,0.005", "dist=norm", "into", "calls_two", "output=events"),
    ]
    _, replies = run_fit(cmd, args, chunks(call_center(60, seed=11), 700, FIELDS))
    assert cmd.close() == 0
    last = replies[-1]
    rows = last.records()
    assert len(rows) == 60 * len(GROUPS)
    names = ["IsOutlier_th=0.01(Actual)", "IsOutlier_th=0.005(Actual)"]
    names += ["BoundaryRanges_th=0.01", "BoundaryRanges_th=0.005"]
    assert [c for c in last.fieldnames if c not in FIELDS] == names
    assert "__mv_BoundaryRanges_th=0.01" in last.columns
    _ranges_ok(rows[0]["BoundaryRanges_th=0.01"], ["0.005", "0.005"])
    _ranges_ok(rows[0]["BoundaryRanges_th=0.005"], ["0.0025", "0.0025"])


def test_apply_several_thresholds_sends_mv_boundary_ranges_to_splunkd(
    stack: LocalStack, script: Path, fitted: str
) -> None:
    # MLTK DensityFunction.py apply + _get_multivalue_of_boundary_ranges:
    # | apply mymodel threshold="0.05,0.01" | mvexpand BoundaryRanges_th=0.05
    reply, rows, _ = apply_reply(
        stack, script, [fitted, "threshold=0.05,0.01"], call_center(50, seed=12)
    )
    header = reply.columns
    assert header[-2:] == ["__mv_BoundaryRanges_th=0.05", "__mv_BoundaryRanges_th=0.01"]
    raw = next(csv.DictReader(io.StringIO(reply.body.decode())))
    plain, encoded = raw["BoundaryRanges_th=0.05"], raw["__mv_BoundaryRanges_th=0.05"]
    low, high = plain.split("\n")
    assert encoded == f"${low}$;${high}$"
    assert low.startswith("-Infinity:") and high.endswith(":Infinity:0.025")
    flags = [int(r["IsOutlier_th=0.05(Actual)"]) for r in rows]
    narrow = [int(r["IsOutlier_th=0.01(Actual)"]) for r in rows]
    assert all(n <= f for n, f in zip(narrow, flags, strict=True)) and sum(flags) > sum(narrow)
    assert isinstance(rows[0]["BoundaryRanges_th=0.01"], list)  # a multivalue field


def test_apply_several_lower_thresholds_by_fields(
    stack: LocalStack, script: Path, fitted: str
) -> None:
    # MLTK outlier_threshold.py (several lower_threshold values) and
    # normal_distribution.py (one -Infinity:<lower>:<area> range per value):
    # | apply mymodel lower_threshold="0.01,0.02" as low
    _, rows, _ = apply_reply(
        stack, script, [fitted, "lower_threshold=0.01,0.02", "as", "low"], call_center(20, seed=13)
    )
    assert {"low_th=0.01", "low_th=0.02", "BoundaryRanges_th=0.02"} <= set(rows[0])
    (line,) = rows[0]["BoundaryRanges_th=0.02"]  # one range: the lower tail
    _ranges_ok([line], ["0.02"])
    assert line.startswith("-Infinity:")


def test_apply_refuses_ambiguous_thresholds_at_getinfo(
    stack: LocalStack, script: Path, fitted: str
) -> None:
    # MLTK outlier_threshold.py: "Thresholds are ambiguous"; several with lower and upper
    for args, fragment in (
        (["threshold=0.01", "upper_threshold=0.02"], "Thresholds are ambiguous"),
        (["lower_threshold=0.01,0.02", "upper_threshold=0.02"], "only one of"),
        (["threshold=0.1,0.2,0.3,0.4,0.5,0.6"], "maximum number of allowed thresholds are 5"),
    ):
        cmd = splunkd(script, stack.url, stack.token)
        info = cmd.getinfo(["apply", fitted, *args])
        errors = [text for level, text in info.messages if level == "ERROR"]
        assert len(errors) == 1 and fragment in errors[0], info.messages
        assert cmd.close() == 1 and "Traceback" not in cmd.stderr


def test_apply_sample_and_full_sample_with_show_options(
    stack: LocalStack, script: Path, fitted: str
) -> None:
    # MLTK DensityFunction.py apply (ApplyParams: sample, full_sample, show_options) and
    # _get_show_options_value:
    # | apply mymodel sample=true full_sample=true show_options="feature_variables,split_by,params"
    events = call_center(30, seed=14)
    _, rows, _ = apply_reply(
        stack,
        script,
        [
            fitted,
            "sample=true",
            "full_sample=true",
            "show_options=feature_variables,split_by,params,model_name",
        ],
        events,
    )
    first = rows[0]
    assert {"SampledValue", "FullSampledValue", "_Options", "BoundaryRanges"} <= set(first)
    assert "SampledValue(Actual)" not in first  # Kepler's old name is gone
    for row in rows:  # each sample lies in its own group's inlier range
        lower, upper = row["BoundaryRanges"]
        low, high = float(lower.split(":")[1]), float(upper.split(":")[0])
        assert low - 1e-3 <= float(row["SampledValue"]) <= high + 1e-3, row
    spread = [float(r["FullSampledValue"]) for r in rows]
    assert len(set(spread)) == len(rows)
    assert json.loads(first["_Options"]) == {
        "feature_variables": ["Actual"],
        "split_by": ["HourOfDay", "DayOfWeek", "source"],
        "params": {
            "sample": "true",
            "full_sample": "true",
            "show_options": "feature_variables,split_by,params,model_name",
        },
        "model_name": "calls",
    }


def test_apply_discards_dist_and_metric_with_a_warning(
    stack: LocalStack, script: Path, fitted: str
) -> None:
    # MLTK DensityFunction.apply: 'Invalid parameter for apply: Discarding "dist" value.'
    # | apply mymodel dist=expon metric=kolmogorov_smirnov
    _, rows, messages = apply_reply(
        stack, script, [fitted, "dist=expon", "metric=kolmogorov_smirnov"], call_center(5, seed=15)
    )
    warns = [text for level, text in messages if level == "WARN"]
    assert 'Invalid parameter for apply: Discarding "dist" value. Using dist=auto.' in warns
    assert any('Discarding "metric" value. Using metric=wasserstein.' in w for w in warns)
    assert all(r["IsOutlier(Actual)"] in ("0", "1") for r in rows)


def test_apply_dist_on_another_algorithm_is_refused_at_getinfo(
    stack: LocalStack, script: Path
) -> None:
    rng = np.random.default_rng(16)
    x = rng.normal(size=60)
    frame = pd.DataFrame({"x": x, "y": 2 * x + rng.normal(scale=0.1, size=60)})
    stack.client().fit(frame, "LinearRegression", target="y", into="not_density", progress=False)
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["apply", "not_density", "dist=norm"])
    errors = [text for level, text in info.messages if level == "ERROR"]
    assert len(errors) == 1 and "dist= applies to DensityFunction models" in errors[0], errors
    assert cmd.close() == 1 and "Traceback" not in cmd.stderr


def test_summary_by_fields_and_mltk_columns(stack: LocalStack, script: Path) -> None:
    # MLTK DensityFunction.summary (a column per by field) and
    # ProbabilityDistribution.summary (min, max, mean, std, cardinality, distance, other):
    # | fit DensityFunction Actual by "HourOfDay,source" threshold="0.01,0.005" into m
    # | summary m
    cmd = splunkd(script, stack.url, stack.token)
    args = ["fit", "DensityFunction", "Actual", "by", "HourOfDay,source"]
    args += ["threshold=0.01,0.005", "into", "calls_summary"]
    _, replies = run_fit(cmd, args, chunks(call_center(50, seed=16), 700, FIELDS))
    assert cmd.close() == 0
    assert replies[-1].records()[0]["model"] == "calls_summary"
    cmd = splunkd(script, stack.url, stack.token)
    cmd.getinfo(["summary", "calls_summary"])
    rows = cmd.execute(b"", finished=True).records()
    assert cmd.close() == 0
    assert len(rows) == 4
    row = next(r for r in rows if r["source"] == "a" and r["HourOfDay"] == "9")
    for key in ("min", "max", "mean", "std", "cardinality", "type", "params", "other"):
        assert row[key] != "", key
    assert float(row["min"]) < float(row["mean"]) < float(row["max"])
    assert row["distance"].startswith("metric: wasserstein, distance: ")
    assert row["cardinality"] == "100"  # two days of 50 rows each


def test_apply_new_options_under_splunks_pythons(
    stack: LocalStack, script: Path, fitted: str, splunk_python: SplunkPython
) -> None:
    # The getinfo parse of MLTK's apply options runs in Splunk's own Python.
    _, rows, _ = apply_reply(
        stack,
        script,
        [fitted, "threshold=0.05,0.01", "sample=t", "show_options=params"],
        call_center(2, seed=17),
        python=splunk_python.executable,
    )
    assert {"IsOutlier_th=0.05(Actual)", "SampledValue_th=0.01", "_Options"} <= set(rows[0])


def test_sdk_apply_several_thresholds_gives_boundary_ranges_as_text(
    stack: LocalStack, fitted: str
) -> None:
    import pandas as pd

    events = pd.DataFrame(call_center(20, seed=18))
    out = stack.client().apply(events, fitted, threshold=[0.05, 0.01], sample=True)
    assert not [c for c in out.columns if c.startswith("__mv_")]
    assert {"IsOutlier_th=0.05(Actual)", "SampledValue_th=0.01"} <= set(out.columns)
    low, high = out["BoundaryRanges_th=0.05"].iloc[0].split("\n")
    assert low.startswith("-Infinity:") and high.endswith(":Infinity:0.025")
