"""DensityFunction's rules that Splunk's Python checks too: MLTK's thresholds, output names
and ``show_options``, free of numpy so a bad ``apply`` line is refused before events move.

Thresholds follow MLTK's ``outlier_threshold.py``: ``threshold``, ``lower_threshold`` and
``upper_threshold`` each take one value or several (``threshold="0.01,0.005"``), each in
(0, 1]; ``threshold`` does not go with the other two; with several values only one of the
three may be given; a single lower and upper must sum to at most 1; at most
:data:`MAX_THRESHOLDS` values. Each value gives its own outputs, named as MLTK's
``column_name.py`` names them (:func:`column_name`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kepler.core.errors import BadParameter

# MLTK's mlspl.conf max_threshold_num and its OutlierThreshold's acceptable range.
MAX_THRESHOLDS = 5
MIN_THRESHOLD = 0.000000001
MAX_THRESHOLD = 1.0
DEFAULT_THRESHOLD = 0.01
THRESHOLD_PARAMS = ("threshold", "lower_threshold", "upper_threshold")
# What show_options= may name: MLTK's fit/apply options that _get_show_options_value reads.
SHOW_OPTIONS = (
    "feature_variables",
    "split_by",
    "params",
    "algo_name",
    "model_name",
    "output_name",
)


def floats(name: str, value: Any) -> tuple[float, ...] | None:
    """``value`` (a number, ``"0.01,0.005"``, or a sequence of numbers) as a tuple of floats,
    each in MLTK's (0, 1]; None when not given."""
    if value is None:
        return None
    if isinstance(value, str):
        parts: Sequence[Any] = [p for p in value.replace(" ", "").split(",") if p]
    elif isinstance(value, (list, tuple)):
        parts = value
    else:
        parts = [value]
    out = []
    for part in parts:
        try:
            if isinstance(part, bool):
                raise ValueError
            number = float(part)
        except (TypeError, ValueError):
            raise BadParameter(
                f"{name}={value!r} is not valid: expected a number or comma-separated "
                f'numbers in quotes, as in {name}="0.01,0.005"',
                detail={"parameter": name},
            ) from None
        if not MIN_THRESHOLD <= number <= MAX_THRESHOLD:
            raise BadParameter(
                f'Parameter "{name}" must be between {MIN_THRESHOLD:.9f} and '
                f"{MAX_THRESHOLD:g}: {name}={part} is not (0.01 calls the 1% least likely "
                "values outliers)",
                detail={"parameter": name},
            )
        out.append(number)
    if not out:
        raise BadParameter(
            f'{name}= is empty: give a number, or several in quotes as in {name}="0.01,0.005"',
            detail={"parameter": name},
        )
    return tuple(out)


def stored(values: tuple[float, ...] | None) -> Any:
    """How a parameter keeps thresholds: one float as before, a tuple for several."""
    if values is None:
        return None
    return values[0] if len(values) == 1 else tuple(values)


@dataclass(frozen=True)
class Thresholds:
    """One model's or one apply's outlier rule, as MLTK's OutlierThreshold holds it."""

    threshold: tuple[float, ...] | None = None
    lower: tuple[float, ...] | None = None
    upper: tuple[float, ...] | None = None

    @property
    def multiple(self) -> bool:
        return any(v is not None and len(v) > 1 for v in (self.threshold, self.lower, self.upper))

    @property
    def lower_upper(self) -> bool:
        return self.lower is not None or self.upper is not None

    def labels(self) -> list[float]:
        """The value each output column is named after (MLTK's get_multiple_thresholds)."""
        return list(self.lower or self.upper or self.threshold or (DEFAULT_THRESHOLD,))

    def rules(self) -> list[tuple[float | None, float | None, float | None]]:
        """One ``(threshold, lower, upper)`` per output column, in label order."""
        if not self.lower_upper:
            return [(t, None, None) for t in self.threshold or (DEFAULT_THRESHOLD,)]
        if self.lower is not None and self.upper is not None:  # one of each
            return [(None, self.lower[0], self.upper[0])]
        if self.lower is not None:
            return [(None, v, None) for v in self.lower]
        return [(None, None, v) for v in self.upper or ()]


