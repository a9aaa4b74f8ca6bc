"""MLTK's K-fold scoring (`kfold_cv=`) and Kepler's time-aware validation (`split=time`),
as splunkd runs them, against a real bridge and worker: one row per fold in MLTK's shape,
time-ordered folds and holdouts, what `summary` and the SDK report, and a shuffled
split caught overstating a model on a trend."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kepler._stack import LocalStack
from tests.splunk.harness import Record, chunks
from tests.splunk.kepler_command import run_fit, splunkd

pytestmark = pytest.mark.system

IRIS = ["_time", "species", "petal_length", "petal_width", "sepal_length", "sepal_width"]
POWER = [
    "_time",
    "ac_power",
    "total-cpu-utilization",
    "total-disk-accesses",
    "total-unhalted-core-cycles",
]
ENERGY = ["_time", "ts", "load", "temp"]


def iris(per_class: int, seed: int) -> list[dict]:
    """Shaped like MLTK's iris.csv: three species, four measurements."""
    rng = random.Random(seed)
    centres = {
        "Iris-setosa": (1.5, 0.25, 5.0, 3.4),
        "Iris-versicolor": (4.3, 1.3, 5.9, 2.8),
        "Iris-virginica": (5.5, 2.0, 6.6, 3.0),
    }
    rows = []
    for i in range(per_class):
        for k, (name, centre) in enumerate(centres.items()):
            pl, pw, sl, sw = (rng.gauss(c, 0.3) for c in centre)
            rows.append(
                {
                    "_time": 1700000000 + 3 * i + k,
                    "species": name,
                    "petal_length": f"{pl:.1f}",
                    "petal_width": f"{pw:.1f}",
                    "sepal_length": f"{sl:.1f}",
                    "sepal_width": f"{sw:.1f}",
                }
            )
    return rows


def server_power(n: int, seed: int) -> list[dict]:
    """Shaped like MLTK's server_power.csv: AC power from a server's counters."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        cpu = rng.uniform(0, 100)
        disk = rng.uniform(0, 500)
        cycles = cpu * 1.1e7 + rng.gauss(0, 5e7)
        rows.append(
            {
                "_time": 1700000000 + 60 * i,
                "ac_power": f"{150 + 1.2 * cpu + 0.05 * disk + rng.gauss(0, 2):.2f}",
                "total-cpu-utilization": f"{cpu:.2f}",
                "total-disk-accesses": f"{disk:.1f}",
                "total-unhalted-core-cycles": f"{cycles:.0f}",
            }
        )
    return rows


def energy(n: int, seed: int) -> list[dict]:
    """Hourly load with a trend and a daily cycle, newest first as a search returns it."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        t = 1700000000 + 3600 * i
        temp = 15 + 8 * math.sin(2 * math.pi * i / 24) + rng.gauss(0, 1)
        rows.append(
            {
                "_time": t,
                "ts": t,
                "load": f"{100 + 0.4 * i + 2 * temp + rng.gauss(0, 2):.2f}",
                "temp": f"{temp:.2f}",
            }
        )
    return rows[::-1]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("validation-stack")) as s:
        yield s


def fit_rows(
    stack: LocalStack, script: Path, args: list[str], events: list[dict], fields: list[str]
) -> tuple[list[Record], list[tuple[str, str]]]:
    cmd = splunkd(script, stack.url, stack.token)
    _, replies = run_fit(cmd, args, chunks(events, 400, fields))
    rows, messages = replies[-1].records(), replies[-1].messages
    assert cmd.close() == 0, messages
    return rows, messages


# The scorers MLTK's k-fold scoring hands scikit-learn's cross_validate, whose names its
# rows carry: MLTK's own base.py (ClassifierMixin.fit / RegressorMixin.fit), as copied in
# https://github.com/multimodal-uol/multimodal-datagen/blob/291c5e9dfc971e6335df492844f511e2c6c41f64/bin/base.py
CLASSIFIER_SCORES = ("f1_weighted", "accuracy", "precision_weighted", "recall_weighted")
REGRESSOR_SCORES = ("r2", "neg_mean_squared_error")


