"""Drift of a window against a baseline: one row per field, methods chosen as Evidently does.

``method="auto"`` follows Evidently's default choice (``_get_default_stattest``), by the
baseline's count of values and the field's type and number of distinct values (both
sides together):

====================  ================================  =================================
baseline values       numeric, > 5 distinct             categorical, or numeric <= 5
====================  ================================  =================================
1,000 or fewer        ks (p-value, 0.05)                chi2 (0.05); z when 2 or fewer
more than 1,000       wasserstein (normed, 0.1)         jensenshannon (0.1)
====================  ================================  =================================

Any method may be asked for instead (``psi`` too); one ``threshold`` replaces every
field's default. A row that cannot be computed says why in ``note`` and has no
statistic: a field absent from the events, a window with fewer values than the method
needs (``MIN_VALUES``), a method that does not apply to the field's type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kepler.core.drift import COLUMNS, DEFAULT_THRESHOLD, METHODS, P_VALUES
from kepler.core.errors import BadParameter
from kepler.ml.monitoring import stats
from kepler.ml.monitoring.profile import NUMERIC, Batch, WindowCounter

# Values a window needs in a field before a test says anything about it.
MIN_VALUES = {"ks": 20, "chi2": 20, "z": 20, "wasserstein": 20, "jensenshannon": 20, "psi": 100}
SMALL_REFERENCE = 1000  # Evidently: at most this many reference values take the tests
FEW_VALUES = 5  # Evidently: a numeric field with this many distinct values or fewer is a category
NUMERIC_ONLY = frozenset({"ks", "wasserstein"})

__all__ = [
    "COLUMNS",
    "DEFAULT_THRESHOLD",
    "METHODS",
    "P_VALUES",
    "check_method",
    "count_window",
    "drift",
]


def check_method(method: str | None, threshold: float | None) -> tuple[str, float | None]:
    """``method`` and ``threshold`` as given, or a :class:`BadParameter` saying what to use."""
    name = (method or "auto").strip().lower()
    if name not in METHODS:
        raise BadParameter(
            f"method={method!r} is not a drift method; use one of {', '.join(METHODS)}",
            detail={"method": method, "allowed": list(METHODS)},
        )
    if threshold is not None:
        value = float(threshold)
        if not value > 0 or value != value or value == float("inf"):
            raise BadParameter(
                f"threshold={threshold!r} must be a positive number (a p-value for ks and "
                "chi2, e.g. 0.05; a distance for wasserstein, jensenshannon and psi, e.g. 0.1)",
                detail={"threshold": threshold},
            )
        return name, value
    return name, None


def count_window(baseline: Mapping[str, Any], batches: Iterable[Batch]) -> dict[str, Any]:
    """The window's counts on the baseline's bins, features and outputs together."""
    fields = {**baseline.get("fields", {}), **baseline.get("outputs", {})}
    counter = WindowCounter(fields)
    for batch in batches:
        counter.add(batch)
    return counter.result()


def drift(
    baseline: Mapping[str, Any],
    window: Mapping[str, Any],
    *,
    method: str | None = "auto",
    threshold: float | None = None,
) -> list[dict[str, Any]]:
    """One row per field of ``baseline`` (features first, then the model's outputs) for
    ``window`` (what :func:`count_window` answers); columns as :data:`COLUMNS`."""
    asked, threshold = check_method(method, threshold)
    rows: list[dict[str, Any]] = []
    absent = set(window.get("absent", ()))
    counted = window.get("fields", {})
    for role, group in (("feature", "fields"), ("output", "outputs")):
        for name, ref in (baseline.get(group) or {}).items():
            cur = counted.get(name)
            row = _row(name, role, ref, cur, baseline, window)
            if name in absent or cur is None:
                row["missing_now"] = None if name in absent else row["missing_now"]
                row["note"] = f"the events have no field {name!r}" + (
                    "; apply the model first, or send its input fields" if role == "output" else ""
                )
            else:
                _test(row, asked, threshold, ref, cur)
            rows.append(row)
    return rows


def _row(
    name: str,
    role: str,
    ref: Mapping[str, Any],
    cur: Mapping[str, Any] | None,
    baseline: Mapping[str, Any],
    window: Mapping[str, Any],
) -> dict[str, Any]:
    rows_then = int(ref.get("count", 0)) + int(ref.get("nulls", 0))
    rows_now = int(window.get("rows", 0))
    now = None
    if cur is not None and rows_now:
        now = int(cur.get("nulls", 0)) / rows_now
    return {
        "field": name,
        "role": role,
        "type": ref.get("type"),
        "method": None,
        "statistic": None,
        "threshold": None,
        "drifted": None,
        "missing_then": int(ref.get("nulls", 0)) / rows_then if rows_then else None,
        "missing_now": now,
        "rows_then": rows_then,
        "rows_now": rows_now,
        "note": "",
    }


def choose(ref: Mapping[str, Any], cur: Mapping[str, Any]) -> str:
    """Evidently's default test for this field (see the module docstring)."""
    numeric = ref.get("type") == NUMERIC
    as_categories = not numeric
    n_values = FEW_VALUES + 1
    if numeric and "values" in ref and "values" in cur:
        n_values = len(set(ref["values"]) | set(cur["values"]))
        as_categories = n_values <= FEW_VALUES
    elif not numeric:
        n_values = len(stats.category_counts(ref, cur)[0])
    if int(ref.get("count", 0)) <= SMALL_REFERENCE:
        if as_categories:
            return "chi2" if n_values > 2 else "z"
        return "ks"
    return "jensenshannon" if as_categories else "wasserstein"


def _test(
    row: dict[str, Any],
    asked: str,
    threshold: float | None,
    ref: Mapping[str, Any],
    cur: Mapping[str, Any],
) -> None:
    name = row["field"]
    if not int(ref.get("count", 0)):
        row["note"] = f"the baseline has no values of {name!r} to compare with"
        return
    method = choose(ref, cur) if asked == "auto" else asked
    row["method"] = method
    row["threshold"] = DEFAULT_THRESHOLD[method] if threshold is None else threshold
    numeric = ref.get("type") == NUMERIC
    if method in NUMERIC_ONLY and not numeric:
        row["note"] = (
            f"{method} compares numbers and {name!r} is categorical; "
            "use method=chi2, jensenshannon or psi"
        )
        return
    have, need = int(cur.get("count", 0)), MIN_VALUES[method]
    if have < need:
        row["note"] = (
            f"the window has {have} value(s) of {name!r}; {method} needs at least {need}: "
            "widen the search's time range"
        )
        return
    by_category = not numeric or ("values" in ref and "values" in cur)
    if method in NUMERIC_ONLY:
        test = stats.ks if method == "ks" else stats.wasserstein
        statistic, drifted = test(ref, cur, row["threshold"])
    else:
        if by_category:
            _, r, c = stats.category_counts(ref, cur)
        else:
            r, c = stats.binned_counts(ref, cur)
        fn = {
            "chi2": stats.chi2,
            "z": stats.z_test,
            "jensenshannon": stats.jensenshannon,
            "psi": stats.psi,
        }[method]
        statistic, drifted = fn(r, c, row["threshold"])
    row["statistic"] = statistic
    row["drifted"] = bool(drifted)