def outlier_thresholds(
    threshold: Any = None, lower_threshold: Any = None, upper_threshold: Any = None
) -> Thresholds | None:
    """MLTK's rules over the three parameters (any form :func:`floats` reads); None when
    none is given (the model's own rule applies)."""
    t = floats("threshold", threshold)
    lower = floats("lower_threshold", lower_threshold)
    upper = floats("upper_threshold", upper_threshold)
    if t is None and lower is None and upper is None:
        return None
    if t is not None and (lower is not None or upper is not None):
        raise BadParameter(
            'Thresholds are ambiguous: "threshold", and "lower_threshold"/"upper_threshold" '
            "can not be specified together; give threshold= alone, or the tails' own",
            detail={"parameter": "threshold"},
        )
    if lower is not None and upper is not None:
        if len(lower) > 1 or len(upper) > 1:
            raise BadParameter(
                'With multiple thresholds, only one of "lower_threshold", "upper_threshold", '
                'or "threshold" can be specified; give several values to one of them',
                detail={"parameter": "lower_threshold"},
            )
        if lower[0] + upper[0] > 1.0:
            raise BadParameter(
                'The sum of "lower_threshold" and "upper_threshold" can not be larger than 1 '
                f"(they are {lower[0]:g} and {upper[0]:g})",
                detail={"parameter": "lower_threshold"},
            )
    rule = Thresholds(t, lower, upper)
    count = len(rule.labels())
    if count > MAX_THRESHOLDS:
        raise BadParameter(
            f"The maximum number of allowed thresholds are {MAX_THRESHOLDS}. Found {count} "
            "thresholds; give fewer values",
            detail={"parameter": "threshold"},
        )
    return rule


def check_density_params(params: dict[str, Any]) -> None:
    """The rules one parameter cannot check alone, on a fit's given parameters."""
    outlier_thresholds(*(params.get(k) for k in THRESHOLD_PARAMS))
    if params.get("show_options") is not None:
        show_option_names(params["show_options"])


def column_name(
    main: str,
    new_name: str | None = None,
    threshold: float | None = None,
    feature: str | None = None,
) -> str:
    """MLTK's make_column_name: ``IsOutlier(<field>)``, ``IsOutlier_th=0.01(<field>)``,
    ``<out>_th=0.01`` with ``as <out>``, ``SampledValue_th=0.01``. The threshold is
    written as Python writes the float (``str(0.01)``), MLTK's format."""
    name = f"{new_name or main}_th={float(threshold)}" if threshold else new_name or main
    if main == "IsOutlier" and new_name is None and feature is not None:
        name = f"{name}({feature})"
    return name


def show_option_names(text: Any) -> list[str]:
    """``show_options="feature_variables,split_by,params"``: the names, checked, in order."""
    names = [n for n in str(text).replace(" ", "").split(",") if n]
    unknown = [n for n in names if n not in SHOW_OPTIONS]
    if not names or unknown:
        raise BadParameter(
            f"show_options={text!r} names {', '.join(unknown) or 'nothing'}; it takes "
            f"comma-separated names among {', '.join(SHOW_OPTIONS)}, in quotes as in "
            'show_options="feature_variables,split_by,params"',
            detail={"parameter": "show_options"},
        )
    return names


def mltk_text(value: Any) -> str:
    """A parameter's value as MLTK keeps it: the text of the search (``0.01,0.005``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(mltk_text(v) for v in value)
    return str(value)


def show_options_value(names: Sequence[str], options: dict[str, Any]) -> str:
    """MLTK's ``_Options`` field: a JSON object of the named options in the given order; a
    name whose option the search did not give (``split_by`` without ``by``) is left out,
    as MLTK leaves it out."""
    chosen: dict[str, Any] = {}
    for name in names:
        value = options.get(name)
        if value is None or (name == "split_by" and not value):
            continue
        chosen[name] = value
    return json.dumps(chosen)
