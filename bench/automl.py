"""Section "automl": ``kp.automl`` at a fixed budget vs Optuna run directly, and vs a default
RandomForest, on datasets that ship with scikit-learn.

All three sides score the same holdout rows (AutoML's own seeded split). Optuna direct
runs in this process with the same search space, the same cross-validation and pruner,
and ``study.optimize(timeout=budget)``; its winner is refitted on the training rows as
AutoML's is. AutoML runs through the real stack: upload, the bridge's checks, trials as
Celery tasks over the worker's two processes, refit, registration; its wall time counts
all of that.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench.report import Section, Table

if TYPE_CHECKING:
    from bench.context import Context

WITHIN = 0.01  # AutoML's holdout score within 1% of Optuna direct's
SEED = 0


def datasets() -> list[tuple[str, str, str, pd.DataFrame]]:
    """``(name, task, metric, frame with a "target" column)``."""
    from sklearn import datasets as ds

    out = []
    for name, loader, task, metric in (
        ("breast_cancer", ds.load_breast_cancer, "classification", "accuracy"),
        ("wine", ds.load_wine, "classification", "accuracy"),
        ("digits", ds.load_digits, "classification", "accuracy"),
        ("diabetes", ds.load_diabetes, "regression", "r2"),
    ):
        frame = loader(as_frame=True).frame
        frame.columns = [str(c) for c in frame.columns]
        out.append((name, task, metric, frame))
    X, y = ds.make_friedman1(n_samples=1000, noise=1.0, random_state=SEED)
    friedman = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]).assign(target=y)
    out.append(("friedman1 (generated)", "regression", "r2", friedman))
    return out


def run(ctx: Context) -> Section:
    from kepler.core.automl import AutoMLSpec

    budget = ctx.settings.automl_budget
    section = Section("AutoML: `kp.automl` vs Optuna direct vs a default RandomForest")
    section.text(
        f"Each dataset: a seeded 80/20 split (the holdout no side trains on), a budget of "
        f"{budget:g} s per search. **AutoML** is `kp.automl(..., time_budget={budget:g}, "
        f"seed={SEED})` through the real stack (bridge, one worker with two processes, "
        "MLflow), trials spread over both processes; wall time includes upload, checks, "
        "refit and registration. **Optuna direct** runs the same search space, starting "
        "points (scikit-learn's defaults), validation folds and median pruner in one process "
        "with `study.optimize(timeout=budget)`, then refits its best on the training rows. "
        "Optuna direct lets TPE choose the algorithm as one more parameter; AutoML picks "
        "each trial's algorithm with its bandit (every candidate 3 trials, then the best "
        "so far plus a shrinking bonus) and ranks trials tied on the metric by its "
        "tie-break (`roc_auc` for accuracy). "
        "**RandomForest** is scikit-learn's default forest (`random_state=0`) in Kepler's "
        "pipeline. Metrics: accuracy (classification), r2 (regression), on the holdout. "
        "Targets: AutoML within "
        f"{100 * WITHIN:g}% of Optuna direct, and at least as good as RandomForest."
    )
    table = Table(
        [
            "dataset",
            "rows",
            "metric",
            "AutoML",
            "Optuna direct",
            "RandomForest",
            "AutoML / Optuna",
            "within 1%",
            "≥ RF",
            "AutoML trials",
            "Optuna trials",
            "AutoML wall",
            "winner",
        ]
    )
    client = ctx.stack().client()
    for name, task, metric, frame in datasets():
        spec = AutoMLSpec(target="target", into="bench_automl", task=task, metric=metric, seed=SEED)
        ctx.log(f"automl {name}: {len(frame)} rows, budget {budget:g}s")
        t0 = time.perf_counter()
        result = client.automl(
            frame,
            target="target",
            into=f"bench_automl_{name.split()[0]}",
            task=task,
            metric=metric,
            time_budget=budget,
            seed=SEED,
            parallel=2,
            progress=False,
        )
        wall = time.perf_counter() - t0
        ours = float(result.metrics[metric])
        ctx.log(f"  automl {metric}={ours:.4f} in {wall:.1f}s; optuna direct")
        direct, n_direct = optuna_direct(frame, spec, task, metric, budget)
        forest = random_forest(frame, spec, task, metric)
        ratio = ours / direct if direct else float("nan")
        table.add(
            name,
            f"{len(frame):,}",
            metric,
            f"{ours:.4f}",
            f"{direct:.4f}",
            f"{forest:.4f}",
            f"{ratio:.3f}",
            "yes" if ours >= direct * (1 - WITHIN) else "no",
            "yes" if ours >= forest else "no",
            result.counts.get("trials", 0),
            n_direct,
            f"{wall:.1f} s",
            result.algorithm,
        )
    section.table(table)
    section.text(
        "AutoML's searches run on two worker processes to Optuna direct's one. Seeded "
        "(`seed=0`), a search goes in rounds so that it repeats: each round's "
        "configurations are drawn at once and the next round waits for the slowest lane, "
        "so two processes evaluate fewer than twice Optuna direct's trials (the trial "
        "columns). AutoML stops a trial under way after its "
        "current fold once the budget is spent (Optuna's `timeout` lets it finish); AutoML's "
        "wall time adds the upload, the refit and the registration."
    )
    return section


def _prepared(frame: pd.DataFrame, spec: Any, task: str, metric: str) -> Any:
    from kepler.ml.automl.data import prepare

    return prepare(frame, spec, task, metric)


def optuna_direct(
    frame: pd.DataFrame, spec: Any, task: str, metric: str, budget: float
) -> tuple[float, int]:
    """Optuna's own loop over Kepler's search space; the refitted best's holdout score."""
    import optuna

    from kepler.core.automl import ENGINE_TASK, greater_is_better
    from kepler.ml.automl import search, space
    from kepler.ml.automl.trial import evaluate

    prepared = _prepared(frame, spec, task, metric)
    pool = space.candidates(ENGINE_TASK[task])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize" if greater_is_better(metric) else "minimize",
        sampler=optuna.samplers.TPESampler(
            seed=SEED, n_startup_trials=search.STARTUP_TRIALS, constant_liar=True
        ),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=search.PRUNE_AFTER),
    )

    def objective(trial: Any) -> float:
        config = space.suggest(trial, pool, n_features=len(prepared.features))
        trial.set_user_attr("config", config)
        return evaluate(config, prepared, spec, seed=SEED, trial=trial).score

    for fixed in space.default_starts(pool):  # AutoML's starting points, as it enqueues them
        study.enqueue_trial(fixed)
    study.optimize(objective, timeout=budget, catch=(ValueError,))
    config = study.best_trial.user_attrs["config"]
    row = {
        "algorithm": config["algorithm"],
        "params": config["params"],
        "interactions": config["interactions"],
        "select_percentile": config["select"] or 100,
    }
    trained = search.refit(row, prepared, spec)
    return float(trained.metrics[metric]), len(study.trials)


def random_forest(frame: pd.DataFrame, spec: Any, task: str, metric: str) -> float:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    from kepler.ml.automl.trial import score_metrics
    from kepler.ml.pipeline import build_pipeline

    prepared = _prepared(frame, spec, task, metric)
    forest = (
        RandomForestClassifier(random_state=SEED)
        if task == "classification"
        else RandomForestRegressor(random_state=SEED)
    )
    pipeline = build_pipeline(forest, prepared.feature_types, prepared.engine_task)
    pipeline.fit(prepared.X_train, np.asarray(prepared.y_train))
    return float(score_metrics(pipeline, prepared, prepared.X_holdout, prepared.y_holdout)[metric])
