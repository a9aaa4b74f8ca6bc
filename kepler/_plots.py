"""Charts of results with matplotlib (extra ``plots``), imported only when one is drawn.

Figures are made with ``matplotlib.figure.Figure``, never pyplot: nothing global is kept
open, any backend works (Agg in tests), and Jupyter shows a returned figure as a PNG. Each
function also draws into an ``ax`` the caller gives and returns that axes' figure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from kepler.core.errors import BadParameter, MissingDependency

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

LEADERBOARD_KINDS = ("leaderboard", "trials", "latency")
MODEL_KINDS = ("all", "importances", "confusion", "roc", "residuals")
TOP_FEATURES = 20
PANEL = (5.0, 4.0)  # inches per chart


def _figure(panels: int = 1) -> Figure:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependency(
            "plots need matplotlib: pip install 'kepler-ml[plots]'",
            detail={"extra": "plots"},
        ) from None
    _show_in_jupyter(Figure)
    return Figure(figsize=(PANEL[0] * panels, PANEL[1]), layout="constrained")


def _show_in_jupyter(figure_type: type) -> None:
    """Let Jupyter show a returned figure as a PNG: what ``%matplotlib inline`` registers
    on importing pyplot, which these figures never do."""
    from kepler._progress import in_jupyter_kernel

    if not in_jupyter_kernel():
        return
    from IPython import get_ipython
    from IPython.core.pylabtools import print_figure

    png = get_ipython().display_formatter.formatters["image/png"]
    png.for_type(figure_type, lambda fig: print_figure(fig, "png", bbox_inches="tight"))


def _axes(ax: Any, panels: int = 1) -> list[Axes]:
    if ax is not None:
        return [ax]
    fig = _figure(panels)
    return list(fig.subplots(1, panels, squeeze=False)[0])


def _kind(kind: str, allowed: tuple[str, ...]) -> None:
    if kind not in allowed:
        raise BadParameter(
            f"no plot kind {kind!r}; choose one of {', '.join(allowed)}",
            detail={"kind": kind, "allowed": list(allowed)},
        )


# ---------------------------------------------------------------------- leaderboard


def plot_leaderboard(
    board: Any, metric: str | None = None, kind: str = "leaderboard", *, ax: Any = None
) -> Figure:
    """AutoML's leaderboard: ``trials`` (the score of each trial, by algorithm, with the
    best so far), ``latency`` (scoring latency per row against score), or both."""
    _kind(kind, LEADERBOARD_KINDS)
    if board is None or len(board) == 0:
        raise BadParameter("the leaderboard is empty: no trial finished, nothing to plot")
    metric = metric or _first_metric(board)
    if metric not in board:
        raise BadParameter(
            f"the leaderboard has no column {metric!r}", detail={"columns": list(board.columns)}
        )
    if kind == "leaderboard" and ax is not None:
        raise BadParameter("ax= draws one chart: pass kind='trials' or kind='latency'")
    draw = {"trials": [_trials], "latency": [_latency], "leaderboard": [_trials, _latency]}[kind]
    axes = _axes(ax, len(draw))
    for fn, a in zip(draw, axes, strict=True):
        fn(a, board, metric)
    return axes[0].figure  # type: ignore[return-value]


def _first_metric(board: Any) -> str:
    known = ("f1", "roc_auc", "accuracy", "precision", "recall", "rmse", "mae", "r2")
    return next((c for c in board.columns if c in known), str(board.columns[3]))


def _trials(ax: Axes, board: Any, metric: str) -> None:
    frame = board.copy()
    if "trial" not in frame or frame["trial"].isna().all():
        frame["trial"] = range(len(frame))
    frame = frame.sort_values("trial")
    for algorithm, rows in frame.groupby("algorithm", sort=True):
        ax.scatter(rows["trial"], rows[metric], label=str(algorithm), s=24)
    lower_is_better = metric in ("rmse", "mae")
    best = frame[metric].cummin() if lower_is_better else frame[metric].cummax()
    ax.step(frame["trial"], best, where="post", color="black", linewidth=1, label="best so far")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by trial")
    ax.legend(fontsize="small")


def _latency(ax: Axes, board: Any, metric: str) -> None:
    frame = board.dropna(subset=["latency_ms_per_row", metric])
    for algorithm, rows in frame.groupby("algorithm", sort=True):
        ax.scatter(rows["latency_ms_per_row"], rows[metric], label=str(algorithm), s=24)
    if len(frame) and (frame["latency_ms_per_row"] > 0).all():
        ax.set_xscale("log")
    ax.set_xlabel("latency (ms per row)")
    ax.set_ylabel(metric)
    ax.set_title(f"latency vs {metric}")
    ax.legend(fontsize="small")


# ------------------------------------------------------------------- one model version


def plot_summary(summary: Mapping[str, Any], kind: str = "all", *, ax: Any = None) -> Figure:
    """A model version's charts (``kp.summary(...)``): see :data:`MODEL_KINDS`."""
    _kind(kind, MODEL_KINDS)
    available = _available(summary)
    if kind == "all":
        if ax is not None:
            raise BadParameter("ax= draws one chart: pass kind= one of " + ", ".join(available))
        if not available:
            raise BadParameter(
                f"{summary.get('name')}@{summary.get('version')} has nothing to plot: no "
                "importances and no holdout sample (unsupervised, or fitted without holdout)"
            )
        axes = _axes(None, len(available))
        for name, a in zip(available, axes, strict=True):
            _DRAW[name](a, summary)
        return axes[0].figure  # type: ignore[return-value]
    if kind not in available:
        raise BadParameter(
            f"{kind} cannot be drawn for this {summary.get('task') or 'model'}: "
            + (f"it has {', '.join(available)}" if available else "it has nothing to plot"),
            detail={"kind": kind, "available": available},
        )
    (one,) = _axes(ax)
    _DRAW[kind](one, summary)
    return one.figure  # type: ignore[return-value]


