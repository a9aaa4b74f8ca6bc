"""The one place that decides dtypes: what a column *is*, and turning data into that.

Data reaches Kepler two ways. Splunk's CSV makes every field text and writes a missing
value as an empty string; the SDK and Arrow uploads bring typed columns (numbers, booleans,
timestamps, pandas' ``str`` or pyarrow-backed strings, categoricals). At training time
:func:`infer_feature_types` records each feature as ``numeric`` or ``categorical``; at apply
time :func:`conform` turns any incoming frame into exactly those types, so a model trained
on Splunk's text can score typed data from a notebook and the other way round.

Rules:

* A text column is numeric when every non-empty value parses as a number. When at least
  90% parse but some do not, it is a :class:`~kepler.core.errors.DataError`: that is
  nearly always dirty data (``n/a``, ``12ms``), and silently treating the column as a
  category would train on nonsense. Below 90% the column is categorical.
* Booleans are numeric (0/1); timestamps are numeric epoch seconds; durations seconds.
* Infinities are treated as missing: no scikit-learn estimator accepts them.
* Missing values stay missing (NaN); the pipeline imputes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from kepler.core.errors import DataError

NUMERIC = "numeric"
CATEGORICAL = "categorical"
FEATURE_TYPES = (NUMERIC, CATEGORICAL)

# Share of non-empty values that must parse for a column with stray text to be called
# "numbers with dirt in it" rather than a category that happens to hold some digits.
MIXED_THRESHOLD = 0.9


def infer_feature_types(frame: pd.DataFrame, features: Iterable[str]) -> dict[str, str]:
    """``{feature: "numeric" | "categorical"}`` in ``features`` order.

    Raises :class:`DataError` for features with no values at all, and for mostly-numeric
    text columns with stray non-numbers (naming each column, the count and examples).
    """
    return read_features(frame, features, convert=False)[0]


def read_features(
    frame: pd.DataFrame,
    features: Iterable[str],
    *,
    rows: np.ndarray | None = None,
    convert: bool = True,
) -> tuple[dict[str, str], pd.DataFrame]:
    """Training's single pass: infer each feature's type (as :func:`infer_feature_types`)
    and convert it (as :func:`conform`), parsing text once. ``rows`` keeps only those row
    positions, copying one column at a time rather than the whole frame."""
    types: dict[str, str] = {}
    columns: dict[str, pd.Series] = {}
    empty: list[str] = []
    mixed: dict[str, str] = {}
    index = frame.index if rows is None else frame.index[rows]
    for name in features:
        col = frame[name] if rows is None else frame[name].iloc[rows]
        parsed: np.ndarray | None = None
        if _kind(col) != "text":
            if bool(col.isna().all()):
                empty.append(name)
            types[name] = NUMERIC
        else:
            text = _text(col)
            blank = _blank(text)
            n_present = int(len(blank) - blank.sum())
            if n_present == 0:
                empty.append(name)
                continue
            parsed = _parse(text)
            bad = ~blank & np.isnan(parsed)
            n_bad = int(bad.sum())
            if n_bad == 0:
                types[name] = NUMERIC
                parsed[np.isinf(parsed)] = np.nan
            elif (n_present - n_bad) / n_present >= MIXED_THRESHOLD:
                mixed[name] = _mixed_message(name, text[bad], n_bad, n_present)
                continue
            else:
                types[name] = CATEGORICAL
        if convert and not (empty or mixed):
            if types[name] == NUMERIC:
                values = parsed if parsed is not None else numeric_values(col)
            else:
                values = categorical_values(col)
            columns[name] = pd.Series(values, index=index, dtype=values.dtype, copy=False)
    if empty:
        shown = ", ".join(repr(n) for n in empty)
        raise DataError(
            f"field(s) {shown} have no values in any row; drop them from the fit "
            "(a model cannot learn from an empty field)",
            detail={"fields": empty},
        )
    if mixed:
        raise DataError("; ".join(mixed.values()), detail={"fields": list(mixed)})
    return types, pd.DataFrame(columns, index=index, copy=False)


def conform(frame: pd.DataFrame, feature_types: Mapping[str, str]) -> pd.DataFrame:
    """The features of ``frame`` as recorded at training: numeric columns as float64
    (unparseable text becomes NaN, for the pipeline to impute), categorical columns as
    object arrays of strings (NaN where missing). Keeps ``frame``'s index and row order.

    A feature absent from ``frame`` is all missing: Splunk leaves a field out of a chunk
    when no event in it has the field, and one sparse chunk must not fail a search.
    """
    columns: dict[str, pd.Series] = {}
    for name, typ in feature_types.items():
        if typ not in FEATURE_TYPES:
            raise ValueError(f"unknown feature type {typ!r} for {name!r}")
        if name not in frame.columns:
            values = np.full(len(frame), np.nan, dtype=np.float64 if typ == NUMERIC else object)
        elif typ == NUMERIC:
            values = numeric_values(frame[name])
        else:
            values = categorical_values(frame[name])
        # An explicit dtype stops pandas re-inferring object arrays as its "str" type,
        # which scikit-learn would only convert back.
        columns[name] = pd.Series(values, index=frame.index, dtype=values.dtype, copy=False)
    return pd.DataFrame(columns, index=frame.index, copy=False)


def numeric_values(col: pd.Series) -> np.ndarray:
    """Float64 values, NaN where missing, unparseable or infinite."""
    kind = _kind(col)
    if kind == "text":
        values = _parse(_text(col))
    elif kind == "time":
        zero = pd.Timestamp(0, tz=getattr(col.dt, "tz", None))
        values = ((col - zero) / pd.Timedelta(seconds=1)).to_numpy(dtype="float64", na_value=np.nan)
    elif kind == "delta":
        values = col.dt.total_seconds().to_numpy(dtype="float64", na_value=np.nan)
    else:
        values = col.to_numpy(dtype="float64", na_value=np.nan)
    infinite = np.isinf(values)
    if infinite.any():
        # to_numpy may hand back the caller's own buffer: never write into it
        values = values.copy()
        values[infinite] = np.nan
    return values


def categorical_values(col: pd.Series) -> np.ndarray:
    """Object array of strings; NaN where missing or blank."""
    text = _text(col)
    values = text.to_numpy(dtype=object, na_value=np.nan)
    blank = _blank(text)
    if blank.any():
        values[blank] = np.nan
    return values


def class_labels(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A classifier's target: ``(present, labels of the present rows)``.

    Text stays text (strings), numbers stay numbers (integers as int64), booleans stay
    booleans, so predicted labels read back exactly as the user's data wrote them.
    """
    kind = _kind(col)
    if kind == "text" or kind in ("time", "delta"):
        text = _text(col)
        present = ~_blank(text)
        return present, text.to_numpy(dtype=object, na_value=np.nan)[present]
    present = ~col.isna().to_numpy(dtype=bool)
    kept = col[present] if not present.all() else col
    if kind == "bool":
        return present, kept.to_numpy(dtype=bool)
    if pd.api.types.is_integer_dtype(kept.dtype):
        return present, kept.to_numpy(dtype="int64")
    values = kept.to_numpy(dtype="float64")
    finite = np.isfinite(values)
    if not finite.all():
        present[np.flatnonzero(present)[~finite]] = False
        values = values[finite]
    return present, values