@pytest.mark.parametrize(
    ("args", "k", "data"),
    [
        # MLTK's K-fold scoring page: `| fit <algo> <target> from <features> kfold_cv=<int>`,
        # on the algorithms' own documented examples (iris.csv, server_power.csv).
        (
            "LogisticRegression species from petal_length petal_width sepal_length "
            "sepal_width kfold_cv=3",
            3,
            "iris",
        ),
        ("RandomForestClassifier species from * kfold_cv=5", 5, "iris"),
        ("GaussianNB species from * kfold_cv=3", 3, "iris"),
        ("DecisionTreeClassifier species from * max_depth=4 kfold_cv=4", 4, "iris"),
        (
            'LinearRegression "ac_power" from "total-cpu-utilization" "total-disk-accesses" '
            "kfold_cv=3",
            3,
            "power",
        ),
        ('RandomForestRegressor ac_power from "total-*" n_estimators=20 kfold_cv=5', 5, "power"),
        ('Lasso ac_power from "total-*" alpha=0.5 kfold_cv=3', 3, "power"),
        # The K-fold page's syntax, `..| fit <classification | regression algo>
        # <targetVariable> from <featureVariables> [options] kfold_cv=<int>`
        # (https://aitk-portal.pages.dev/algorithms/k-fold-cross-validation/), on the line
        # MLTK's algorithm API documents for fit (base.py's BaseAlgo docstring:
        # `| fit LinearRegression sepal_width from petal* fit_intercept=t`).
        ("LinearRegression sepal_width from petal* fit_intercept=t kfold_cv=3", 3, "iris-reg"),
    ],
    ids=[
        "logreg",
        "forest-clf",
        "gaussiannb",
        "tree-clf",
        "linreg",
        "forest-reg",
        "lasso",
        "mltk-api-linreg",
    ],
)
def test_mltk_kfold_lines_answer_one_row_per_fold(
    stack: LocalStack, script: Path, args: str, k: int, data: str
) -> None:
    from kepler.core.spec import tokenize

    words = ["fit", *(t.text if t.key is None else f"{t.key}={t.text}" for t in tokenize(args))]
    events, fields = (iris(40, 1), IRIS) if data != "power" else (server_power(150, 2), POWER)
    rows, messages = fit_rows(stack, script, words, events, fields)
    assert [int(r["fold_number"]) for r in rows] == list(range(1, k + 1))
    scores = CLASSIFIER_SCORES if data == "iris" else REGRESSOR_SCORES
    # MLTK's columns are its scoring list, in order; Kepler's fold_number comes first.
    assert list(rows[0])[: 1 + len(scores)] == ["fold_number", *scores], list(rows[0])
    for row in rows:
        assert row["split"] == "random" and not row["model"]  # no `into`: nothing saved
        assert int(row["n_train"]) + int(row["n_test"]) == len(events)
        for name in scores:
            value = float(row[name])
            assert math.isfinite(value), (name, row)
    if data == "iris":
        assert np.mean([float(r["accuracy"]) for r in rows]) > 0.8
    elif data == "power":
        assert np.mean([float(r["r2"]) for r in rows]) > 0.8
    else:  # sepal width from the petals: a weak, but real, relation across the species
        assert all(math.isfinite(float(r["r2"])) for r in rows)
    assert any(f"{k} random-ordered folds" in text for _, text in messages), messages


def test_kfold_linear_regression_matches_scikit_learn(stack: LocalStack, script: Path) -> None:
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import KFold, cross_validate

    events = server_power(120, 5)
    args = ["fit", "LinearRegression", "ac_power", "from", "total-cpu-utilization", "kfold_cv=4"]
    rows, _ = fit_rows(stack, script, args, events, POWER)
    X = np.array([[float(e["total-cpu-utilization"])] for e in events])
    y = np.array([float(e["ac_power"]) for e in events])
    want = cross_validate(
        LinearRegression(),
        X,
        y,
        cv=KFold(4, shuffle=True, random_state=0),
        scoring=("r2", "neg_mean_squared_error"),
    )
    np.testing.assert_allclose([float(r["r2"]) for r in rows], want["test_r2"], rtol=1e-6)
    np.testing.assert_allclose(
        [float(r["neg_mean_squared_error"]) for r in rows],
        want["test_neg_mean_squared_error"],
        rtol=1e-6,
    )


