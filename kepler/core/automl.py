"""The ``automl`` spec: what to search, for how long, under which constraints.

::

    automl <target> from <field> ... into <model> [task=classification|regression|anomaly]
        [time_budget=10m] [metric=f1|roc_auc|accuracy|precision|recall|rmse|mae|r2]
        [algorithms=RandomForestClassifier,LogisticRegression] [seed=42] [max_trials=50]
        [parallel=4] [cv=3] [holdout=0.2] [max_latency_ms_per_row=0.05] [max_model_mb=5]
        [interpretable=t] [use_case=predictive_maintenance|quality_control|anomaly_detection]
        [split=time|random] [time_field=_time]

Standard library only (it runs in Splunk's Python too): durations, metrics per task and
the use-case presets are data here, so Splunk refuses a bad line before any event moves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from kepler.core.durations import duration_seconds
from kepler.core.errors import BadParameter, InvalidSpec

TASKS = ("classification", "regression", "anomaly")
# Metric -> (tasks it applies to, larger is better)
METRICS: dict[str, tuple[tuple[str, ...], bool]] = {
    "accuracy": (("classification",), True),
    "f1": (("classification",), True),
    "precision": (("classification",), True),
    "recall": (("classification",), True),
    "roc_auc": (("classification", "anomaly"), True),
    "rmse": (("regression",), False),
    "mae": (("regression",), False),
    "r2": (("regression",), True),
}
# Metric -> the finer one that orders trials tied on it. Counting metrics move in steps of
# one row per fold, so on small data many configurations tie; the ranking metric (or, for
# it and the regression metrics, a sibling) tells the better-separating one apart.
TIE_BREAK: dict[str, str] = {
    "accuracy": "roc_auc",
    "f1": "roc_auc",
    "precision": "roc_auc",
    "recall": "roc_auc",
    "roc_auc": "f1",
    "rmse": "mae",
    "mae": "rmse",
    "r2": "rmse",
}
DEFAULT_METRIC = {"classification": "f1", "regression": "r2", "anomaly": "roc_auc"}
# The engine's task names (kepler.core.algorithms.TASKS) for each automl task.
ENGINE_TASK = {"classification": "classifier", "regression": "regressor", "anomaly": "outlier"}

DEFAULT_BUDGET_S = 600.0
MIN_BUDGET_S = 5.0
MAX_BUDGET_S = 7 * 24 * 3600.0


def parse_duration(value: Any, name: str = "time_budget") -> float:
    """Seconds from ``90``, ``90s``, ``10m``, ``1.5h`` or ``1d`` (a number alone is seconds)."""
    if isinstance(value, bool):
        raise BadParameter(f"{name} must be a duration such as 90, 10m or 1h; got {value!r}")
    seconds = duration_seconds(value)
    if seconds is None:
        raise BadParameter(
            f"{name} must be seconds or a duration such as 90, 10m or 1h; got {value!r}",
            detail={"parameter": name},
        )
    if not 0 < seconds <= MAX_BUDGET_S:
        raise BadParameter(
            f"{name} must be above 0 and at most 7 days; got {value!r}",
            detail={"parameter": name},
        )
    return seconds


@dataclass(frozen=True)
class Preset:
    """A use case as a documented set of constraints and defaults."""

    name: str
    doc: str
    task: str | None = None  # forced task, if any
    metric: str | None = None
    interpretable: bool = False
    max_latency_ms_per_row: float | None = None
    max_model_mb: float | None = None
    max_false_positive_rate: float | None = None
    robust: bool = False  # only algorithms robust to outliers in the features
    algorithms: tuple[str, ...] = ()


PRESETS: dict[str, Preset] = {
    "predictive_maintenance": Preset(
        "predictive_maintenance",
        "Models that run next to the machines and that an engineer can question: "
        "interpretable (coefficients or importances), at most 1 ms per row, at most 20 MB, "
        "and only tree ensembles and trees (robust to outliers and skewed sensor readings).",
        interpretable=True,
        max_latency_ms_per_row=1.0,
        max_model_mb=20.0,
        robust=True,
    ),
    "quality_control": Preset(
        "quality_control",
        "Catch every defect first: metric recall (a missed defect costs more than a second "
        "look), interpretable models so an inspector sees why a part was flagged.",
        task="classification",
        metric="recall",
        interpretable=True,
    ),
    "anomaly_detection": Preset(
        "anomaly_detection",
        "Unsupervised detectors (IsolationForest, LocalOutlierFactor) fitted without the "
        "label; the label (anomaly = the later of two sorted values, e.g. 1 over 0) only "
        "scores them: metric roc_auc of the outlier score, and at most 1% of normal "
        "validation rows flagged (false-positive rate), so operators are not flooded.",
        task="anomaly",
        metric="roc_auc",
        max_false_positive_rate=0.01,
    ),
}


@dataclass(frozen=True)
class AutoMLSpec:
    target: str
    features: tuple[str, ...] = ("*",)
    into: str | None = None
    task: str | None = None  # None: classification or regression from the target
    time_budget: float = DEFAULT_BUDGET_S
    metric: str | None = None  # None: DEFAULT_METRIC of the task
    algorithms: tuple[str, ...] = ()  # empty: every candidate of the task
    seed: int | None = None
    max_trials: int | None = None
    parallel: int = 4  # trials in flight at once, over all workers
    cv: int | None = None  # None: 5 folds below 5,000 training rows, else 3
    holdout: float = 0.2
    max_latency_ms_per_row: float | None = None
    max_model_mb: float | None = None
    max_false_positive_rate: float | None = None
    interpretable: bool = False
    robust: bool = False
    use_case: str | None = None
    # Time-aware validation, as on fit: split=time holds out the latest rows by time_field
    # (None: _time) and cuts time-ordered folds; None: time order when _time is a feature.
    split: str | None = None
    time_field: str | None = None
    verb: str = "automl"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["features"] = list(self.features)
        d["algorithms"] = list(self.algorithms)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AutoMLSpec:
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k != "verb"}
        d["features"] = tuple(d.get("features") or ("*",))
        d["algorithms"] = tuple(d.get("algorithms") or ())
        return cls(**d)

    def resolved_metric(self, task: str) -> str:
        return self.metric or DEFAULT_METRIC[task]

    def constraints(self) -> dict[str, Any]:
        """The constraints a winning trial must meet (None: unconstrained)."""
        return {
            "max_latency_ms_per_row": self.max_latency_ms_per_row,
            "max_model_mb": self.max_model_mb,
            "max_false_positive_rate": self.max_false_positive_rate,
            "interpretable": self.interpretable,
        }


def check_metric(metric: str, task: str) -> None:
    """Refuse a metric unknown or meaningless for ``task``, naming the ones that fit."""
    allowed = [m for m, (tasks, _) in METRICS.items() if task in tasks]
    if metric not in METRICS or task not in METRICS[metric][0]:
        raise BadParameter(
            f"metric {metric!r} does not apply to {task}; use one of: {', '.join(allowed)}",
            detail={"parameter": "metric", "allowed": allowed},
        )


def greater_is_better(metric: str) -> bool:
    return METRICS[metric][1]


# Option name -> how its value is read; one checker for SPL lines and the SDK alike.
OPTIONS: dict[str, str] = {
    "task": "task",
    "time_budget": "duration",
    "metric": "metric",
    "algorithms": "list",
    "seed": "int",
    "max_trials": "posint",
    "parallel": "posint",
    "cv": "cv",
    "holdout": "holdout",
    "max_latency_ms_per_row": "posfloat",
    "max_model_mb": "posfloat",
    "max_false_positive_rate": "fraction",
    "interpretable": "bool",
    "use_case": "use_case",
    "split": "split",
    "time_field": "field",
}
_TASK_ALIASES = {
    "classification": "classification",
    "classifier": "classification",
    "regression": "regression",
    "regressor": "regression",
    "anomaly": "anomaly",
    "anomaly_detection": "anomaly",
    "outlier": "anomaly",
}


def coerce_option(key: str, value: Any) -> Any:
    """One option's typed value, or :class:`BadParameter` saying what would do."""
    from kepler.core.params import Param, coerce

    kind = OPTIONS.get(key)
    if kind is None:
        raise BadParameter(
            f"automl has no option {key!r}; allowed: {', '.join(OPTIONS)}",
            detail={"parameter": key, "allowed": list(OPTIONS)},
        )
    if value is None:
        return None
    if kind == "task":
        task = _TASK_ALIASES.get(str(value).lower())
        if task is None:
            raise BadParameter(f"task must be one of {', '.join(TASKS)}; got {value!r}")
        return task
    if kind == "duration":
        return parse_duration(value)
    if kind == "metric":
        metric = str(value).lower()
        if metric not in METRICS:
            raise BadParameter(
                f"unknown metric {value!r}; use one of: {', '.join(METRICS)}",
                detail={"parameter": "metric", "allowed": list(METRICS)},
            )
        return metric
    if kind == "list":
        items = value if isinstance(value, (list, tuple)) else str(value).split(",")
        names = tuple(str(v).strip() for v in items if str(v).strip())
        if not names:
            raise BadParameter("algorithms needs at least one algorithm name")
        return names
    if kind == "use_case":
        name = str(value).lower()
        if name not in PRESETS:
            raise BadParameter(
                f"unknown use_case {value!r}; use one of: {', '.join(PRESETS)}",
                detail={"parameter": "use_case", "allowed": list(PRESETS)},
            )
        return name
    if kind == "field":
        name = str(value).strip()
        if not name:
            raise BadParameter(f"{key}= names a field, e.g. _time")
        return name
    declared = {
        "split": Param(key, "str", choices=("random", "time")),
        "int": Param(key, "int"),
        "posint": Param(key, "int", minimum=1),
        "cv": Param(key, "int", minimum=2, maximum=10),
        "holdout": Param(key, "float", minimum=0.05, maximum=0.5),
        "posfloat": Param(key, "float", minimum=1e-9),
        "fraction": Param(key, "float", minimum=0.0, maximum=1.0),
        "bool": Param(key, "bool"),
    }[kind]
    return coerce(declared, value)