def regression_target(col: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A regressor's target: ``(present, float64 values of the present rows)``.

    Raises :class:`DataError` when the field holds text that is not a number.
    """
    if _kind(col) == "text":
        text = _text(col)
        blank = _blank(text)
        parsed = _parse(text)
        bad = ~blank & np.isnan(parsed)
        n_bad = int(bad.sum())
        if n_bad:
            n_present = int(len(blank) - blank.sum())
            if (n_present - n_bad) / n_present >= MIXED_THRESHOLD:
                raise DataError(
                    _mixed_message(name, text[bad], n_bad, n_present), detail={"field": name}
                )
            raise DataError(
                f"target field {name!r} is not numeric (values such as "
                f"{_examples(text[bad])}); a regressor predicts numbers: use a classifier "
                "such as RandomForestClassifier to predict categories",
                detail={"field": name},
            )
        values = parsed
        values[np.isinf(values)] = np.nan
    else:
        values = numeric_values(col)
    present = ~np.isnan(values)
    return present, values[present]


def missing_count(col: pd.Series) -> int:
    """How many values are missing, counting Splunk's empty strings."""
    if _kind(col) == "text":
        return int(_blank(_text(col)).sum())
    return int(col.isna().sum())


def _kind(col: pd.Series) -> str:
    dtype = col.dtype
    if pd.api.types.is_object_dtype(dtype):
        # Python objects from JSON or a notebook: read what the values are.
        inferred = pd.api.types.infer_dtype(col, skipna=True)
        if inferred == "boolean":
            return "bool"
        if inferred in ("integer", "floating", "mixed-integer-float", "decimal"):
            return "number"
        return "text"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "time"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "delta"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    return "text"


def _text(col: pd.Series) -> pd.Series:
    """The column as pandas' string type (missing stays missing)."""
    if isinstance(col.dtype, pd.StringDtype):
        return col
    return col.astype("str")


def _blank(text: pd.Series) -> np.ndarray:
    """Missing or empty (after trimming spaces): Splunk writes a missing field as ''."""
    empty = text.str.strip().eq("")
    return (empty.fillna(False) | text.isna()).to_numpy(dtype=bool)


def _parse(text: pd.Series) -> np.ndarray:
    """Float64 values of text (NaN where it is not a number), in a writable array.

    Arrow parses a clean column (blanks aside) in one vectorised cast, about ten times
    faster than pandas; a column with anything else in it takes pandas' per-value path,
    which turns each bad value into NaN.
    """
    fast = _arrow_parse(text)
    if fast is not None:
        return fast
    parsed = pd.to_numeric(text, errors="coerce")
    values = np.asarray(parsed.to_numpy(dtype="float64", na_value=np.nan), dtype="float64")
    return values if values.flags.writeable else values.copy()


def _arrow_parse(text: pd.Series) -> np.ndarray | None:
    import pyarrow as pa

    try:
        arr = pa.array(text, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    floats = arrow_floats(arr)
    if floats is None:
        return None
    return np.array(floats.to_numpy(zero_copy_only=False), dtype="float64")  # writable copy


def arrow_floats(arr: Any) -> Any | None:
    """An Arrow text array or chunked array as float64 (null where blank), or ``None`` when
    a value is not a number (the caller then takes pandas' per-value path).

    Splunk's values rarely carry spaces, so the cast is tried on the text as it is first;
    only when that fails is every value trimmed and the cast tried again.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return None
    for values in (arr, None):
        try:
            if values is None:
                values = pc.utf8_trim_whitespace(arr)
            blank = pc.equal(values, "")
            return pc.cast(pc.if_else(blank, pa.scalar(None, arr.type), values), pa.float64())
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            continue
    return None


def _examples(values: pd.Series, n: int = 3) -> str:
    seen = pd.unique(values.head(1000).to_numpy(dtype=object))[:n]
    return ", ".join(repr(str(v)) for v in seen)


def _mixed_message(name: str, bad: pd.Series, n_bad: int, n_present: int) -> str:
    return (
        f"field '{name}' is mostly numbers, but {n_bad} of {n_present} values are not "
        f"(e.g. {_examples(bad)}); convert them before fitting, e.g. in SPL "
        f"`| eval {name}=tonumber({name})` (non-numbers become empty), or clean them upstream"
    )


def _preview(columns: list[str], n: int = 12) -> str:
    shown = ", ".join(str(c) for c in columns[:n])
    return shown + (f" and {len(columns) - n} more" if len(columns) > n else "")