def test_time_kfold_with_into_registers_the_folds(stack: LocalStack, script: Path) -> None:
    args = [
        "fit",
        "LinearRegression",
        "load",
        "from",
        "temp",
        "split=time",
        "time_field=ts",
        "kfold_cv=3",
        "gap=2",
        "into",
        "load_cv",
    ]
    rows, _ = fit_rows(stack, script, args, energy(200, 1), ENERGY)
    assert [int(r["n_test"]) for r in rows] == [50, 50, 50]
    assert [int(r["n_train"]) for r in rows] == [48, 98, 148]  # expanding, less the gap
    assert {r["split"] for r in rows} == {"time"} and {r["model"] for r in rows} == {"load_cv"}

    cmd = splunkd(script, stack.url, stack.token)
    cmd.getinfo(["summary", "load_cv"])
    (first, *_) = cmd.execute(b"", finished=True).records()
    assert cmd.close() == 0
    assert first["split"] == "time" and first["time_field"] == "ts" and first["kfold_cv"] == "3"
    folds = first["folds"].split("\n")  # a multivalue field, one fold per value
    assert len(folds) == 3 and folds[0].startswith("1: r2="), folds  # MLTK's columns first
    assert folds[0].endswith(" n_train=48 n_test=50"), folds
    assert float(first["metric.r2"]) == pytest.approx(np.mean([float(r["r2"]) for r in rows]))


def test_shuffled_split_overstates_a_trend_model_that_split_time_scores_honestly(
    stack: LocalStack, script: Path
) -> None:
    events = energy(300, 2)
    base = ["fit", "RandomForestRegressor", "load", "from", "_time", "n_estimators=30"]
    (shuffled,), _ = fit_rows(
        stack, script, [*base, "split=random", "into", "trend_random"], events, ENERGY
    )
    (in_time,), _ = fit_rows(stack, script, [*base, "into", "trend_time"], events, ENERGY)
    # _time is a feature, so the default is time order: the holdout is the last 20%.
    assert float(shuffled["r2"]) > 0.9
    assert float(in_time["r2"]) < 0.3
    cmd = splunkd(script, stack.url, stack.token)
    cmd.getinfo(["summary", "trend_time"])
    (first, *_) = cmd.execute(b"", finished=True).records()
    assert cmd.close() == 0
    assert first["split"] == "time" and first["time_field"] == "_time"


def test_time_field_missing_is_one_error(stack: LocalStack, script: Path) -> None:
    cmd = splunkd(script, stack.url, stack.token)
    args = ["fit", "LinearRegression", "load", "from", "temp", "time_field=when"]
    _, replies = run_fit(cmd, args, chunks(energy(50, 3), 400, ENERGY))
    errors = [text for level, text in replies[-1].messages if level == "ERROR"]
    assert len(errors) == 1 and "time field 'when' is not in the data" in errors[0], errors
    assert cmd.close() == 1
    assert "Traceback" not in cmd.stderr


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        ("kfold_cv=1", "kfold_cv"),
        ("kfold_cv=50", "kfold_cv"),
        ("split=sideways", "split"),
    ],
)
def test_bad_validation_options_are_refused_before_data_moves(
    stack: LocalStack, script: Path, option: str, fragment: str
) -> None:
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["fit", "LinearRegression", "load", "from", "temp", option])
    errors = [text for level, text in info.messages if level == "ERROR"]
    assert len(errors) == 1 and fragment in errors[0], info.messages
    cmd.close()


def test_sdk_fit_with_time_kfold(stack: LocalStack) -> None:
    import pandas as pd

    frame = pd.DataFrame(energy(160, 4)).astype({"load": float, "temp": float})
    client = stack.client()
    result = client.fit(
        frame,
        "Ridge",
        target="load",
        features=["temp", "_time"],
        into="load_sdk",
        kfold_cv=3,
        progress=False,
    )
    assert result.split == "time"  # _time is a feature
    assert [f["fold_number"] for f in result.folds] == [1, 2, 3]
    assert [f["n_test"] for f in result.folds] == [40, 40, 40]
    summary = result.summary()
    assert summary["split"] == "time" and summary["kfold_cv"] == 3
    assert summary["folds"] == result.folds
    assert summary["metrics"]["r2"] == pytest.approx(np.mean([f["r2"] for f in result.folds]))