def build_automl_spec(
    target: str | None, features: tuple[str, ...] | list[str], into: str | None, **options: Any
) -> AutoMLSpec:
    """A checked :class:`AutoMLSpec`: options typed, the preset applied (explicit options
    win over the preset's), the metric checked against the task when the task is known."""
    from kepler.core.refs import validate_model_name

    if not target:
        raise InvalidSpec(
            "automl predicts a field: name it, as in automl <target> from <fields> into <model>"
        )
    if not into:
        raise InvalidSpec("automl registers the best model: add `into <model>`")
    validate_model_name(into)
    typed = {k: coerce_option(k, v) for k, v in options.items() if v is not None}
    preset = PRESETS.get(typed.get("use_case") or "")
    if preset is not None:
        defaults = {
            "task": preset.task,
            "metric": preset.metric,
            "interpretable": preset.interpretable or None,
            "max_latency_ms_per_row": preset.max_latency_ms_per_row,
            "max_model_mb": preset.max_model_mb,
            "max_false_positive_rate": preset.max_false_positive_rate,
            "robust": preset.robust or None,
        }
        for k, v in defaults.items():
            if v is not None and k not in typed:
                typed[k] = v
        if preset.task and typed.get("task") != preset.task:
            raise BadParameter(
                f"use_case={preset.name} is for task={preset.task}; drop task= or the preset"
            )
    spec = AutoMLSpec(target=target, features=tuple(features) or ("*",), into=into, **typed)
    if spec.task and spec.metric:
        check_metric(spec.metric, spec.task)
    if spec.max_trials is not None and spec.max_trials < 1:
        raise BadParameter("max_trials must be at least 1")
    return spec


