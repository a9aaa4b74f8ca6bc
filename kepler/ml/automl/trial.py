"""One trial: cross-validate one configuration, fold by fold, and measure what constraints need.

The score is the metric's mean over the validation folds of the training rows (the
holdout stays untouched for the winner). After each fold the running mean is reported to
the Optuna trial, whose pruner may stop a configuration that is already worse than the
median of earlier trials at the same fold. The last fold's model gives the cost figures:
predict latency per row (on a batch of :data:`LATENCY_ROWS` rows, the way ``apply`` scores
chunks), size pickled, and whether it explains itself.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from kepler.core.automl import AutoMLSpec
from kepler.ml import registry, splits
from kepler.ml.automl.data import Prepared
from kepler.ml.automl.space import candidate
from kepler.ml.explain import explain
from kepler.ml.features import build_feature_pipeline
from kepler.ml.metrics import compute_metrics

LATENCY_ROWS = 1000


@dataclass
class TrialResult:
    score: float
    metrics: dict[str, float]
    fit_seconds: float
    latency_ms_per_row: float
    model_mb: float
    interpretable: bool
    violations: list[str] = field(default_factory=list)
    folds: int = 0


def make_pipeline(config: dict[str, Any], prepared: Prepared, seed: int) -> Pipeline:
    """The unfitted pipeline of one configuration."""
    cand = candidate(config["algorithm"])
    info = registry.get_algorithm(cand.algorithm)
    estimator = registry.make_estimator(info, checked_params(config, seed))
    return build_feature_pipeline(
        estimator,
        prepared.feature_types,
        prepared.engine_task,
        time_features=prepared.time_features,
        interactions=config.get("interactions", False),
        select_percentile=config.get("select"),
        scale=cand.linear,
    )


def checked_params(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """The catalog parameters of a configuration, as the registered model records them."""
    cand = candidate(config["algorithm"])
    info = registry.get_algorithm(cand.algorithm)
    params = dict(cand.fixed)
    params.update(config["params"])
    if info.params.lookup("random_state") is not None:
        params["random_state"] = seed
    return info.check(params)


def folds(prepared: Prepared, cv: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    n = len(prepared.X_train)
    if prepared.split == splits.TIME:  # training rows in time order: validate forward
        return splits.time_folds(n, cv)
    if prepared.engine_task in ("classifier", "outlier"):
        assert prepared.y_train is not None
        labels = pd.factorize(prepared.y_train)[0]
        return list(StratifiedKFold(cv, shuffle=True, random_state=seed).split(np.zeros(n), labels))
    return list(KFold(cv, shuffle=True, random_state=seed).split(np.zeros(n)))


def score_metrics(
    pipeline: Pipeline, prepared: Prepared, X: pd.DataFrame, y: np.ndarray | None
) -> dict[str, float]:
    """Every metric of the task on ``(X, y)``; for anomaly detection, ``roc_auc`` of the
    outlier score and the ``false_positive_rate`` on normal rows."""
    if prepared.engine_task != "outlier":
        return compute_metrics(pipeline, prepared.engine_task, X, y)
    assert y is not None
    truth = np.asarray(y == prepared.positive)
    flagged = np.asarray(pipeline.predict(X)) == -1
    out: dict[str, float] = {}
    normal = ~truth
    if normal.any():
        out["false_positive_rate"] = float(flagged[normal].mean())
    if truth.any():
        out["recall"] = float(flagged[truth].mean())
    if truth.any() and normal.any():
        from sklearn.metrics import roc_auc_score

        out["roc_auc"] = float(roc_auc_score(truth, -np.asarray(pipeline.decision_function(X))))
    return out


def _fit(pipeline: Pipeline, prepared: Prepared, X: pd.DataFrame, y: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and constant-feature notes
        if prepared.engine_task == "outlier":
            pipeline.fit(X)
        else:
            pipeline.fit(X, y)


def evaluate(
    config: dict[str, Any],
    prepared: Prepared,
    spec: AutoMLSpec,
    *,
    seed: int,
    trial: Any = None,
    deadline: float | None = None,
) -> TrialResult:
    """Cross-validate ``config``; with an Optuna ``trial``, report each fold (may raise
    ``optuna.TrialPruned``). Past ``deadline`` (epoch seconds) the trial stops after the
    fold under way, so a search overruns its budget by at most one fold.

    A trial uses one core: trials run side by side in every worker process, and OpenMP
    and BLAS pools sized to the machine in each of them oversubscribe the cores (a
    HistGradientBoosting fit that takes a second alone then takes minutes).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _evaluate(config, prepared, spec, seed=seed, trial=trial, deadline=deadline)


