"""MLTK's output table for each ``score`` metric, from what :mod:`kepler.ml.live_metrics`
kept of the events (pair counts, moments or values).

The shapes are MLTK's (its ``score`` command's classification, regression and statstest
methods): one row per compared pair with ``Actual field``/``Predicted field`` (``A_field``/
``B_field`` for the tests, ``Field`` for ``ttest_1samp``), one column per class where
``average=None``, ``Label``/``predicted(<class>)`` rows for ``confusion_matrix``,
``Metric``/``scored(<class>)`` for ``precision_recall_fscore_support`` with ``average=None``,
``statistic``/``p-value``/``Test decision (alpha=...)`` for the tests.
``classification_report`` (no ``score`` method in MLTK; scikit-learn's report) has one
row per class and per average: ``class``, ``precision``, ``recall``, ``f1-score``, ``support``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from kepler.core.errors import DataError
from kepler.core.score import CLASSIFICATION, REGRESSION, ScoreSpec

ACTUAL, PREDICTED = "Actual field", "Predicted field"
Table = tuple[list[str], list[dict[str, Any]]]

NULL_HYPOTHESES = {
    "ks_2samp": "the independent samples are drawn from the same continuous distribution.",
    "ttest_ind": "the independent samples have identical average (expected) values.",
    "ttest_rel": "the related or repeated samples have identical average (expected) values.",
    "ttest_1samp": "the mean of the samples of independent observations is equal to the "
    "population mean {popmean}.",
}


def build(spec: ScoreSpec, acc: Any) -> Table:
    family = spec.info.family
    if family == REGRESSION:
        return _regression(spec, acc)
    if spec.metric in ("roc_auc_score", "roc_curve"):
        return _roc(spec, acc)
    if family == CLASSIFICATION:
        return _classification(spec, acc)
    return _test(spec, acc)


# -- classification, from the counts of (label, prediction) pairs ---------------------------


def _weighted(counts: dict[tuple[str, str], int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keys = list(counts)
    actual = np.array([k[0] for k in keys], dtype=object)
    predicted = np.array([k[1] for k in keys], dtype=object)
    return actual, predicted, np.array([counts[k] for k in keys], dtype=np.int64)


def _sklearn(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    # An undefined precision or recall is 0, as scikit-learn says in a warning: same value.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


def _classification(spec: ScoreSpec, acc: Any) -> Table:
    from sklearn import metrics

    opts = spec.options
    labels = sorted(set().union(*acc.classes.values()))
    name = spec.metric
    if name == "confusion_matrix":
        y, p, w = _weighted(acc.counts[0])
        matrix = metrics.confusion_matrix(y, p, labels=labels, sample_weight=w)
        columns = ["Label", *(f"predicted({c})" for c in labels)]
        rows = [
            {
                "Label": f"actual({c})",
                **{f"predicted({k})": int(v) for k, v in zip(labels, r, strict=True)},
            }
            for c, r in zip(labels, matrix, strict=True)
        ]
        return columns, rows
    if name == "classification_report":
        y, p, w = _weighted(acc.counts[0])
        report = _sklearn(metrics.classification_report, y, p, sample_weight=w, output_dict=True)
        return ["class", "precision", "recall", "f1-score", "support"], _report_rows(report)
    rows = []
    for (a, b), counts in zip(spec.pairs, acc.counts, strict=True):
        y, p, w = _weighted(counts)
        ident = {ACTUAL: a, PREDICTED: b}
        if name == "accuracy_score":
            value = metrics.accuracy_score(y, p, normalize=opts["normalize"], sample_weight=w)
            rows.append({**ident, name: value if opts["normalize"] else round(value)})
            continue
        average = opts["average"]
        kw: dict[str, Any] = {"average": average, "sample_weight": w}
        if average == "binary":
            _check_binary(spec, a, b, acc.classes, counts)
            kw["pos_label"] = opts["pos_label"]
        elif average is None:
            kw["labels"] = labels
        if name == "precision_recall_fscore_support":
            kw["beta"] = opts["beta"]
            result = _sklearn(metrics.precision_recall_fscore_support, y, p, **kw)
            if average is None:
                return _prfs_by_class(labels, result)
            keys = ("precision", "recall", "fbeta_score", "support")
            rows.append({**ident, **dict(zip(keys, result, strict=True))})
            continue
        value = _sklearn(getattr(metrics, name), y, p, **kw)
        if average is None:
            rows.append({**ident, **{c: float(v) for c, v in zip(labels, value, strict=True)}})
        else:
            rows.append({**ident, name: float(value)})
    if name == "precision_recall_fscore_support":
        columns = [ACTUAL, PREDICTED, "precision", "recall", "fbeta_score", "support"]
    elif spec.options.get("average", "") is None:
        columns = [ACTUAL, PREDICTED, *labels]
    else:
        columns = [ACTUAL, PREDICTED, name]
    return columns, rows


def _check_binary(
    spec: ScoreSpec,
    a: str,
    b: str,
    classes: dict[str, set[str]],
    counts: dict[tuple[str, str], int],
) -> None:
    seen = {k[0] for k in counts} | {k[1] for k in counts}
    if len(seen) > 2:
        raise DataError(
            f"{spec.metric} with average=binary needs two classes, but label field {a!r} and "
            f"predicted field {b!r} hold {len(seen)} together ({_some(seen)}); pass "
            "average=micro, macro, weighted or None",
            detail={"classes": sorted(seen)[:20]},
        )
    pos = spec.options["pos_label"]
    actual = {k[0] for k in counts}
    if pos not in actual:
        default = " (the default)" if pos == "1" else ""
        raise DataError(
            f"pos_label {pos!r}{default} is not a value of label field {a!r} (it holds "
            f"{_some(actual)}); pass pos_label=<the positive class>",
            detail={"pos_label": pos, "classes": sorted(actual)[:20]},
        )


def _prfs_by_class(labels: list[str], result: Any) -> Table:
    columns = ["Metric", *(f"scored({c})" for c in labels)]
    rows = []
    for metric, values in zip(
        ("precision", "recall", "fbeta_score", "support"), result, strict=True
    ):
        cast = int if metric == "support" else float
        rows.append(
            {
                "Metric": metric,
                **{f"scored({c})": cast(v) for c, v in zip(labels, values, strict=True)},
            }
        )
    return columns, rows


def _report_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    total = None
    for key, value in report.items():
        if isinstance(value, dict):
            support = value["support"]
            total = support if key == "macro avg" else total
            rows.append(
                {
                    "class": key,
                    "precision": value["precision"],
                    "recall": value["recall"],
                    "f1-score": value["f1-score"],
                    "support": round(support),
                }
            )
        else:  # accuracy: one number, shown in the f1-score column as scikit-learn prints it
            rows.append({"class": key, "f1-score": value})
    for row in rows:
        if row["class"] == "accuracy" and total is not None:
            row["support"] = round(total)
    return rows


def _some(values: set[str]) -> str:
    shown = sorted(values)
    return ", ".join(shown[:10]) + (" ..." if len(shown) > 10 else "")


# -- ROC, from the values -------------------------------------------------------------------


def _roc(spec: ScoreSpec, acc: Any) -> Table:
    from sklearn import metrics

    pos = spec.options["pos_label"]
    rows: list[dict[str, Any]] = []
    for a, b in spec.pairs:
        actual = acc.label_values(a)
        classes = set(np.unique(actual))
        if pos not in classes:
            default = " (the default)" if pos == "1" else ""
            raise DataError(
                f"pos_label {pos!r}{default} is not a value of label field {a!r} (it holds "
                f"{_some(classes)}); pass pos_label=<the positive class>",
                detail={"pos_label": pos},
            )
        if len(classes) < 2:
            raise DataError(
                f"{spec.metric} needs both classes in label field {a!r}, but every row holds "
                f"{pos!r}; widen the search so that it holds negatives too",
                detail={"field": a},
            )
        if len(classes) > 2:
            acc.notes.append(
                f"label field {a!r} holds {len(classes)} classes: {pos!r} is positive, "
                "every other class negative"
            )
        truth = (actual == pos).astype(np.int64)
        scores = acc.values(b)
        if spec.metric == "roc_curve":
            fpr, tpr, thresholds = metrics.roc_curve(
                truth, scores, drop_intermediate=spec.options["drop_intermediate"]
            )
            rows = [
                {"fpr": f, "tpr": t, "thresholds": h}
                for f, t, h in zip(fpr.tolist(), tpr.tolist(), thresholds.tolist(), strict=True)
            ]
            return ["fpr", "tpr", "thresholds"], rows
        value = metrics.roc_auc_score(truth, scores)
        rows.append({ACTUAL: a, PREDICTED: b, spec.metric: float(value)})
    return [ACTUAL, PREDICTED, spec.metric], rows


# -- regression, from the moments -----------------------------------------------------------


def _regression(spec: ScoreSpec, acc: Any) -> Table:
    name = spec.metric
    values = [_regression_value(name, m) for m in acc.moments]
    one_to_many = len(spec.fields) == 1 and len(spec.against) > 1
    if spec.options["multioutput"] == "uniform_average" and one_to_many:
        acc.notes.append(
            'multioutput is "raw_values": one field against several gives one row per pair'
        )
    if spec.options["multioutput"] == "uniform_average" and not one_to_many:
        return [name], [{name: float(np.mean(values))}]
    rows = [
        {ACTUAL: a, PREDICTED: b, name: v} for (a, b), v in zip(spec.pairs, values, strict=True)
    ]
    return [ACTUAL, PREDICTED, name], rows


def _regression_value(name: str, m: Any) -> float:
    if name == "mean_absolute_error":
        return float(m.sae / m.n)
    if name == "mean_squared_error":
        return float(m.sse / m.n)
    numerator = m.sse if name == "r2_score" else m.m2_d
    if m.m2_y == 0.0:  # a constant label: scikit-learn's force_finite answer
        return 1.0 if numerator == 0.0 else 0.0
    return float(1.0 - numerator / m.m2_y)


# -- statistical tests, from the values -----------------------------------------------------


def _test(spec: ScoreSpec, acc: Any) -> Table:
    from scipy import stats

    alpha = spec.options["alpha"]
    decision = f"Test decision (alpha={alpha})"
    hypothesis = NULL_HYPOTHESES[spec.metric].format(popmean=spec.options.get("popmean"))

    def judged(result: Any) -> dict[str, Any]:
        p = float(result.pvalue)
        verdict = "Reject" if p <= alpha else "Fail to reject"
        return {
            "statistic": float(result.statistic),
            "p-value": p,
            decision: f"{verdict} the null hypothesis that {hypothesis}",
        }

    if spec.metric == "ks_2samp":
        ((a, b),) = spec.pairs
        return ["statistic", "p-value", decision], [
            judged(stats.ks_2samp(acc.values(a), acc.values(b)))
        ]
    if spec.metric == "ttest_1samp":
        rows = [
            {"Field": f, **judged(stats.ttest_1samp(acc.values(f), spec.options["popmean"]))}
            for f in spec.fields
        ]
        return ["Field", "statistic", "p-value", decision], rows
    rows = []
    for a, b in spec.pairs:
        if spec.metric == "ttest_ind":
            result = stats.ttest_ind(
                acc.values(a), acc.values(b), equal_var=spec.options["equal_var"]
            )
        else:
            result = stats.ttest_rel(acc.values(a), acc.values(b))
        rows.append({"A_field": a, "B_field": b, **judged(result)})
    return ["A_field", "B_field", "statistic", "p-value", decision], rows
