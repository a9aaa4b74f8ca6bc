"""`| kepler score ...` as splunkd runs it, against a real bridge and worker: SPL lines of
MLTK's score documentation end to end, under the project's Python and each of Splunk's
(3.9, 3.13), with the table equal to scikit-learn's and SciPy's on the same events, and
bad input as one ERROR message, never a traceback."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from scipy import stats
from sklearn import metrics

from kepler._stack import LocalStack
from tests.splunk.harness import Reply, Splunkd, chunks
from tests.splunk.pythons import SplunkPython

pytestmark = pytest.mark.system

FIELDS = [
    "_time",
    "failure",
    "predicted(failure)",
    "model2",
    "probability(failure=yes)",
    "kwh",
    "predicted(kwh)",
    "code",
    "site",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("score-stack")) as s:
        yield s


@pytest.fixture(scope="module")
def events() -> list[dict]:
    rng = random.Random(11)
    rows = []
    for i in range(2500):
        label = "yes" if rng.random() < 0.3 else "no"
        other = "no" if label == "yes" else "yes"
        kwh = rng.gauss(12, 3)
        proba = min(1.0, (0.4 if label == "yes" else 0.0) + rng.random() * 0.6)
        rows.append(
            {
                "_time": 1700000000 + i,
                "failure": label,
                "predicted(failure)": label if rng.random() < 0.85 else other,
                "model2": label if rng.random() < 0.6 else other,
                "probability(failure=yes)": f"{proba:.4f}",
                "kwh": f"{kwh:.3f}",
                "predicted(kwh)": f"{kwh + rng.gauss(0, 1):.3f}",
                "code": rng.choice(["0", "1"]),
                "site": rng.choice(["Köln", "東京"]),
            }
        )
    rows[7]["failure"] = ""  # a label that never arrived: left out, counted
    return rows


def command(script: Path, stack: LocalStack, python: str | None = None) -> Splunkd:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(KEPLER_URL=stack.url, KEPLER_TOKEN=stack.token)
    kw = {"python": python} if python else {}
    return Splunkd(script, command="kepler", python_args=["-S"], env=env, timeout=120, **kw)


def score(cmd: Splunkd, args: list[str], events: list[dict], size: int = 700) -> Reply:
    """getinfo, the events in chunks (only the fields the command asked for), the answer."""
    info = cmd.getinfo(args)
    assert "ERROR" not in [level for level, _ in info.messages], info.messages
    wanted = info.metadata["required_fields"]
    assert set(wanted) <= set(FIELDS) and "_time" not in wanted and "site" not in wanted
    bodies = chunks(events, size, wanted, chunked_idx=True)
    for body in bodies[:-1]:
        reply = cmd.execute(body, finished=False)
        assert reply.finished is False and reply.body == b""
    last = cmd.execute(bodies[-1], finished=True)
    assert last.finished is True
    assert cmd.close() == 0, cmd.stderr
    return last


def column(events: list[dict], name: str, cast: type = str) -> list:
    return [cast(e[name]) for e in events if e["failure"] != ""]


def test_mltk_lines_end_to_end(stack: LocalStack, script: Path, events: list[dict]) -> None:
    reply = score(
        command(script, stack),
        ["score", "accuracy_score", "failure", "against", "predicted(failure)", "model2"],
        events,
    )
    rows = reply.records()
    assert reply.fieldnames == ["Actual field", "Predicted field", "accuracy_score"]
    truth = column(events, "failure")
    for row, pred in zip(rows, ["predicted(failure)", "model2"], strict=True):
        assert row["Predicted field"] == pred
        assert float(row["accuracy_score"]) == pytest.approx(
            metrics.accuracy_score(truth, column(events, pred)), abs=1e-6
        )
    assert (
        "INFO",
        "kepler score: accuracy_score over 2499 rows (1 left out: a compared field was empty)",
    ) in reply.messages

    reply = score(
        command(script, stack),
        ["score", "f1_score", "failure", "against", '"predicted(failure)"', "average=weighted"],
        events,
    )
    assert float(reply.records()[0]["f1_score"]) == pytest.approx(
        metrics.f1_score(truth, column(events, "predicted(failure)"), average="weighted"),
        abs=1e-6,
    )

    reply = score(
        command(script, stack),
        ["score", "confusion_matrix", "failure", "against", "predicted(failure)"],
        events,
    )
    assert reply.fieldnames == ["Label", "predicted(no)", "predicted(yes)"]
    matrix = metrics.confusion_matrix(truth, column(events, "predicted(failure)"))
    assert [[int(r["predicted(no)"]), int(r["predicted(yes)"])] for r in reply.records()] == (
        matrix.tolist()
    )

    reply = score(
        command(script, stack),
        [
            "score",
            "roc_auc_score",
            "failure",
            "against",
            '"probability(failure=yes)"',
            'pos_label="yes"',
        ],
        events,
    )
    binary = [int(t == "yes") for t in truth]
    assert float(reply.records()[0]["roc_auc_score"]) == pytest.approx(
        metrics.roc_auc_score(binary, column(events, "probability(failure=yes)", float)),
        abs=1e-6,
    )


def test_regression_and_tests(stack: LocalStack, script: Path, events: list[dict]) -> None:
    # Every row has both numbers: none is left out (the empty label is not compared here).
    y, p = [float(e["kwh"]) for e in events], [float(e["predicted(kwh)"]) for e in events]
    reply = score(
        command(script, stack), ["score", "r2_score", "kwh", "against", "predicted(kwh)"], events
    )
    assert reply.fieldnames == ["Actual field", "Predicted field", "r2_score"]
    assert float(reply.records()[0]["r2_score"]) == pytest.approx(metrics.r2_score(y, p), abs=1e-6)
    reply = score(
        command(script, stack), ["score", "ttest_rel", "kwh", "against", "predicted(kwh)"], events
    )
    expected = stats.ttest_rel(y, p)
    row = reply.records()[0]
    assert reply.fieldnames == [
        "A_field",
        "B_field",
        "statistic",
        "p-value",
        "Test decision (alpha=0.05)",
    ]
    assert float(row["statistic"]) == pytest.approx(expected.statistic, rel=1e-5)
    assert float(row["p-value"]) == pytest.approx(expected.pvalue, rel=1e-5, abs=1e-12)


def test_under_splunks_pythons(
    stack: LocalStack, script: Path, events: list[dict], splunk_python: SplunkPython
) -> None:
    reply = score(
        command(script, stack, splunk_python.executable),
        ["score", "precision_recall_fscore_support", "failure", "against", "predicted(failure)"],
        events,
    )
    assert reply.fieldnames == ["Metric", "scored(no)", "scored(yes)"]
    expected = metrics.precision_recall_fscore_support(
        column(events, "failure"), column(events, "predicted(failure)")
    )
    for row, values in zip(reply.records(), expected, strict=True):
        assert [float(row["scored(no)"]), float(row["scored(yes)"])] == pytest.approx(
            list(values), abs=1e-6
        )
    cmd = command(script, stack, splunk_python.executable)
    assert "valid metrics: accuracy_score" in _error_at_getinfo(
        cmd, ["score", "accuracy", "a", "against", "b"]
    )


def _error_at_getinfo(cmd: Splunkd, args: list[str]) -> str:
    info = cmd.getinfo(args)
    errors = [text for level, text in info.messages if level == "ERROR"]
    assert len(errors) == 1, info.metadata
    assert cmd.close() == 1
    assert "Traceback" not in cmd.stderr
    return errors[0]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["score", "accuracy", "failure", "against", "model2"], "unknown score metric"),
        (["score", "f1_score", "failure", "against", "model2", "avg=macro"], "no option 'avg'"),
        (["score", "ttest_1samp", "kwh"], "needs popmean=<number>"),
    ],
)
def test_bad_spec_is_one_error_at_getinfo(
    stack: LocalStack, script: Path, args: list[str], fragment: str
) -> None:
    assert fragment in _error_at_getinfo(command(script, stack), args)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (
            ["score", "mean_squared_error", "kwh", "against", "failure"],
            "predicted field 'failure' holds text such as",
        ),
        (
            ["score", "accuracy_score", "code", "against", "failure"],
            "label field 'code' holds numbers but predicted field 'failure' holds text",
        ),
        (
            ["score", "precision_score", "failure", "against", "model2"],
            "pos_label '1' (the default) is not a value of label field 'failure'",
        ),
        (
            ["score", "accuracy_score", "failure", "against", "predicted(failur)"],
            "predicted field 'predicted(failur)' is not in the events",
        ),
    ],
)
def test_bad_data_is_one_error_at_the_end(
    stack: LocalStack, script: Path, events: list[dict], args: list[str], fragment: str
) -> None:
    cmd = command(script, stack)
    info = cmd.getinfo(args)
    assert not info.messages
    body = chunks(
        events[:300],
        300,
        [f for f in info.metadata["required_fields"] if f in FIELDS],
        chunked_idx=True,
    )[0]
    reply = cmd.execute(body, finished=True)
    errors = [text for level, text in reply.messages if level == "ERROR"]
    assert len(errors) == 1 and fragment in errors[0], reply.messages
    assert cmd.close() == 1
    assert "Traceback" not in cmd.stderr and not re.search(r"File \".*\", line", errors[0])
