"""Declared parameters: what an algorithm accepts, and turning SPL text into typed values.

An SPL parameter arrives as text (``k=3``, ``fit_intercept=t``); an SDK parameter arrives
already typed. Both go through :func:`coerce` so a model trained from either place records
the same values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kepler.core.errors import BadParameter

_TRUE = {"true", "t", "1", "yes", "y"}
_FALSE = {"false", "f", "0", "no", "n"}
_NONE = {"none", "null"}

KINDS = (*("int", "float", "number", "bool", "str", "any", "layers", "range", "steps", "floats"),)
MAX_FLOATS = 100  # a `floats` parameter's values; the algorithm may allow fewer
# MLTK's time amounts (its util/time_util.py, HumanTime, after Splunk's TimeParser): a
# unit's seconds, months as 30 days, quarters as 90, years as 365.
STEP_UNITS: dict[str, int] = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
    **dict.fromkeys(("w", "week", "weeks"), 7 * 86400),
    **dict.fromkeys(("mon", "month", "months"), 30 * 86400),
    **dict.fromkeys(("q", "qtr", "qtrs", "quarter", "quarters"), 90 * 86400),
    **dict.fromkeys(("y", "yr", "yrs", "year", "years"), 365 * 86400),
}
_AMOUNT = re.compile(r"^(\d*)([a-z]+)$")
MAX_LAYERS = 16  # hidden layers of a neural network: cost grows with depth x width^2


@dataclass(frozen=True)
class Param:
    """One parameter an algorithm declares.

    ``name`` is the spelling users type (MLTK's where MLTK has one, e.g. ``k``);
    ``target`` is the estimator's keyword argument (``n_clusters``); ``aliases`` are other
    accepted spellings (scikit-learn's own name is always accepted).
    ``kind`` is one of ``int``, ``float``, ``number`` (int or float), ``bool``, ``str``, ``any``,
    ``layers`` (layer widths as ``50-50``, ``64,32`` or a sequence; ``maximum`` bounds
    each width, :data:`MAX_LAYERS` their count; the value is kept as given), or ``range``
    (two integers ``low-high`` as MLTK writes ``ngram_range=1-2``, or a pair; kept as
    ``"low-high"``; ``minimum``/``maximum`` bound both ends), or ``steps`` (a whole number
    of rows within ``minimum``/``maximum``, or an MLTK time amount such as ``3days`` or
    ``2weeks``, kept as text for the model to count in its own steps; see
    :func:`duration_seconds`), or ``floats`` (one number, or several comma-separated as
    MLTK's ``threshold="0.01,0.005"``, or a sequence; each within ``minimum``/``maximum``;
    one value is kept as a float, several as a tuple of floats, so a model fitted with one
    keeps the plain number it always had).
    ``choices`` lists the allowed strings; for a numeric kind it lists the strings accepted
    besides numbers (``max_features=sqrt``).
    """

    name: str
    kind: str
    target: str = ""
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown parameter kind {self.kind!r}")

    @property
    def kwarg(self) -> str:
        return self.target or self.name

    @property
    def spellings(self) -> tuple[str, ...]:
        names = [self.name, *self.aliases]
        if self.kwarg not in names:
            names.append(self.kwarg)
        return tuple(names)


@dataclass(frozen=True)
class ParamSet:
    """The parameters of one algorithm, looked up by any accepted spelling."""

    params: tuple[Param, ...] = ()
    open: bool = False  # plugins without declarations: any name goes to the estimator
    _index: dict[str, Param] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for p in self.params:
            for s in p.spellings:
                self._index[s.lower()] = p

    def lookup(self, name: str) -> Param | None:
        return self._index.get(name.lower())

    def names(self) -> list[str]:
        return sorted(p.name for p in self.params)


def _bad(param: str, value: Any, expected: str, hint: str = "") -> BadParameter:
    msg = f"parameter {param}={value!r} is not valid: expected {expected}"
    if hint:
        msg += f"; {hint}"
    return BadParameter(msg, detail={"parameter": param, "value": str(value)})


def _to_number(param: Param, value: Any, want: str) -> int | float:
    if isinstance(value, bool):
        raise _bad(param.name, value, f"a{'n integer' if want == 'int' else ' number'}")
    if isinstance(value, (int, float)):
        number: int | float = value
    else:
        text = str(value).strip()
        try:
            number = int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                raise _bad(
                    param.name, value, "an integer" if want == "int" else "a number"
                ) from None
    if want == "int":
        if isinstance(number, float):
            if not number.is_integer():
                raise _bad(param.name, value, "an integer")
            number = int(number)
    elif want == "float":
        number = float(number)
    if param.minimum is not None and number < param.minimum:
        raise _bad(param.name, value, f"a value >= {param.minimum:g}")
    if param.maximum is not None and number > param.maximum:
        raise _bad(param.name, value, f"a value <= {param.maximum:g}")
    return number


def _auto(text: str) -> Any:
    """Best reading of an undeclared SPL value: bool, int, float, else the string."""
    low = text.lower()
    if low in ("true", "t"):
        return True
    if low in ("false", "f"):
        return False
    if low in _NONE:
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def coerce(param: Param, value: Any) -> Any:
    """Turn ``value`` (SPL text or a Python value) into what ``param`` declares."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _NONE):
        if param.nullable:
            return None
        raise _bad(param.name, value, f"a value of kind {param.kind}", "it cannot be none")
    if param.kind == "any":
        return _auto(value.strip()) if isinstance(value, str) else value
    if param.kind == "layers":
        return _check_layers(param, value)
    if param.kind == "range":
        return _check_range(param, value)
    if param.kind == "floats":
        return _check_floats(param, value)
    if param.kind == "steps":
        if isinstance(value, str) and duration_seconds(value) is not None:
            return value.strip().lower()
        if isinstance(value, str) and not _is_number(value):
            raise _bad(
                param.name,
                value,
                "a whole number of rows or a time amount such as 3days or 2weeks",
                "units: " + ", ".join(sorted({u for u in STEP_UNITS if len(u) > 1})),
            )
        return _to_number(param, value, "int")
    if param.kind == "bool":
        if isinstance(value, bool):
            return value
        low = str(value).strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise _bad(param.name, value, "true or false (t/f, 1/0 also work)")
    if param.kind == "str":
        text = str(value).strip()
        if param.choices and text not in param.choices:
            lowered = {c.lower(): c for c in param.choices}
            if text.lower() in lowered:
                return lowered[text.lower()]
            raise _bad(param.name, value, "one of " + ", ".join(param.choices))
        return text
    # numeric kinds, possibly with a few accepted strings
    if isinstance(value, str) and param.choices and value.strip() in param.choices:
        return value.strip()
    try:
        return _to_number(param, value, param.kind)
    except BadParameter:
        if param.choices:
            kind = "an integer" if param.kind == "int" else "a number"
            raise _bad(param.name, value, f"{kind} or one of " + ", ".join(param.choices)) from None
        raise


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def duration_seconds(value: Any) -> int | None:
    """An MLTK time amount (``3days``, ``2weeks``, ``mon``: an amount, 1 when left out, and
    a unit of :data:`STEP_UNITS`) in seconds; None for anything else (a plain number
    included)."""
    found = _AMOUNT.match(str(value).strip().lower())
    if not found or found.group(2) not in STEP_UNITS:
        return None
    return int(found.group(1) or 1) * STEP_UNITS[found.group(2)]


def _check_layers(param: Param, value: Any) -> Any:
    """Layer widths (``50-50``, ``64,32``, ``(64, 32)``, ``[64, 32]``), each within bounds."""
    expected = "layer widths such as 50-50 or 64,32"
    if isinstance(value, str):
        text = value.strip().strip("()[]")
        parts = [p for p in text.replace("-", ",").replace(" ", ",").split(",") if p]
        if not all(p.isascii() and p.isdigit() for p in parts):
            raise _bad(param.name, value, expected)
        widths = [int(p) for p in parts]
        kept: Any = value.strip()
    elif isinstance(value, (list, tuple)) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        widths, kept = list(value), tuple(value)
    else:
        raise _bad(param.name, value, expected)
    if not widths or min(widths) < 1:
        raise _bad(param.name, value, expected, "each layer at least 1 wide")
    if len(widths) > MAX_LAYERS:
        raise _bad(param.name, value, f"at most {MAX_LAYERS} layers")
    if param.maximum is not None and max(widths) > param.maximum:
        raise _bad(param.name, value, f"layers at most {param.maximum:g} wide")
    return kept


def _check_floats(param: Param, value: Any) -> Any:
    """``0.01`` or ``"0.01,0.005"`` (or a sequence): a float, or a tuple of several."""
    expected = f'a number, or comma-separated numbers in quotes as in {param.name}="0.01,0.005"'
    if isinstance(value, str):
        parts: list[Any] = [p for p in value.replace(" ", "").split(",") if p]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        parts = [value]
    if not parts or len(parts) > MAX_FLOATS:
        raise _bad(param.name, value, expected, f"1 to {MAX_FLOATS} values")
    numbers = tuple(float(_to_number(param, p, "float")) for p in parts)
    return numbers[0] if len(numbers) == 1 else numbers


def _check_range(param: Param, value: Any) -> str:
    """``low-high`` (``1-2``; a pair such as ``(1, 2)`` also works), low <= high, each
    within bounds; returned as ``"low-high"``."""
    expected = "a range such as 1-2 (low-high)"
    if isinstance(value, str):
        parts = value.strip().strip("()[]").replace(",", "-").replace(" ", "").split("-")
    elif isinstance(value, (list, tuple)):
        parts = [str(v) for v in value]
    else:
        raise _bad(param.name, value, expected)
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts):
        raise _bad(param.name, value, expected)
    low, high = int(parts[0]), int(parts[1])
    if low > high:
        raise _bad(param.name, value, expected, "the low end first")
    if param.minimum is not None and low < param.minimum:
        raise _bad(param.name, value, f"ends >= {param.minimum:g}")
    if param.maximum is not None and high > param.maximum:
        raise _bad(param.name, value, f"ends <= {param.maximum:g}")
    return f"{low}-{high}"


def check_params(algorithm: str, params: ParamSet, given: dict[str, Any]) -> dict[str, Any]:
    """Validate ``given`` (any accepted spellings) and return ``{declared name: value}``.

    Raises :class:`BadParameter` naming the bad parameter and listing the allowed ones.
    """
    out: dict[str, Any] = {}
    for raw_name, value in given.items():
        param = params.lookup(raw_name)
        if param is None:
            if params.open:
                out[raw_name] = _auto(value.strip()) if isinstance(value, str) else value
                continue
            allowed = ", ".join(params.names()) or "none"
            raise BadParameter(
                f"{algorithm} has no parameter {raw_name!r}; allowed parameters: {allowed}",
                detail={"parameter": raw_name, "allowed": params.names()},
            )
        if param.name in out:
            raise BadParameter(
                f"parameter {param.name!r} of {algorithm} is given twice",
                detail={"parameter": param.name},
            )
        out[param.name] = coerce(param, value)
    return out


def to_kwargs(params: ParamSet, checked: dict[str, Any]) -> dict[str, Any]:
    """Map checked ``{declared name: value}`` to the estimator's keyword arguments."""
    kwargs: dict[str, Any] = {}
    for name, value in checked.items():
        param = params.lookup(name)
        kwargs[param.kwarg if param else name] = value
    return kwargs
