"""`by` as splunkd runs it, against a real bridge and worker: MLTK's documented `by` lines
(DensityFunction, on data shaped like MLTK's call_center.csv), then Kepler's `by` for
every algorithm: one model per group, each event routed to its group's model, a clear
status for events without one, groups in summary, skipped groups as WARN messages."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from kepler._stack import LocalStack
from tests.splunk.harness import chunks
from tests.splunk.kepler_command import run_fit, splunkd

pytestmark = pytest.mark.system
CALLS = ["_time", "Actual", "HourOfDay", "BucketMinuteOfHour", "DayOfWeek", "source"]
SENSORS = ["_time", "temp", "vibration", "site", "failure", "energy"]
SITES = {"north": (60.0, 2.5), "south": (40.0, 1.0), "west": (75.0, 4.0)}


def call_center(per_group: int, seed: int) -> list[dict]:
    """Counts per 15 minutes shaped like MLTK's call_center.csv, normal per group."""
    rng = random.Random(seed)
    keys = [
        (h, m, d, s)
        for h in ("09", "14")
        for m in ("00", "30")
        for d in ("Monday", "Sunday")
        for s in ("a", "b")
    ]
    rows = []
    for i in range(per_group):
        for k, (hour, minute, day, source) in enumerate(keys):
            rows.append(
                {
                    "_time": 1700000000 + 900 * (i * len(keys) + k),
                    "Actual": f"{rng.gauss(40 + 10 * k, 3):.2f}",
                    "HourOfDay": hour,
                    "BucketMinuteOfHour": minute,
                    "DayOfWeek": day,
                    "source": source,
                }
            )
    return rows


def sensors(n: int, seed: int, sites: dict[str, tuple[float, float]] = SITES) -> list[dict]:
    """Pumps at three sites, each failing past its own temperature and vibration."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        site = rng.choice(sorted(sites))
        hot, shaky = sites[site]
        temp, vibration = rng.uniform(20, 95), rng.uniform(0, 5)
        energy = {"north": 2.0, "south": -1.0, "west": 0.5}.get(site, 0.0) * temp
        rows.append(
            {
                "_time": 1700000000 + 60 * i,
                "temp": f"{temp:.2f}",
                "vibration": f"{vibration:.3f}",
                "site": site,
                "failure": "yes" if temp > hot and vibration > shaky else "no",
                "energy": f"{energy + rng.gauss(0, 1):.3f}",
            }
        )
    return rows


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("by-stack")) as s:
        yield s


def fit(stack: LocalStack, script: Path, args: list[str], events: list[dict], fields: list[str]):  # type: ignore[no-untyped-def]
    cmd = splunkd(script, stack.url, stack.token)
    _, replies = run_fit(cmd, args, chunks(events, 700, fields))
    (row,) = replies[-1].records()
    assert cmd.close() == 0
    assert row["model"] == args[-1] and row["version"] == "1", (row, replies[-1].messages)
    return row, replies[-1].messages


def apply_rows(stack: LocalStack, script: Path, args: list[str], events: list[dict]) -> list:
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["apply", *args])
    assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
    _, rows = cmd.send(events, finished=True)
    assert cmd.close() == 0
    return rows


def summary_rows(stack: LocalStack, script: Path, model: str) -> list:
    cmd = splunkd(script, stack.url, stack.token)
    cmd.getinfo(["summary", model])
    rows = cmd.execute(b"", finished=True).records()
    assert cmd.close() == 0
    return rows


# MLTK's documented `by` lines (DensityFunction's examples), fields as in call_center.csv.
MLTK_LINES = {
    # | fit DensityFunction Actual by "HourOfDay,BucketMinuteOfHour,DayOfWeek,source"
    #   into mymodel
    "by-four-fields": "fit DensityFunction Actual "
    'by "HourOfDay,BucketMinuteOfHour,DayOfWeek,source" into mymodel',
    # | fit DensityFunction Actual by "HourOfDay,DayOfWeek,source" dist=norm into mymodel
    "by-dist-norm": 'fit DensityFunction Actual by "HourOfDay,DayOfWeek,source" dist=norm '
    "into m_norm",
    # | fit DensityFunction Actual by source dist=expon threshold=0.1 show_density=True
    "by-expon-threshold": "fit DensityFunction Actual by source dist=expon threshold=0.1 "
    "show_density=True into m_expon",
    # | fit DensityFunction Actual by "DayOfWeek,source" lower_threshold=0.01
    #   upper_threshold=0.005
    "by-tails": 'fit DensityFunction Actual by "DayOfWeek,source" lower_threshold=0.01 '
    "upper_threshold=0.005 into m_tails",
    # | fit DensityFunction Actual by "HourOfDay,source" dist=gaussian_kde sample=True
    "by-kde-sample": 'fit DensityFunction Actual by "HourOfDay,source" dist=gaussian_kde '
    "sample=True into m_kde",
}


@pytest.mark.parametrize("line", list(MLTK_LINES.values()), ids=list(MLTK_LINES))
def test_mltk_by_lines_fit_apply_and_summarise(stack: LocalStack, script: Path, line: str) -> None:
    args = line.split(" ")
    args = _rejoin_quoted(args)
    fit(stack, script, args, call_center(40, seed=1), CALLS)
    model = args[-1]
    rows = apply_rows(stack, script, [model], call_center(20, seed=2))
    flags = [r for r in rows if r.get("IsOutlier(Actual)") not in (None, "")]
    assert len(flags) == len(rows)  # every group was seen at fit
    groups = summary_rows(stack, script, model)
    by = line.split(" by ")[1].split(" ")[0].strip('"').split(",")
    assert len(groups) == 2 ** len(by) and all(int(g["cardinality"]) > 0 for g in groups)


def _rejoin_quoted(words: list[str]) -> list[str]:
    """SPL's tokens: a double-quoted `by` list is one argument, quotes dropped."""
    return [w.strip('"') for w in words]