def lagged_load(n: int, seed: int) -> list[dict]:
    """Load follows temperature three hours later: only its past explains it."""
    rng = random.Random(seed)
    temps = [15 + 8 * math.sin(i / 5) + rng.gauss(0, 1) for i in range(n + 3)]
    rows = [
        {
            "_time": 1700000000 + 3600 * i,
            "ts": 1700000000 + 3600 * i,
            "load": f"{2 * temps[i] + rng.gauss(0, 0.3):.3f}",
            "temp": f"{temps[i + 3]:.3f}",
        }
        for i in range(n)
    ]
    rng.shuffle(rows)
    return rows


def test_lags_fit_and_apply_repeats_them_on_raw_events(stack: LocalStack, script: Path) -> None:
    events = lagged_load(300, 7)
    base = ["fit", "LinearRegression", "load", "from", "temp"]
    (plain,), _ = fit_rows(stack, script, [*base, "into", "load_plain"], events, ENERGY)
    (lagged,), _ = fit_rows(
        stack, script, [*base, "lags=1,2,3", "rolling=mean:3", "into", "load_lags"], events, ENERGY
    )
    assert float(lagged["r2"]) > 0.95 > float(plain["r2"]) + 0.3

    # apply orders the events by _time itself: any order gives each event the same score.
    fresh = lagged_load(150, 8)
    scored = {}
    for order in (fresh, sorted(fresh, key=lambda e: -e["_time"])):
        cmd = splunkd(script, stack.url, stack.token)
        info = cmd.getinfo(["apply", "load_lags"])
        assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
        _, rows = cmd.send(order, finished=True)
        assert cmd.close() == 0
        scored[id(order)] = {r["_time"]: float(r["predicted(load)"]) for r in rows}
    first, second = scored.values()
    assert first == pytest.approx(second)
    truth = {str(e["_time"]): float(e["load"]) for e in fresh}
    errors = [abs(first[t] - truth[t]) for t in first if int(t) > 1700000000 + 3600 * 3]
    assert np.median(errors) < 1.0


SITE_POWER = ["_time", "site", "ac_power", "total-cpu-utilization"]


def site_power(per_site: dict[str, int], seed: int) -> list[dict]:
    """server_power.csv's shape with a `site` field: each site's power follows the CPU
    with its own slope, so one model per site explains what one model for all cannot."""
    rng = random.Random(seed)
    slopes = {"east": 0.5, "west": 2.5, "lab": 1.0}
    rows = []
    for site, n in per_site.items():
        for i in range(n):
            cpu = rng.uniform(0, 100)
            rows.append(
                {
                    "_time": 1700000000 + 60 * i,
                    "site": site,
                    "ac_power": f"{100 + slopes[site] * cpu + rng.gauss(0, 1):.3f}",
                    "total-cpu-utilization": f"{cpu:.3f}",
                }
            )
    rng.shuffle(rows)
    return rows