def parse_automl(rest: list[Any]) -> AutoMLSpec:
    """``automl`` tokens (after the verb) from :func:`kepler.core.spec.tokenize`."""
    usage = "automl <target> from <field> ... into <model> [time_budget=10m] [metric=...]"
    before: list[str] = []
    after: list[str] = []
    seen_from = False
    into: str | None = None
    options: dict[str, Any] = {}
    i = 0
    while i < len(rest):
        tok = rest[i]
        if tok.key is not None:
            key = tok.key.lower()
            if key in options:
                raise InvalidSpec(f"option {tok.key!r} is given twice")
            if key not in OPTIONS:
                coerce_option(key, tok.text)  # raises, naming the allowed options
            options[key] = tok.text
        elif tok.word == "from":
            if seen_from:
                raise InvalidSpec(f"`from` appears twice; usage: {usage}")
            seen_from = True
        elif tok.word == "into":
            if i + 1 >= len(rest) or rest[i + 1].key is not None:
                raise InvalidSpec("`into` must be followed by a model name")
            into = rest[i + 1].text
            i += 1
        else:
            (after if seen_from else before).append(tok.text)
        i += 1
    if not seen_from or len(before) != 1:
        raise InvalidSpec(f"name one target field before `from`; usage: {usage}")
    if not after:
        raise InvalidSpec(f"name the feature fields after `from` (or `from *`); usage: {usage}")
    return build_automl_spec(before[0], tuple(after), into, **options)
