"""The search space: candidate algorithms per task and how each one's parameters are drawn.

Each :class:`Candidate` names a catalog algorithm (so a winner is an ordinary Kepler model
whose parameters ``summary`` shows and ``fit`` accepts) and draws its parameters from an
Optuna trial under names prefixed by the algorithm (``RandomForestClassifier.max_depth``),
which keeps the conditional space clean for TPE. Gradient boosting stops early on its
own validation rows (pruning within a fit). Feature work is searched too: pairwise
interactions for linear models, and the share of features kept by selection.

``interpretable`` candidates explain themselves through coefficients or importances;
``robust`` ones (trees and their ensembles) are insensitive to outliers in the features.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kepler.core.errors import BadParameter

Suggest = Callable[[Any], dict[str, Any]]


@dataclass(frozen=True)
class Candidate:
    algorithm: str
    task: str  # engine task: classifier, regressor, outlier
    suggest: Suggest
    interpretable: bool = False
    robust: bool = False
    linear: bool = False  # gets scaled inputs and may take interaction features
    fixed: tuple[tuple[str, Any], ...] = ()  # set on every trial (one core per trial)
    extra: str | None = None  # pip extra whose library it needs


def _forest(t: Any, p: str) -> dict[str, Any]:
    return {
        "n_estimators": t.suggest_int(f"{p}.n_estimators", 50, 300, step=50),
        "max_depth": t.suggest_int(f"{p}.max_depth", 3, 24, log=True),
        "min_samples_leaf": t.suggest_int(f"{p}.min_samples_leaf", 1, 10, log=True),
        "max_features": t.suggest_categorical(f"{p}.max_features", ["sqrt", 0.5, 1.0]),
    }


def _tree(t: Any, p: str) -> dict[str, Any]:
    return {
        "max_depth": t.suggest_int(f"{p}.max_depth", 2, 16),
        "min_samples_leaf": t.suggest_int(f"{p}.min_samples_leaf", 1, 30, log=True),
    }


def _hist(t: Any, p: str) -> dict[str, Any]:
    return {
        "learning_rate": t.suggest_float(f"{p}.learning_rate", 0.02, 0.3, log=True),
        "max_iter": t.suggest_int(f"{p}.max_iter", 50, 400, step=50),
        "max_leaf_nodes": t.suggest_int(f"{p}.max_leaf_nodes", 8, 64, log=True),
        "min_samples_leaf": t.suggest_int(f"{p}.min_samples_leaf", 5, 50, log=True),
        "l2_regularization": t.suggest_float(f"{p}.l2_regularization", 1e-6, 1.0, log=True),
    }


def _xgb(t: Any, p: str) -> dict[str, Any]:
    return {
        "n_estimators": t.suggest_int(f"{p}.n_estimators", 50, 400, step=50),
        "max_depth": t.suggest_int(f"{p}.max_depth", 2, 10),
        "learning_rate": t.suggest_float(f"{p}.learning_rate", 0.02, 0.3, log=True),
        "subsample": t.suggest_float(f"{p}.subsample", 0.6, 1.0),
        "colsample_bytree": t.suggest_float(f"{p}.colsample_bytree", 0.5, 1.0),
    }


def _knn(t: Any, p: str) -> dict[str, Any]:
    return {
        "n_neighbors": t.suggest_int(f"{p}.n_neighbors", 3, 40, log=True),
        "weights": t.suggest_categorical(f"{p}.weights", ["uniform", "distance"]),
    }


def _c(name: str, task: str, fn: Callable[[Any, str], dict[str, Any]], **kw: Any) -> Candidate:
    return Candidate(name, task, lambda t: fn(t, name), **kw)


# Trials run side by side in every worker process: one core each.
_ONE_CORE = (("n_jobs", 1),)
# Boosting stops once 10 rounds bring no gain on a tenth of the fold's rows: max_iter
# is then a ceiling, and a slow configuration costs what it is worth.
_EARLY_STOP = (("early_stopping", True), ("n_iter_no_change", 10))

CANDIDATES: tuple[Candidate, ...] = (
    _c(
        "LogisticRegression",
        "classifier",
        lambda t, p: {
            "C": t.suggest_float(f"{p}.C", 1e-3, 100.0, log=True),
            "class_weight": t.suggest_categorical(f"{p}.class_weight", [None, "balanced"]),
        },
        interpretable=True,
        linear=True,
    ),
    _c("DecisionTreeClassifier", "classifier", _tree, interpretable=True, robust=True),
    _c(
        "RandomForestClassifier",
        "classifier",
        _forest,
        interpretable=True,
        robust=True,
        fixed=_ONE_CORE,
    ),
    _c("HistGradientBoostingClassifier", "classifier", _hist, robust=True, fixed=_EARLY_STOP),
    _c("KNeighborsClassifier", "classifier", _knn, linear=True, fixed=_ONE_CORE),
    _c(
        "XGBoostClassifier",
        "classifier",
        _xgb,
        interpretable=True,
        robust=True,
        fixed=_ONE_CORE,
        extra="xgboost",
    ),
    _c(
        "Ridge",
        "regressor",
        lambda t, p: {"alpha": t.suggest_float(f"{p}.alpha", 1e-3, 100.0, log=True)},
        interpretable=True,
        linear=True,
    ),
    _c("DecisionTreeRegressor", "regressor", _tree, interpretable=True, robust=True),
    _c(
        "RandomForestRegressor",
        "regressor",
        _forest,
        interpretable=True,
        robust=True,
        fixed=_ONE_CORE,
    ),
    _c("HistGradientBoostingRegressor", "regressor", _hist, robust=True, fixed=_EARLY_STOP),
    _c("KNeighborsRegressor", "regressor", _knn, linear=True, fixed=_ONE_CORE),
    _c(
        "XGBoostRegressor",
        "regressor",
        _xgb,
        interpretable=True,
        robust=True,
        fixed=_ONE_CORE,
        extra="xgboost",
    ),
    _c(
        "IsolationForest",
        "outlier",
        lambda t, p: {
            "n_estimators": t.suggest_int(f"{p}.n_estimators", 50, 300, step=50),
            "max_samples": t.suggest_float(f"{p}.max_samples", 0.1, 1.0),
            "contamination": t.suggest_float(f"{p}.contamination", 0.001, 0.1, log=True),
        },
        robust=True,
        fixed=_ONE_CORE,
    ),
    _c(
        "LocalOutlierFactor",
        "outlier",
        lambda t, p: {
            "n_neighbors": t.suggest_int(f"{p}.n_neighbors", 5, 60, log=True),
            "contamination": t.suggest_float(f"{p}.contamination", 0.001, 0.1, log=True),
        },
        linear=True,
        fixed=_ONE_CORE,
    ),
)


def _available(c: Candidate) -> bool:
    return c.extra is None or importlib.util.find_spec(c.extra) is not None


def candidates(
    task: str,
    *,
    algorithms: tuple[str, ...] = (),
    interpretable: bool = False,
    robust: bool = False,
) -> list[Candidate]:
    """The candidates for engine ``task`` that meet the filters, in catalog order.

    Named ``algorithms`` must exist for the task (catalog names or aliases); a filter that
    leaves nothing is a :class:`BadParameter` naming what would be left without it.
    """
    from kepler.ml.registry import get_algorithm

    pool = [c for c in CANDIDATES if c.task == task and _available(c)]
    if algorithms:
        wanted: list[str] = []
        for name in algorithms:
            canonical = get_algorithm(name).name  # UnknownAlgorithm suggests names
            if canonical not in {c.algorithm for c in pool}:
                raise BadParameter(
                    f"automl cannot search {canonical} for this task; candidates: "
                    f"{', '.join(c.algorithm for c in pool)}",
                    detail={"parameter": "algorithms"},
                )
            wanted.append(canonical)
        pool = [c for c in pool if c.algorithm in wanted]
    kept = [c for c in pool if (c.interpretable or not interpretable) and (c.robust or not robust)]
    if not kept:
        what = " and ".join(
            w for w, on in (("interpretable", interpretable), ("robust", robust)) if on
        )
        raise BadParameter(
            f"no candidate algorithm is {what} among {', '.join(c.algorithm for c in pool)}; "
            "drop the constraint or name other algorithms",
            detail={"parameter": "algorithms"},
        )
    return kept


def suggest(trial: Any, pool: list[Candidate], *, n_features: int) -> dict[str, Any]:
    """Draw one configuration: ``{"algorithm", "params", "interactions", "select"}``."""
    names = [c.algorithm for c in pool]
    algorithm = trial.suggest_categorical("algorithm", names) if len(names) > 1 else names[0]
    cand = next(c for c in pool if c.algorithm == algorithm)
    params = cand.suggest(trial)
    interactions = False
    select: int | None = None
    if cand.task != "outlier":
        if cand.linear and 2 <= n_features <= 12:
            interactions = trial.suggest_categorical(f"{algorithm}.interactions", [False, True])
        if n_features >= 4:
            pct = trial.suggest_categorical("select_percentile", [100, 75, 50])
            select = None if pct == 100 else int(pct)
    return {
        "algorithm": algorithm,
        "params": params,
        "interactions": bool(interactions),
        "select": select,
    }


def candidate(algorithm: str) -> Candidate:
    return next(c for c in CANDIDATES if c.algorithm == algorithm)


# scikit-learn's defaults (or the nearest point of the space), tried first: the search
# starts from what a user gets without tuning and only has to beat it.
_DEFAULT_STARTS: dict[str, dict[str, Any]] = {
    "LogisticRegression": {"C": 1.0, "class_weight": None},
    "Ridge": {"alpha": 1.0},
    "RandomForestClassifier": {
        "n_estimators": 100,
        "max_depth": 24,
        "min_samples_leaf": 1,
        "max_features": "sqrt",
    },
    "RandomForestRegressor": {
        "n_estimators": 100,
        "max_depth": 24,
        "min_samples_leaf": 1,
        "max_features": 1.0,
    },
    "HistGradientBoostingClassifier": {
        "learning_rate": 0.1,
        "max_iter": 100,
        "max_leaf_nodes": 31,
        "min_samples_leaf": 20,
        "l2_regularization": 1e-6,
    },
    "IsolationForest": {"n_estimators": 100, "max_samples": 1.0, "contamination": 0.01},
}
_DEFAULT_STARTS["HistGradientBoostingRegressor"] = _DEFAULT_STARTS["HistGradientBoostingClassifier"]


def default_starts(pool: list[Candidate]) -> list[dict[str, Any]]:
    """Fixed parameters of the default configurations among ``pool``, for
    ``study.enqueue_trial`` (no interactions, every feature kept)."""
    names = [c.algorithm for c in pool]
    starts = []
    for name in names:
        params = _DEFAULT_STARTS.get(name)
        if params is None:
            continue
        fixed: dict[str, Any] = {f"{name}.{k}": v for k, v in params.items()}
        if len(names) > 1:
            fixed["algorithm"] = name
        fixed[f"{name}.interactions"] = False
        fixed["select_percentile"] = 100
        starts.append(fixed)
    return starts