def _available(summary: Mapping[str, Any]) -> list[str]:
    out = []
    entries = summary.get("importances") or summary.get("coefficients") or []
    if entries and ("importance" in entries[0] or "coefficient" in entries[0]):
        out.append("importances")  # not a FieldSelector's scores or DensityFunction's groups
    sample = summary.get("holdout_sample") or {}
    if sample.get("y_true"):
        if summary.get("task") == "classifier":
            out.append("confusion")
            if sample.get("score") and len(sample.get("classes") or []) == 2:
                out.append("roc")
        elif summary.get("task") == "regressor":
            out.append("residuals")
    return out


def _importances(ax: Axes, summary: Mapping[str, Any]) -> None:
    entries = summary.get("importances") or summary.get("coefficients") or []
    key = "importance" if "importance" in entries[0] else "coefficient"
    top = entries[:TOP_FEATURES][::-1]  # largest at the top
    labels = [
        f"{e['feature']} ({e['class']})" if e.get("class") is not None else str(e["feature"])
        for e in top
    ]
    ax.barh(labels, [float(e[key]) for e in top])
    ax.set_xlabel(key)
    ax.set_title(f"{'importances' if key == 'importance' else 'coefficients'}")


def _confusion(ax: Axes, summary: Mapping[str, Any]) -> None:
    import numpy as np

    sample = summary["holdout_sample"]
    classes = list(sample.get("classes") or sorted(set(sample["y_true"])))
    index = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), dtype=int)
    for t, p in zip(sample["y_true"], sample["y_pred"], strict=True):
        if t in index and p in index:
            counts[index[t], index[p]] += 1
    ax.imshow(counts, cmap="Blues")
    for (i, j), n in np.ndenumerate(counts):
        color = "white" if n > counts.max() / 2 else "black"
        ax.text(j, i, str(n), ha="center", va="center", color=color)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"confusion matrix ({len(sample['y_true'])} holdout rows)")


def roc_curve(truth: list[bool], score: list[float]) -> tuple[Any, Any, float]:
    """False and true positive rates at every threshold, and the area under them."""
    import numpy as np

    y = np.asarray(truth, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    y, s = y[order], s[order]
    cut = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last row of each distinct score
    tp = np.cumsum(y)[cut]
    fp = (cut + 1) - tp
    positives, negatives = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    tpr = np.r_[0.0, tp / positives]
    fpr = np.r_[0.0, fp / negatives]
    return fpr, tpr, float(np.trapezoid(tpr, fpr))


def _roc(ax: Axes, summary: Mapping[str, Any]) -> None:
    sample = summary["holdout_sample"]
    positive = sample["classes"][1]
    fpr, tpr, auc = roc_curve([t == positive for t in sample["y_true"]], sample["score"])
    ax.plot(fpr, tpr, label=f"AUC {auc:.3f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"ROC ({positive!s} positive)")
    ax.legend(loc="lower right")


def _residuals(ax: Axes, summary: Mapping[str, Any]) -> None:
    import numpy as np

    sample = summary["holdout_sample"]
    pred = np.asarray(sample["y_pred"], dtype=np.float64)
    residual = np.asarray(sample["y_true"], dtype=np.float64) - pred
    ax.scatter(pred, residual, s=12, alpha=0.6)
    ax.axhline(0.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("predicted")
    ax.set_ylabel("residual (true - predicted)")
    ax.set_title(f"residuals ({len(pred)} holdout rows)")


_DRAW: dict[str, Callable[[Axes, Mapping[str, Any]], None]] = {
    "importances": _importances,
    "confusion": _confusion,
    "roc": _roc,
    "residuals": _residuals,
}


# --------------------------------------------------------------------------- drift


DRIFT_COLUMNS = ("field", "method", "statistic", "threshold", "drifted")


def plot_drift(frame: Any, *, ax: Any = None) -> Figure:
    """Drift per field (``kp.drift``'s frame): each field's statistic as a share of its
    threshold, so methods of different scales compare; past 1 (red) is drift."""
    missing = [c for c in DRIFT_COLUMNS if c not in getattr(frame, "columns", ())]
    if missing:
        raise BadParameter(
            f"plot_drift takes kp.drift's frame; this one lacks {', '.join(missing)}",
            detail={"missing": missing},
        )
    if len(frame) == 0:
        raise BadParameter("the drift frame has no rows: nothing to plot")
    import numpy as np

    rows = frame.iloc[::-1]  # the first field at the top
    statistic = rows["statistic"].astype(float).to_numpy()
    threshold = rows["threshold"].astype(float).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(threshold > 0, statistic / threshold, np.nan)
    labels = [f"{f} ({m})" for f, m in zip(rows["field"], rows["method"], strict=True)]
    colors = ["tab:red" if bool(d) else "tab:blue" for d in rows["drifted"]]
    (one,) = _axes(ax)
    one.barh(labels, np.nan_to_num(ratio), color=colors)
    one.axvline(1.0, color="black", linestyle="--", linewidth=1, label="threshold")
    one.set_xlabel("statistic / threshold")
    drifted = int(rows["drifted"].astype(bool).sum())
    one.set_title(f"drift per field ({drifted} of {len(rows)} drifted)")
    one.legend(loc="lower right")
    return one.figure  # type: ignore[return-value]