def _evaluate(
    config: dict[str, Any],
    prepared: Prepared,
    spec: AutoMLSpec,
    *,
    seed: int,
    trial: Any,
    deadline: float | None,
) -> TrialResult:
    splits = folds(prepared, prepared.cv, seed)
    per_fold: list[dict[str, float]] = []
    fit_times: list[float] = []
    pipeline: Pipeline | None = None
    X, y = prepared.X_train, prepared.y_train
    for step, (tr, va) in enumerate(splits):
        pipeline = make_pipeline(config, prepared, seed)
        t0 = time.perf_counter()
        _fit(pipeline, prepared, X.iloc[tr], None if y is None else y[tr])
        fit_times.append(time.perf_counter() - t0)
        per_fold.append(score_metrics(pipeline, prepared, X.iloc[va], None if y is None else y[va]))
        if trial is not None:
            running = _mean([m.get(prepared.metric) for m in per_fold])
            if running is not None:
                trial.report(running, step)
                if trial.should_prune():
                    import optuna

                    raise optuna.TrialPruned(f"pruned after fold {step + 1} of {len(splits)}")
        if deadline is not None and step + 1 < len(splits) and time.time() > deadline:
            import optuna

            raise optuna.TrialPruned(f"budget spent after fold {step + 1} of {len(splits)}")
    assert pipeline is not None
    metrics = {
        k: v
        for k in sorted({k for m in per_fold for k in m})
        if (v := _mean([m.get(k) for m in per_fold])) is not None
    }
    score = metrics.get(prepared.metric)
    if score is None:
        raise ValueError(f"metric {prepared.metric} could not be computed on the folds")
    latency = latency_ms_per_row(pipeline, X.iloc[splits[-1][1]])
    size = model_mb(pipeline)
    interpretable = bool(explain(pipeline)) if prepared.engine_task != "outlier" else False
    return TrialResult(
        score=float(score),
        metrics=metrics,
        fit_seconds=float(np.mean(fit_times)),
        latency_ms_per_row=latency,
        model_mb=size,
        interpretable=interpretable,
        violations=violations(spec, latency, size, interpretable, metrics),
        folds=len(splits),
    )


def violations(
    spec: AutoMLSpec,
    latency: float,
    size: float,
    interpretable: bool,
    metrics: dict[str, float],
) -> list[str]:
    """The constraints this trial breaks, as text (empty: it may win)."""
    out = []
    if spec.max_latency_ms_per_row is not None and latency > spec.max_latency_ms_per_row:
        out.append(f"latency {latency:.4g} ms/row > {spec.max_latency_ms_per_row:g}")
    if spec.max_model_mb is not None and size > spec.max_model_mb:
        out.append(f"size {size:.3g} MB > {spec.max_model_mb:g}")
    if spec.interpretable and not interpretable:
        out.append("not interpretable (no coefficients or importances)")
    fpr = metrics.get("false_positive_rate")
    if spec.max_false_positive_rate is not None and (
        fpr is None or fpr > spec.max_false_positive_rate
    ):
        out.append(f"false-positive rate {fpr} > {spec.max_false_positive_rate:g}")
    return out


def latency_ms_per_row(pipeline: Pipeline, X: pd.DataFrame) -> float:
    """Milliseconds per row to score a batch of :data:`LATENCY_ROWS` rows (best of 3)."""
    if len(X) == 0:
        return 0.0
    reps = int(np.ceil(LATENCY_ROWS / len(X)))
    batch = pd.concat([X] * reps, ignore_index=True).iloc[:LATENCY_ROWS] if reps > 1 else X
    best = float("inf")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):
            t0 = time.perf_counter()
            pipeline.predict(batch)
            best = min(best, time.perf_counter() - t0)
    return 1000.0 * best / len(batch)


def model_mb(pipeline: Pipeline) -> float:
    import cloudpickle

    return len(cloudpickle.dumps(pipeline)) / 2**20


def _mean(values: list[float | None]) -> float | None:
    kept = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(kept)) if kept else None
