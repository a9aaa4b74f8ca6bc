"""Charts (matplotlib, Agg): each draws the axes and labels it promises, from the data."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pandas as pd
import pytest

import kepler as kp
from kepler._plots import plot_leaderboard, roc_curve
from kepler._results import leaderboard_frame

matplotlib.use("Agg")

CLASSIFIER = {
    "name": "pump",
    "version": 1,
    "task": "classifier",
    "importances": [
        {"feature": "vibration", "importance": 0.6},
        {"feature": "temp", "importance": 0.4},
    ],
    "holdout_sample": {
        "n_holdout": 6,
        "classes": ["no", "yes"],
        "y_true": ["no", "no", "yes", "yes", "yes", "no"],
        "y_pred": ["no", "yes", "yes", "yes", "no", "no"],
        "score": [0.1, 0.6, 0.9, 0.8, 0.4, 0.2],
    },
}
REGRESSOR = {
    "name": "power",
    "version": 2,
    "task": "regressor",
    "coefficients": [{"feature": "temp", "coefficient": -1.5}],
    "holdout_sample": {"n_holdout": 3, "y_true": [1.0, 2.0, 4.0], "y_pred": [1.5, 2.0, 3.0]},
}


def labels(fig: object) -> list[tuple[str, str, str]]:
    return [(a.get_title(), a.get_xlabel(), a.get_ylabel()) for a in fig.axes]  # type: ignore[attr-defined]


def png(fig: object) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png")  # type: ignore[attr-defined]
    return out.getvalue()


def test_classifier_plots_importances_confusion_and_roc() -> None:
    fig = kp.ModelSummary(CLASSIFIER).plot()
    assert labels(fig) == [
        ("importances", "importance", ""),
        ("confusion matrix (6 holdout rows)", "predicted", "true"),
        ("ROC (yes positive)", "false positive rate", "true positive rate"),
    ]
    bars, confusion, roc = fig.axes
    assert [t.get_text() for t in bars.get_yticklabels()] == ["temp", "vibration"]
    counts = confusion.images[0].get_array()
    assert counts.tolist() == [[2, 1], [1, 2]]  # rows: true no/yes; columns: predicted
    assert roc.get_legend().get_texts()[0].get_text() == "AUC 0.889"
    assert png(fig).startswith(b"\x89PNG")


def test_regressor_plots_coefficients_and_residuals() -> None:
    fig = kp.ModelSummary(REGRESSOR).plot()
    assert labels(fig) == [
        ("coefficients", "coefficient", ""),
        ("residuals (3 holdout rows)", "predicted", "residual (true - predicted)"),
    ]
    points = fig.axes[1].collections[0].get_offsets()
    assert points.tolist() == [[1.5, -0.5], [2.0, 0.0], [3.0, 1.0]]


def test_one_kind_into_the_callers_axes() -> None:
    from matplotlib.figure import Figure

    fig = Figure()
    ax = fig.subplots()
    assert kp.ModelSummary(REGRESSOR).plot("residuals", ax=ax) is fig
    assert ax.get_ylabel() == "residual (true - predicted)"


def test_a_kind_the_model_cannot_draw_says_what_it_can() -> None:
    with pytest.raises(kp.BadParameter, match="roc cannot be drawn for this regressor"):
        kp.ModelSummary(REGRESSOR).plot("roc")
    with pytest.raises(kp.BadParameter, match="no plot kind 'pie'"):
        kp.ModelSummary(REGRESSOR).plot("pie")
    with pytest.raises(kp.BadParameter, match="nothing to plot"):
        kp.ModelSummary({"name": "km", "version": 1, "task": "clusterer"}).plot()


def test_roc_curve_matches_the_rank_statistic() -> None:
    rng = np.random.default_rng(0)
    truth = rng.random(300) < 0.4
    score = truth * 0.5 + rng.random(300)
    fpr, tpr, auc = roc_curve(list(truth), list(score))
    pos, neg = score[truth], score[~truth]
    wins = (pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean()
    assert auc == pytest.approx(wins)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)


def test_leaderboard_plots_score_by_trial_and_latency_vs_score() -> None:
    board = leaderboard_frame(
        [
            {"rank": 1, "trial": 2, "algorithm": "LogisticRegression", "params": {},
             "metrics": {"f1": 0.9}, "latency_ms_per_row": 0.002},
            {"rank": 2, "trial": 0, "algorithm": "DecisionTreeClassifier", "params": {},
             "metrics": {"f1": 0.7}, "latency_ms_per_row": 0.001},
            {"rank": 3, "trial": 1, "algorithm": "DecisionTreeClassifier", "params": {},
             "metrics": {"f1": 0.6}, "latency_ms_per_row": 0.004},
        ]
    )  # fmt: skip
    fig = plot_leaderboard(board, "f1")
    assert labels(fig) == [
        ("f1 by trial", "trial", "f1"),
        ("latency vs f1", "latency (ms per row)", "f1"),
    ]
    trials, latency = fig.axes
    legend = [t.get_text() for t in trials.get_legend().get_texts()]
    assert legend == ["DecisionTreeClassifier", "LogisticRegression", "best so far"]
    best = trials.lines[0].get_ydata().tolist()
    assert best == [0.7, 0.7, 0.9]  # the best so far, trial by trial
    assert latency.get_xscale() == "log"
    result = kp.AutoMLResult("j", "m", 1, "r", None, "LogisticRegression", {}, "f1", 0.9, {}, board)
    assert labels(result.plot("latency")) == [("latency vs f1", "latency (ms per row)", "f1")]


def test_drift_plot_takes_kp_drift_frame() -> None:
    frame = pd.DataFrame(
        {
            "field": ["temp", "line", "predicted(failure)"],
            "method": ["psi", "chi2", "psi"],
            "statistic": [0.5, 0.01, 0.05],
            "threshold": [0.2, 0.05, 0.2],
            "drifted": [True, False, False],
        }
    )
    fig = kp.plot_drift(frame)
    (ax,) = fig.axes
    assert (ax.get_title(), ax.get_xlabel()) == (
        "drift per field (1 of 3 drifted)",
        "statistic / threshold",
    )
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert names == ["predicted(failure) (psi)", "line (chi2)", "temp (psi)"]
    widths = [p.get_width() for p in ax.patches]
    assert widths == pytest.approx([0.25, 0.2, 2.5])
    with pytest.raises(kp.BadParameter, match="lacks threshold, drifted"):
        kp.plot_drift(frame[["field", "method", "statistic"]])


def test_without_matplotlib_the_error_names_the_extra() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "import kepler as kp\n"
        "try:\n"
        "    kp.ModelSummary({'task': 'regressor', 'coefficients': [{'feature': 'a', "
        "'coefficient': 1.0}]}).plot()\n"
        "except kp.MissingDependency as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'kepler-ml[plots]'" in out.stdout