def test_kfold_with_by_folds_each_group_on_its_own_rows(stack: LocalStack, script: Path) -> None:
    """MLTK folds one model (its k-fold scoring, base.py, reads no `by`); Kepler's `by`
    fits one model per group, so each group is folded on its own rows: scikit-learn's
    cross_validate on that group's events gives the same scores. A group too small to
    fold is named in a WARN and has no fold rows."""
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import KFold, cross_validate

    events = site_power({"east": 60, "west": 45, "lab": 2}, seed=9)
    args = [
        "fit",
        "LinearRegression",
        "ac_power",
        "from",
        "total-cpu-utilization",
        "kfold_cv=3",
        "by",
        "site",
        "into",
        "power_by_site",
    ]
    rows, messages = fit_rows(stack, script, args, events, SITE_POWER)
    assert [(r["site"], int(r["fold_number"])) for r in rows] == [
        ("east", 1),
        ("east", 2),
        ("east", 3),
        ("west", 1),
        ("west", 2),
        ("west", 3),
    ]
    for site in ("east", "west"):
        mine = [e for e in events if e["site"] == site]  # in the order the search sent them
        want = cross_validate(
            LinearRegression(),
            np.array([[float(e["total-cpu-utilization"])] for e in mine]),
            np.array([float(e["ac_power"]) for e in mine]),
            cv=KFold(3, shuffle=True, random_state=0),
            scoring=REGRESSOR_SCORES,
        )
        got = [r for r in rows if r["site"] == site]
        np.testing.assert_allclose([float(r["r2"]) for r in got], want["test_r2"], rtol=1e-6)
        assert sum(int(r["n_test"]) for r in got) == len(mine)
    assert all(float(r["r2"]) > 0.95 for r in rows)  # one slope per site: near exact
    warns = [text for level, text in messages if level == "WARN"]
    assert len(warns) == 1 and "lab" in warns[0] and "too few" in warns[0], messages


def test_kfold_with_by_where_no_group_can_be_folded_is_one_error(
    stack: LocalStack, script: Path
) -> None:
    cmd = splunkd(script, stack.url, stack.token)
    args = ["fit", "LinearRegression", "ac_power", "from", "total-cpu-utilization"]
    args += ["kfold_cv=5", "by", "site"]
    events = site_power({"east": 3, "west": 4}, seed=10)
    _, replies = run_fit(cmd, args, chunks(events, 400, SITE_POWER))
    errors = [text for level, text in replies[-1].messages if level == "ERROR"]
    assert len(errors) == 1 and "no group can be folded" in errors[0], replies[-1].messages
    assert cmd.close() == 1
    assert "Traceback" not in cmd.stderr


def site_load(n: int, seed: int) -> list[dict]:
    """Two sites' hourly load, each following its own temperature an hour earlier (which
    the hour's own temperature says nothing about); the sites' rows interleave in time, so
    a lag taken across sites reads the other site's, as useless."""
    rng = random.Random(seed)
    rows = []
    for site, base in (("north", 5.0), ("south", 30.0)):
        temps = [base + rng.gauss(0, 5) for i in range(n + 1)]
        for i in range(n):
            rows.append(
                {
                    "_time": 1700000000 + 3600 * i + (0 if site == "north" else 1800),
                    "site": site,
                    "load": f"{3 * temps[i] + rng.gauss(0, 0.2):.3f}",
                    "temp": f"{temps[i + 1]:.3f}",
                }
            )
    rng.shuffle(rows)
    return rows


SITE_LOAD = ["_time", "site", "load", "temp"]


def test_lags_with_by_come_from_each_groups_own_past(stack: LocalStack, script: Path) -> None:
    # Kepler's lags= with MLTK's `by`: each site's lag is its own previous hour.
    base = ["fit", "LinearRegression", "load", "from", "temp", "lags=1", "by", "site"]
    (fitted,), _ = fit_rows(
        stack, script, [*base, "into", "load_lag_by"], site_load(200, 11), SITE_LOAD
    )
    assert float(fitted["r2"]) > 0.95  # temp_lag1 is the load's cause, within each site

    # apply repeats it on raw events, in any order: each site's own past again.
    fresh = site_load(80, 12)
    scored = []
    for order in (fresh, sorted(fresh, key=lambda e: (e["site"], -e["_time"]))):
        cmd = splunkd(script, stack.url, stack.token)
        info = cmd.getinfo(["apply", "load_lag_by"])
        assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
        _, rows = cmd.send(order, finished=True)
        assert cmd.close() == 0
        scored.append({(r["site"], r["_time"]): float(r["predicted(load)"]) for r in rows})
    assert scored[0] == pytest.approx(scored[1])
    truth = {(e["site"], str(e["_time"])): float(e["load"]) for e in fresh}
    first = {s: min(e["_time"] for e in fresh if e["site"] == s) for s in ("north", "south")}
    errors = [abs(p - truth[k]) for k, p in scored[0].items() if int(k[1]) > first[k[0]]]
    assert np.median(errors) < 1.0  # the load's own noise is 0.2; a wrong lag: about 15
