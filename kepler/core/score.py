"""``score``: MLTK's live-evaluation command, its metrics, options and syntax, written once.

::

    score <metric> <field> ... against <field> ... [<option>=<value> ...]
    score ttest_1samp <field> ... popmean=<number> [alpha=<number>]

As in MLTK's ``score`` (Splunk Machine Learning Toolkit, "Scoring metrics"): classification
metrics compare labels that arrived later with a model's predictions; regression metrics
compare numbers; the statistical tests compare two samples. Several pairs go in one command:
``a b against c d`` compares a with c and b with d; ``a against c d`` compares a with each.
Options and their defaults are MLTK's (``average=binary``, ``pos_label=1``,
``multioutput=raw_values``, ``alpha=0.05`` ...).

The search command checks a spec here before any event moves; the bridge checks it again
and computes it (:mod:`kepler.ml.live_metrics`). Standard library only: this runs in
Splunk's Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kepler.core.errors import BadParameter, InvalidSpec
from kepler.core.params import Param, coerce

CLASSIFICATION = "classification"
REGRESSION = "regression"
TEST = "statistical test"

# How a metric takes its fields: MANY pairs (a b against c d, or a against c d), exactly ONE
# field against one, or FIELDS alone (no `against`).
MANY = "many"
ONE = "one"
FIELDS = "fields"

_AVERAGE = Param(
    "average",
    "str",
    choices=("binary", "micro", "macro", "weighted"),
    nullable=True,
    doc="binary (the pos_label class only), micro, macro, weighted, or None (one column per class)",
)
_POS_LABEL = Param("pos_label", "str", doc="the positive class for average=binary (default 1)")
_ALPHA = Param(
    "alpha", "float", minimum=0.0, maximum=1.0, doc="the test's significance level (0.05)"
)
_MULTIOUTPUT = Param(
    "multioutput",
    "str",
    choices=("raw_values", "uniform_average"),
    doc="raw_values: one row per pair (default); uniform_average: their mean",
)


@dataclass(frozen=True)
class Metric:
    """One ``score`` method: its family, how it takes fields, its options (with MLTK's
    defaults), and whether it needs every value in memory (bounded by a row limit)."""

    name: str
    family: str
    arity: str
    options: tuple[Param, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)
    needs_values: bool = False
    min_rows: int = 1
    required: tuple[str, ...] = ()


def _classifier(name: str, *options: Param, arity: str = MANY, **defaults: Any) -> Metric:
    return Metric(name, CLASSIFICATION, arity, options, defaults)


def _regression(name: str, min_rows: int = 1) -> Metric:
    return Metric(
        name,
        REGRESSION,
        MANY,
        (_MULTIOUTPUT,),
        {"multioutput": "raw_values"},
        min_rows=min_rows,
    )


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        _classifier(
            "accuracy_score",
            Param("normalize", "bool", doc="false: the number of hits, not their share"),
            normalize=True,
        ),
        _classifier("precision_score", _AVERAGE, _POS_LABEL, average="binary", pos_label="1"),
        _classifier("recall_score", _AVERAGE, _POS_LABEL, average="binary", pos_label="1"),
        _classifier("f1_score", _AVERAGE, _POS_LABEL, average="binary", pos_label="1"),
        _classifier(
            "precision_recall_fscore_support",
            _AVERAGE,
            _POS_LABEL,
            Param("beta", "float", minimum=0.0, doc="weight of recall in the F-score (1.0)"),
            average=None,
            pos_label="1",
            beta=1.0,
        ),
        _classifier("confusion_matrix", arity=ONE),
        _classifier("classification_report", arity=ONE),
        Metric(
            "roc_auc_score",
            CLASSIFICATION,
            MANY,
            (_POS_LABEL,),
            {"pos_label": "1"},
            needs_values=True,
        ),
        Metric(
            "roc_curve",
            CLASSIFICATION,
            ONE,
            (_POS_LABEL, Param("drop_intermediate", "bool", doc="drop suboptimal thresholds")),
            {"pos_label": "1", "drop_intermediate": True},
            needs_values=True,
        ),
        _regression("r2_score", min_rows=2),
        _regression("explained_variance_score", min_rows=2),
        _regression("mean_absolute_error"),
        _regression("mean_squared_error"),
        Metric("ks_2samp", TEST, ONE, (_ALPHA,), {"alpha": 0.05}, needs_values=True, min_rows=1),
        Metric(
            "ttest_ind",
            TEST,
            MANY,
            (_ALPHA, Param("equal_var", "bool", doc="false: Welch's test")),
            {"alpha": 0.05, "equal_var": True},
            needs_values=True,
            min_rows=2,
        ),
        Metric("ttest_rel", TEST, MANY, (_ALPHA,), {"alpha": 0.05}, needs_values=True, min_rows=2),
        Metric(
            "ttest_1samp",
            TEST,
            FIELDS,
            (_ALPHA, Param("popmean", "float", doc="the population mean tested against")),
            {"alpha": 0.05},
            needs_values=True,
            min_rows=2,
            required=("popmean",),
        ),
    )
}

AGAINST = "against"
_OPTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # not `probability(failure=yes)`


@dataclass(frozen=True)
class ScoreSpec:
    """A checked ``score`` command: the metric, the fields on each side of ``against``
    (``against`` is empty for ``ttest_1samp``) and every option with its default filled."""

    metric: str
    fields: tuple[str, ...]
    against: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def info(self) -> Metric:
        return METRICS[self.metric]

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """(a, b) per comparison: pairwise, or the one ``a`` against each ``b``."""
        if not self.against:
            return []
        if len(self.fields) == 1:
            return [(self.fields[0], b) for b in self.against]
        return list(zip(self.fields, self.against))

    @property
    def columns(self) -> list[str]:
        """Every field the command reads, once."""
        return list(dict.fromkeys([*self.fields, *self.against]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "fields": list(self.fields),
            "against": list(self.against),
            "options": dict(self.options),
        }


def usage(metric: Metric | None = None) -> str:
    if metric is None:
        return (
            "usage: | kepler score <metric> <label_field> against <predicted_field> [option=value]"
        )
    names = " ".join(f"[{p.name}=...]" for p in metric.options)
    if metric.arity == FIELDS:
        fields = "<field> ..."
    elif metric.arity == ONE:
        fields = "<field> against <field>"
    else:
        fields = "<field> ... against <field> ..."
    return f"usage: | kepler score {metric.name} {fields} {names}".rstrip()


def parse_score(args: list[str]) -> ScoreSpec:
    """``args``: what follows ``score`` in the search (``accuracy_score a against b``)."""
    if not args:
        raise InvalidSpec(f"score needs a metric; one of {', '.join(METRICS)}. {usage()}")
    fields: list[str] = []
    against: list[str] = []
    options: dict[str, Any] = {}
    side = fields
    seen_against = False
    for arg in args[1:]:
        key, eq, value = arg.partition("=")
        if eq and _OPTION.match(key):
            options[key.strip()] = value.strip().strip('"')
        elif arg.lower() == AGAINST:
            if seen_against:
                raise InvalidSpec(f"score takes `against` once. {usage(METRICS.get(args[0]))}")
            seen_against, side = True, against
        else:
            side.append(_unquote(arg))
    return check_score(args[0], fields, against if seen_against else None, options)


def check_score(
    metric: str,
    fields: list[str] | tuple[str, ...] | str,
    against: list[str] | tuple[str, ...] | str | None = None,
    options: dict[str, Any] | None = None,
) -> ScoreSpec:
    """A :class:`ScoreSpec` from its parts (SPL's or the SDK's), or an error that says
    what is wrong and the syntax that works."""
    name = str(metric).strip().lower()
    info = METRICS.get(name)
    if info is None:
        raise InvalidSpec(
            f"unknown score metric {metric!r}; valid metrics: {', '.join(METRICS)}",
            detail={"metric": metric, "valid": list(METRICS)},
        )
    a = _names(fields)
    b = _names(against) if against is not None else []
    _check_fields(info, a, b, against is not None)
    typed = _check_options(info, options or {})
    if name == "precision_recall_fscore_support" and typed["average"] is None and len(b) > 1:
        raise InvalidSpec(
            "precision_recall_fscore_support with average=None compares one field against "
            "one (its rows are the classes); pass average=micro, macro or weighted to compare "
            "several"
        )
    return ScoreSpec(name, tuple(a), tuple(b), typed)


def _names(value: list[str] | tuple[str, ...] | str) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    return [_unquote(str(v)) for v in items if str(v).strip()]


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def _check_fields(info: Metric, a: list[str], b: list[str], has_against: bool) -> None:
    if info.arity == FIELDS:
        if has_against or not a:
            raise InvalidSpec(
                f"{info.name} tests fields on their own, without `against`. {usage(info)}"
            )
        return
    if not a or not b:
        side = "before" if not a else "after"
        raise InvalidSpec(f"{info.name} needs a field {side} `against`. {usage(info)}")
    if info.arity == ONE and (len(a) != 1 or len(b) != 1):
        raise InvalidSpec(
            f"{info.name} compares exactly one field against one; got {len(a)} against "
            f"{len(b)}. {usage(info)}"
        )
    if len(a) != len(b) and len(a) != 1:
        raise InvalidSpec(
            f"{info.name} pairs the fields in order (a b against c d) or compares one field "
            f"against several (a against c d); got {len(a)} against {len(b)}"
        )


def _check_options(info: Metric, given: dict[str, Any]) -> dict[str, Any]:
    declared = {p.name: p for p in info.options}
    typed = dict(info.defaults)
    for key, value in given.items():
        param = declared.get(str(key).lower())
        if param is None:
            valid = ", ".join(declared) or "none"
            raise BadParameter(
                f"{info.name} has no option {key!r}; its options: {valid}",
                detail={"metric": info.name, "option": key},
            )
        typed[param.name] = coerce(param, value)
    for name in info.required:
        if typed.get(name) is None:
            raise BadParameter(f"{info.name} needs {name}=<number>. {usage(info)}")
    alpha = typed.get("alpha")
    if alpha is not None and not 0.0 < alpha < 1.0:
        raise BadParameter(f"alpha must be between 0 and 1 (not inclusive); got {alpha}")
    if "pos_label" in typed and typed["pos_label"] is not None:
        typed["pos_label"] = str(typed["pos_label"])
    return typed
