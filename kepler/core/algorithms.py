"""The algorithm catalog as data: names, tasks, declared parameters, where the class lives.

This module names estimators by import path and never imports them, so Splunk's Python can
check a ``fit`` line's parameters before any data moves. :mod:`kepler.ml.registry` turns an
entry into an estimator and adds third-party algorithms from the ``kepler.algorithms``
entry-point group.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from kepler.core.errors import UnknownAlgorithm
from kepler.core.params import Param, ParamSet, check_params

TASKS = ("classifier", "regressor", "clusterer", "outlier", "transformer")
SUPERVISED = ("classifier", "regressor")


@dataclass(frozen=True)
class AlgorithmInfo:
    """One algorithm Kepler can train.

    ``estimator`` is ``"module:Class"``; ``defaults`` are keyword arguments Kepler sets
    unless the user does; ``extra`` names the pip extra its library comes from.
    """

    name: str
    task: str
    estimator: str
    params: ParamSet = field(default_factory=ParamSet)
    aliases: tuple[str, ...] = ()
    defaults: tuple[tuple[str, Any], ...] = ()
    extra: str | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"{self.name}: unknown task {self.task!r}")

    @property
    def supervised(self) -> bool:
        return self.task in SUPERVISED

    def check(self, given: dict[str, Any]) -> dict[str, Any]:
        """Validate user parameters; see :func:`kepler.core.params.check_params`."""
        return check_params(self.name, self.params, given)


def _p(name: str, kind: str, target: str = "", **kw: Any) -> Param:
    return Param(name=name, kind=kind, target=target, **kw)


def _ps(*params: Param) -> ParamSet:
    return ParamSet(tuple(params))


# Shared parameter declarations.
RANDOM_STATE = _p("random_state", "int", nullable=True, doc="seed for repeatable results")


_BUILTIN: tuple[AlgorithmInfo, ...] = (
    AlgorithmInfo(
        "LinearRegression",
        "regressor",
        "sklearn.linear_model:LinearRegression",
        _ps(_p("fit_intercept", "bool")),
    ),
    AlgorithmInfo(
        "RandomForestClassifier",
        "classifier",
        "sklearn.ensemble:RandomForestClassifier",
        _ps(
            _p("n_estimators", "int", minimum=1),
            _p("max_depth", "int", minimum=1, nullable=True),
            _p("max_features", "number", choices=("sqrt", "log2"), nullable=True),
            _p("min_samples_split", "number", minimum=0),
            _p("max_leaf_nodes", "int", minimum=2, nullable=True),
            _p("criterion", "str", choices=("gini", "entropy", "log_loss")),
            RANDOM_STATE,
        ),
        defaults=(("n_jobs", -1),),
    ),
    AlgorithmInfo(
        "KMeans",
        "clusterer",
        "sklearn.cluster:KMeans",
        _ps(_p("k", "int", "n_clusters", minimum=1), RANDOM_STATE),
    ),
)


def builtin_algorithms() -> tuple[AlgorithmInfo, ...]:
    return _BUILTIN


def index(algorithms: Iterable[AlgorithmInfo]) -> dict[str, AlgorithmInfo]:
    """Look-up table by lower-cased name and alias."""
    table: dict[str, AlgorithmInfo] = {}
    for info in algorithms:
        for n in (info.name, *info.aliases):
            table.setdefault(n.lower(), info)
    return table


def find_algorithm(name: str, extra: Iterable[AlgorithmInfo] = ()) -> AlgorithmInfo:
    """The algorithm called ``name`` (any case, any alias), or :class:`UnknownAlgorithm`
    suggesting the closest names."""
    algorithms = [*_BUILTIN, *extra]
    table = index(algorithms)
    found = table.get(name.lower())
    if found is not None:
        return found
    names = sorted({a.name for a in algorithms} | {al for a in algorithms for al in a.aliases})
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    if not close:
        low = {n.lower(): n for n in names}
        close = [low[c] for c in difflib.get_close_matches(name.lower(), list(low), n=3, cutoff=0.4)]
    hint = f"did you mean {', '.join(close)}?" if close else "run `kepler models` or see the docs"
    raise UnknownAlgorithm(
        f"unknown algorithm {name!r}; {hint} (list them all with kp.algorithms())",
        detail={"algorithm": name, "suggestions": close},
    )
