"""Splunk results to a typed DataFrame, one bounded batch at a time.

Splunk's JSON gives every value as text and a multivalue field as a list of texts, and a
field can be single-valued in one result and multivalued in the next. Results are
gathered ``batch_rows`` at a time into Arrow columns (compact, no per-row Python object
survives a batch), and typed once at the end over the whole column:

* a column whose every non-empty value parses as an integer is ``int64`` (``float64``
  when values are missing, as ``pandas.read_csv`` does), else as a number ``float64``;
* ``_time`` (ISO 8601 with offset) is a UTC ``datetime64``;
* a column with any multivalue is a column of Python lists (single values become
  one-element lists), their items typed the same way;
* everything else is text; ``dtype={"zip": "str"}`` keeps a column as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

TEXT = pa.string()
MULTI = pa.list_(pa.string())


class FrameBuilder:
    """Collects result dicts; :meth:`frame` returns the typed DataFrame."""

    def __init__(self, batch_rows: int = 5_000) -> None:
        self.batch_rows = max(1, batch_rows)
        self.rows = 0
        self._pending: list[Mapping[str, Any]] = []
        self._batches: list[dict[str, pa.Array]] = []
        self._sizes: list[int] = []
        self._names: dict[str, None] = {}  # insertion-ordered set: first appearance wins

    def add(self, result: Mapping[str, Any]) -> None:
        self._pending.append(result)
        self.rows += 1
        if len(self._pending) >= self.batch_rows:
            self.flush()

    def add_columns(self, columns: Mapping[str, pa.Array], rows: int) -> None:
        """A batch already in Arrow (text or list-of-text columns, ``rows`` long)."""
        if not rows:
            return
        self.flush()  # rows gathered one by one come first
        for name in columns:
            if name not in self._names:
                self._names[name] = None
        self._batches.append(dict(columns))
        self._sizes.append(rows)
        self.rows += rows

    def extend(self, results: list[Mapping[str, Any]]) -> None:
        for result in results:
            self.add(result)

    def flush(self) -> None:
        rows, self._pending = self._pending, []
        if not rows:
            return
        names = self._names
        for row in rows:
            for key in row:
                if key not in names:
                    names[key] = None
        batch: dict[str, pa.Array] = {}
        for name in names:
            values = [row.get(name) for row in rows]
            arr = _column(values)
            if arr is not None:
                batch[name] = arr
        self._batches.append(batch)
        self._sizes.append(len(rows))

    def frame(self, dtype: Mapping[str, Any] | None = None) -> Any:
        import pandas as pd

        self.flush()
        keep = dict(dtype or {})
        data: dict[str, Any] = {}
        for name in list(self._names):
            column = self._column(name)
            for batch in self._batches:  # each column's Arrow memory goes as it is converted
                batch.pop(name, None)
            data[name] = _to_series(name, column, keep.get(name), pd)
        self._batches.clear()
        frame = pd.DataFrame(data)
        frame.index = pd.RangeIndex(len(frame))
        return frame

    def _column(self, name: str) -> pa.ChunkedArray:
        multi = any(pa.types.is_list(b[name].type) for b in self._batches if name in b)
        target = MULTI if multi else TEXT
        chunks = []
        for batch, size in zip(self._batches, self._sizes, strict=True):
            arr = batch.get(name)
            if arr is None:
                chunks.append(pa.nulls(size, target))
            elif multi and not pa.types.is_list(arr.type):
                chunks.append(_as_lists(arr))
            else:
                chunks.append(arr)
        return pa.chunked_array(chunks, target)


def _column(values: list[Any]) -> pa.Array | None:
    if all(v is None for v in values):
        return None
    if any(isinstance(v, list) for v in values):
        values = [v if v is None or isinstance(v, list) else [v] for v in values]
        try:
            return pa.array(values, MULTI)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return pa.array([None if v is None else [_text(x) for x in v] for v in values], MULTI)
    try:
        return pa.array(values, TEXT)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a JSON number or object: keep as text
        return pa.array([None if v is None else _text(v) for v in values], TEXT)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    import json

    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def _as_lists(arr: pa.Array) -> pa.Array:
    offsets = pa.array(range(len(arr) + 1), pa.int32())
    lists = pa.ListArray.from_arrays(offsets, arr.fill_null(""))
    # A missing single value stays missing, not a list holding "".
    return pc.if_else(arr.is_null(), pa.nulls(len(arr), MULTI), lists)


def typed(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Text to int64 or float64 when every non-empty value parses; else unchanged."""
    if column.null_count == len(column):
        return column
    values = column
    if pc.any(pc.equal(column, "")).as_py():  # empty is missing, as in read_csv
        values = pc.if_else(pc.equal(column, ""), pa.scalar(None, TEXT), column)
        if values.null_count == len(values):
            return column
    for kind in (pa.int64(), pa.float64()):
        try:
            return pc.cast(values, kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return column


def _to_series(name: str, column: pa.ChunkedArray, wanted: Any, pd: Any) -> Any:
    if wanted is not None:
        return column.to_pandas().astype(wanted)
    if pa.types.is_list(column.type):
        flat = pc.list_flatten(column)
        items = typed(flat) if len(flat) else flat
        if items.type != TEXT:
            column = pa.chunked_array(
                [c.cast(pa.list_(items.type)) for c in column.chunks], pa.list_(items.type)
            )
        return pd.Series(column.to_pylist(), dtype=object)
    if name == "_time":
        return _times(column, pd)
    return typed(column).to_pandas()


def _times(column: pa.ChunkedArray, pd: Any) -> Any:
    try:  # Arrow parses ISO 8601 with its offset without a Python object per value
        return pc.cast(column, pa.timestamp("us", "UTC")).to_pandas()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    text = column.to_pandas()
    try:
        return pd.to_datetime(text, utc=True, format="ISO8601")
    except (ValueError, TypeError):
        # _time as epoch seconds (some commands write it so) or something else.
        numbers = typed(column)
        if pa.types.is_floating(numbers.type) or pa.types.is_integer(numbers.type):
            return pd.to_datetime(numbers.to_pandas(), unit="s", utc=True)
        return text