@pytest.fixture(scope="module")
def pumps(stack: LocalStack, script: Path) -> str:
    # Kepler's superset: `by` for any algorithm, as MLTK writes it for DensityFunction.
    args = [
        "fit",
        "RandomForestClassifier",
        "failure",
        "from",
        "temp",
        "vibration",
        "by",
        "site",
        "n_estimators=30",
        "random_state=0",
        "into",
        "pumps_by_site",
    ]
    row, _ = fit(stack, script, args, sensors(900, seed=3), SENSORS)
    assert float(row["accuracy"]) > 0.9
    return "pumps_by_site"


def test_apply_routes_each_event_to_its_sites_model(
    stack: LocalStack, script: Path, pumps: str
) -> None:
    events = sensors(200, seed=4)
    rows = apply_rows(stack, script, [pumps], events)
    assert {r["kepler_group_status"] for r in rows} == {"ok"}
    right = sum(r["predicted(failure)"] == e["failure"] for r, e in zip(rows, events, strict=True))
    assert right / len(rows) > 0.9
    # The same threshold everywhere would be wrong at two sites of three: routing matters.
    hot = {"temp": "70", "vibration": "3.0"}
    routed = apply_rows(
        stack, script, [pumps], [{**hot, "site": s} for s in ("north", "south", "west")]
    )
    assert [r["predicted(failure)"] for r in routed] == ["yes", "yes", "no"]


def test_apply_unseen_or_missing_group_gets_a_status_and_no_prediction(
    stack: LocalStack, script: Path, pumps: str
) -> None:
    events = [
        {"temp": "70", "vibration": "3", "site": "north"},
        {"temp": "70", "vibration": "3", "site": "east"},
        {"temp": "70", "vibration": "3", "site": ""},
    ]
    rows = apply_rows(stack, script, [pumps, "probabilities=true"], events)
    assert [r["kepler_group_status"] for r in rows] == ["ok", "unseen", "missing"]
    assert [r["predicted(failure)"] for r in rows] == ["yes", "", ""]
    assert rows[0]["probability(failure=yes)"] != "" and rows[1]["probability(failure=yes)"] == ""


def test_summary_lists_groups_with_rows_and_holdout_metrics(
    stack: LocalStack, script: Path, pumps: str
) -> None:
    rows = summary_rows(stack, script, pumps)
    groups = {r["group"]: r for r in rows}
    assert set(groups) == set(SITES)
    assert sum(int(g["rows"]) + int(g["holdout_rows"]) for g in groups.values()) == 900
    assert all(g["status"] == "ok" and float(g["metric.accuracy"]) > 0.8 for g in groups.values())
    assert all(g["site"] == key for key, g in groups.items())


def test_fit_by_other_algorithms_and_two_fields(stack: LocalStack, script: Path) -> None:
    events = sensors(600, seed=5)
    for i, e in enumerate(events):
        e["shift"] = "day" if i % 2 == 0 else "night"
    fields = [*SENSORS, "shift"]
    row, _ = fit(
        stack,
        script,
        ["fit", "LinearRegression", "energy", "from", "temp", "by", "site,shift", "into", "e"],
        events,
        fields,
    )
    assert float(row["r2"]) > 0.99  # one global line could not follow three slopes
    assert len(summary_rows(stack, script, "e")) == 6
    row, _ = fit(
        stack,
        script,
        ["fit", "KMeans", "k=2", "temp", "vibration", "by", "site", "into", "clusters"],
        events,
        fields,
    )
    rows = apply_rows(stack, script, ["clusters"], events[:30])
    assert {r["cluster"] for r in rows} <= {"0", "1"}


def test_group_too_small_is_skipped_with_a_warn_message(stack: LocalStack, script: Path) -> None:
    events = sensors(400, seed=6)
    events += [{**events[0], "site": "tiny", "failure": "no"} for _ in range(5)]
    args = ["fit", "LogisticRegression", "failure", "from", "temp", "vibration"]
    _, messages = fit(stack, script, [*args, "by", "site", "into", "skips"], events, SENSORS)
    warns = [text for level, text in messages if level == "WARN"]
    assert any("tiny: only one class ('no')" in w for w in warns), messages
    (tiny,) = [r for r in summary_rows(stack, script, "skips") if r["group"] == "tiny"]
    assert tiny["status"] == "skipped" and "one class" in tiny["reason"]
    (applied,) = apply_rows(stack, script, ["skips"], [{**events[0], "site": "tiny"}])
    assert applied["kepler_group_status"] == "skipped" and applied["predicted(failure)"] == ""


def test_sdk_fit_by_matches_the_command(stack: LocalStack) -> None:
    import pandas as pd

    client = stack.client()
    frame = pd.DataFrame(sensors(600, seed=7))
    result = client.fit(
        frame,
        "RandomForestClassifier",
        target="failure",
        features=["temp", "vibration"],
        by=["site"],
        into="sdk_by_site",
        n_estimators=30,
        random_state=0,
        progress=False,
    )
    assert result.version == 1
    summary = client.summary("sdk_by_site")
    assert {g["group"] for g in summary["groups"]} == set(SITES)
    scored = client.apply(pd.DataFrame(sensors(50, seed=8)), "sdk_by_site")
    assert set(scored["kepler_group_status"]) == {"ok"}
    assert scored["predicted(failure)"].notna().all()
