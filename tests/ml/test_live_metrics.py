"""MLTK's score metrics over batches (kepler.ml.live_metrics) against scikit-learn's and
SciPy's own functions on the same rows, MLTK's output columns, and bad input."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics

from kepler.core.errors import DataError
from kepler.core.score import METRICS, check_score, parse_score
from kepler.ml.live_metrics import check_columns, score_frames

ACTUAL, PREDICTED = "Actual field", "Predicted field"
N = 2_000


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    label = rng.choice(["no", "yes"], N, p=[0.7, 0.3])
    right = rng.random(N) < 0.8
    other = np.where(label == "yes", "no", "yes")
    kind = rng.choice(["a", "b", "c"], N)
    y = rng.normal(50, 10, N)
    return pd.DataFrame(
        {
            "failure": label,
            "predicted(failure)": np.where(right, label, other),
            "model2": np.where(rng.random(N) < 0.6, label, other),
            "proba": np.clip(np.where(label == "yes", 0.3, 0.0) + rng.random(N) * 0.7, 0, 1),
            "kind": kind,
            "predicted(kind)": np.where(rng.random(N) < 0.7, kind, rng.choice(["a", "b", "c"], N)),
            "code": rng.choice([0, 1], N),
            "predicted(code)": rng.choice([0, 1], N),
            "y": y,
            "predicted(y)": y + rng.normal(0, 3, N),
            "y2": y * 0.5,
            "predicted(y2)": y * 0.5 + rng.normal(1, 2, N),
            "t": rng.normal(51, 10, N),
        }
    )


def batches(df: pd.DataFrame, size: int = 300, as_text: bool = True) -> Iterator[pd.DataFrame]:
    """The rows as the bridge reads a search's events: batches of strings (Splunk's CSV)."""
    for start in range(0, len(df), size):
        part = df.iloc[start : start + size]
        yield part.astype(str) if as_text else part


def run(line: str, df: pd.DataFrame, **kw: int) -> tuple[list[str], list[dict]]:
    spec = parse_score(line.split())
    out = score_frames(
        spec,
        batches(df, as_text=kw.pop("as_text", True)),  # type: ignore[arg-type]
        max_rows=kw.get("max_rows", 1_000_000),
        max_classes=kw.get("max_classes", 100),
    )
    return out["columns"], out["rows"]


def sk(fn, *args, **kw):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def test_accuracy_score_one_row_per_pair(events: pd.DataFrame) -> None:
    columns, rows = run("accuracy_score failure against predicted(failure) model2", events)
    assert columns == [ACTUAL, PREDICTED, "accuracy_score"]
    assert [(r[ACTUAL], r[PREDICTED]) for r in rows] == [
        ("failure", "predicted(failure)"),
        ("failure", "model2"),
    ]
    for row, pred in zip(rows, ["predicted(failure)", "model2"], strict=True):
        assert row["accuracy_score"] == pytest.approx(
            metrics.accuracy_score(events["failure"], events[pred])
        )
    _, rows = run("accuracy_score failure against predicted(failure) normalize=false", events)
    assert rows[0]["accuracy_score"] == metrics.accuracy_score(
        events["failure"], events["predicted(failure)"], normalize=False
    )


@pytest.mark.parametrize("name", ["precision_score", "recall_score", "f1_score"])
@pytest.mark.parametrize("average", ["binary", "micro", "macro", "weighted"])
def test_precision_recall_f1_averaged(events: pd.DataFrame, name: str, average: str) -> None:
    extra = " pos_label=yes" if average == "binary" else ""
    columns, rows = run(
        f"{name} failure kind against predicted(failure) predicted(kind) average={average}{extra}"
        if average != "binary"
        else f"{name} failure against predicted(failure) average=binary{extra}",
        events,
    )
    assert columns == [ACTUAL, PREDICTED, name]
    fn = getattr(metrics, name)
    expected = sk(
        fn, events["failure"], events["predicted(failure)"], average=average, pos_label="yes"
    )
    assert rows[0][name] == pytest.approx(expected)
    if average != "binary":
        assert rows[1][name] == pytest.approx(
            sk(fn, events["kind"], events["predicted(kind)"], average=average)
        )


@pytest.mark.parametrize("name", ["precision_score", "recall_score", "f1_score"])
def test_average_none_gives_one_column_per_class(events: pd.DataFrame, name: str) -> None:
    columns, rows = run(f"{name} kind against predicted(kind) average=None", events)
    assert columns == [ACTUAL, PREDICTED, "a", "b", "c"]
    expected = getattr(metrics, name)(
        events["kind"], events["predicted(kind)"], average=None, labels=["a", "b", "c"]
    )
    assert [rows[0][c] for c in "abc"] == pytest.approx(list(expected))


def test_integer_labels_compare_as_mltk_does(events: pd.DataFrame) -> None:
    """0/1 labels: pos_label defaults to 1, as in MLTK."""
    _, rows = run("f1_score code against predicted(code)", events)
    assert rows[0]["f1_score"] == pytest.approx(
        metrics.f1_score(events["code"], events["predicted(code)"])
    )
    _, rows = run("f1_score code against predicted(code)", events, as_text=False)
    assert rows[0]["f1_score"] == pytest.approx(
        metrics.f1_score(events["code"], events["predicted(code)"])
    )


def test_precision_recall_fscore_support(events: pd.DataFrame) -> None:
    columns, rows = run("precision_recall_fscore_support kind against predicted(kind)", events)
    assert columns == ["Metric", "scored(a)", "scored(b)", "scored(c)"]
    assert [r["Metric"] for r in rows] == ["precision", "recall", "fbeta_score", "support"]
    expected = metrics.precision_recall_fscore_support(events["kind"], events["predicted(kind)"])
    for row, values in zip(rows, expected, strict=True):
        assert [row[f"scored({c})"] for c in "abc"] == pytest.approx(list(values))
    columns, rows = run(
        "precision_recall_fscore_support kind against predicted(kind) average=macro beta=2",
        events,
    )
    assert columns == [ACTUAL, PREDICTED, "precision", "recall", "fbeta_score", "support"]
    p, r, f, s = metrics.precision_recall_fscore_support(
        events["kind"], events["predicted(kind)"], average="macro", beta=2
    )
    assert [rows[0]["precision"], rows[0]["recall"], rows[0]["fbeta_score"]] == pytest.approx(
        [p, r, f]
    )
    assert rows[0]["support"] is None and s is None


def test_confusion_matrix(events: pd.DataFrame) -> None:
    columns, rows = run("confusion_matrix kind against predicted(kind)", events)
    assert columns == ["Label", "predicted(a)", "predicted(b)", "predicted(c)"]
    assert [r["Label"] for r in rows] == ["actual(a)", "actual(b)", "actual(c)"]
    expected = metrics.confusion_matrix(events["kind"], events["predicted(kind)"])
    assert [[r[c] for c in columns[1:]] for r in rows] == expected.tolist()


def test_classification_report(events: pd.DataFrame) -> None:
    columns, rows = run("classification_report kind against predicted(kind)", events)
    assert columns == ["class", "precision", "recall", "f1-score", "support"]
    expected = metrics.classification_report(
        events["kind"], events["predicted(kind)"], output_dict=True
    )
    assert [r["class"] for r in rows] == list(expected)
    for row in rows:
        want = expected[row["class"]]
        if isinstance(want, float):
            assert row["f1-score"] == pytest.approx(want) and row["support"] == N
        else:
            got = [row["precision"], row["recall"], row["f1-score"], row["support"]]
            assert got == pytest.approx(
                [want[k] for k in ("precision", "recall", "f1-score", "support")]
            )


def test_roc_auc_score_and_roc_curve(events: pd.DataFrame) -> None:
    truth = (events["failure"] == "yes").astype(int)
    columns, rows = run("roc_auc_score failure against proba pos_label=yes", events)
    assert columns == [ACTUAL, PREDICTED, "roc_auc_score"]
    assert rows[0]["roc_auc_score"] == pytest.approx(metrics.roc_auc_score(truth, events["proba"]))
    columns, rows = run("roc_curve failure against proba pos_label=yes", events)
    assert columns == ["fpr", "tpr", "thresholds"]
    fpr, tpr, thresholds = metrics.roc_curve(truth, events["proba"])
    assert [r["fpr"] for r in rows] == pytest.approx(list(fpr))
    assert [r["tpr"] for r in rows] == pytest.approx(list(tpr))
    assert rows[0]["thresholds"] is None  # scikit-learn's first threshold, inf, has no JSON
    assert [r["thresholds"] for r in rows[1:]] == pytest.approx(list(thresholds[1:]))


@pytest.mark.parametrize(
    "name", ["r2_score", "explained_variance_score", "mean_absolute_error", "mean_squared_error"]
)
def test_regression_metrics_from_sums(events: pd.DataFrame, name: str) -> None:
    fn = getattr(metrics, name)
    columns, rows = run(f"{name} y y2 against predicted(y) predicted(y2)", events)
    assert columns == [ACTUAL, PREDICTED, name]
    for row, (a, b) in zip(rows, [("y", "predicted(y)"), ("y2", "predicted(y2)")], strict=True):
        assert (row[ACTUAL], row[PREDICTED]) == (a, b)
        assert row[name] == pytest.approx(fn(events[a], events[b]), rel=1e-9)
    columns, rows = run(
        f"{name} y y2 against predicted(y) predicted(y2) multioutput=uniform_average", events
    )
    assert columns == [name]
    expected = fn(events[["y", "y2"]], events[["predicted(y)", "predicted(y2)"]])
    assert rows[0][name] == pytest.approx(expected, rel=1e-9)


def test_r2_of_a_constant_label_is_scikit_learns() -> None:
    df = pd.DataFrame({"y": [3.0] * 10, "p": [3.0] * 9 + [4.0]})
    _, rows = run("r2_score y against p", df)
    assert rows[0]["r2_score"] == metrics.r2_score(df["y"], df["p"])


def test_ks_2samp(events: pd.DataFrame) -> None:
    columns, rows = run("ks_2samp y against t", events)
    assert columns == ["statistic", "p-value", "Test decision (alpha=0.05)"]
    expected = stats.ks_2samp(events["y"], events["t"])
    assert rows[0]["statistic"] == pytest.approx(expected.statistic)
    assert rows[0]["p-value"] == pytest.approx(expected.pvalue)
    verdict = "Reject" if expected.pvalue <= 0.05 else "Fail to reject"
    assert rows[0]["Test decision (alpha=0.05)"].startswith(f"{verdict} the null hypothesis")


@pytest.mark.parametrize("equal_var", [True, False])
def test_ttest_ind(events: pd.DataFrame, equal_var: bool) -> None:
    columns, rows = run(f"ttest_ind y y2 against t predicted(y2) equal_var={equal_var}", events)
    assert columns == ["A_field", "B_field", "statistic", "p-value", "Test decision (alpha=0.05)"]
    for row, (a, b) in zip(rows, [("y", "t"), ("y2", "predicted(y2)")], strict=True):
        expected = stats.ttest_ind(events[a], events[b], equal_var=equal_var)
        assert (row["A_field"], row["B_field"]) == (a, b)
        assert [row["statistic"], row["p-value"]] == pytest.approx(
            [expected.statistic, expected.pvalue]
        )


def test_ttest_rel_and_1samp(events: pd.DataFrame) -> None:
    _, rows = run("ttest_rel y against predicted(y) alpha=0.01", events)
    expected = stats.ttest_rel(events["y"], events["predicted(y)"])
    assert [rows[0]["statistic"], rows[0]["p-value"]] == pytest.approx(
        [expected.statistic, expected.pvalue]
    )
    assert "Test decision (alpha=0.01)" in rows[0]
    columns, rows = run("ttest_1samp y t popmean=50", events)
    assert columns == ["Field", "statistic", "p-value", "Test decision (alpha=0.05)"]
    for row, field in zip(rows, ["y", "t"], strict=True):
        expected = stats.ttest_1samp(events[field], 50)
        assert row["Field"] == field
        assert [row["statistic"], row["p-value"]] == pytest.approx(
            [expected.statistic, expected.pvalue]
        )


def test_every_metric_is_covered_here() -> None:
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    assert [m for m in METRICS if m not in source.replace("{name}", "")] == []


def test_rows_missing_a_field_are_left_out_and_counted(events: pd.DataFrame) -> None:
    df = events[["y", "predicted(y)"]].astype(str).copy()
    df.iloc[:10, 1] = ""
    spec = parse_score(["mean_absolute_error", "y", "against", "predicted(y)"])
    out = score_frames(spec, iter([df]), max_rows=10, max_classes=10)
    assert (out["rows_read"], out["rows_scored"], out["rows_dropped"]) == (N, N - 10, 10)
    expected = metrics.mean_absolute_error(events["y"][10:], events["predicted(y)"][10:])
    assert out["rows"][0]["mean_absolute_error"] == pytest.approx(expected)


# -- bad input -------------------------------------------------------------------------------


def error(line: str, df: pd.DataFrame, **kw: int) -> str:
    with pytest.raises(DataError) as err:
        run(line, df, **kw)
    return err.value.message


def test_absent_field_names_the_fields_there_are(events: pd.DataFrame) -> None:
    spec = check_score("accuracy_score", "failur", "predicted(failure)")
    with pytest.raises(DataError) as err:
        check_columns(spec, events.columns)
    assert "label field 'failur' is not in the events" in err.value.message
    assert "failure" in err.value.message


def test_regression_of_text_says_which_field(events: pd.DataFrame) -> None:
    message = error("mean_squared_error y against failure", events)
    assert "predicted field 'failure' holds text such as 'no'" in message


def test_label_and_prediction_of_different_types_say_which(events: pd.DataFrame) -> None:
    message = error("accuracy_score code against predicted(failure)", events)
    assert "label field 'code' holds numbers" in message
    assert "predicted field 'predicted(failure)' holds text" in message


def test_roc_needs_scores(events: pd.DataFrame) -> None:
    assert "needs numbers" in error("roc_auc_score failure against model2 pos_label=yes", events)


def test_pos_label_absent_says_how_to_fix(events: pd.DataFrame) -> None:
    message = error("precision_score failure against predicted(failure)", events)
    assert "pos_label '1' (the default) is not a value of label field 'failure'" in message
    assert "pos_label=<the positive class>" in message


def test_binary_average_on_three_classes_suggests_another(events: pd.DataFrame) -> None:
    assert "pass average=micro" in error("f1_score kind against predicted(kind)", events)


def test_too_few_rows_for_a_test(events: pd.DataFrame) -> None:
    message = error("ttest_ind y against t", events.head(1))
    assert "needs at least 2 rows" in message and "too few for the test" in message


def test_row_limit_of_the_metrics_that_keep_values(events: pd.DataFrame) -> None:
    message = error("ks_2samp y against t", events, max_rows=500)
    assert "more than 500 rows" in message and "KEPLER_SCORE_MAX_ROWS" in message
    run("accuracy_score failure against model2", events, max_rows=500)  # counts: no limit


def test_class_limit(events: pd.DataFrame) -> None:
    assert "KEPLER_SCORE_MAX_CLASSES" in error("accuracy_score y against t", events)
