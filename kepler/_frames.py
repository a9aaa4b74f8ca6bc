"""Frames on the wire: pandas <-> Arrow IPC, cut into pieces of bounded size."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from kepler.core.errors import DataError

ARROW = "application/vnd.apache.arrow.stream"


def to_arrow(df: Any) -> Any:
    import pyarrow as pa

    try:
        zoned = _zoned_datetimes(df)
        if not zoned:
            return pa.Table.from_pandas(df, preserve_index=False)
        # pyarrow reads a timezone-aware column through Series.values, which pandas 3.1
        # deprecates (it drops the zone): hand those columns over as UTC instants instead.
        table = pa.Table.from_pandas(df.drop(columns=list(zoned)), preserve_index=False)
        for name, array in zoned.items():
            table = table.add_column(
                list(df.columns).index(name), pa.field(name, array.type), array
            )
        return table
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(
            f"the frame cannot be sent: {exc}; give each column one type "
            "(e.g. df[col] = df[col].astype(str) for mixed text and numbers)"
        ) from None


def _zoned_datetimes(df: Any) -> dict[str, Any]:
    """Arrow arrays for ``df``'s timezone-aware datetime columns, by name."""
    import pandas as pd
    import pyarrow as pa

    out: dict[str, Any] = {}
    for name in df.columns:
        dtype = df[name].dtype
        if isinstance(dtype, pd.DatetimeTZDtype) and list(df.columns).count(name) == 1:
            utc = df[name].dt.tz_convert(None).to_numpy()
            out[name] = pa.array(utc, type=pa.timestamp(dtype.unit, tz=str(dtype.tz)))
    return out


def slices(table: Any, max_bytes: int) -> Iterator[Any]:
    """Row slices of ``table`` of at most about ``max_bytes`` each (at least one row)."""
    rows = table.num_rows
    if rows == 0:
        yield table
        return
    per_row = max(1, table.nbytes // rows)
    step = max(1, max_bytes // per_row)
    for start in range(0, rows, step):
        yield table.slice(start, step)


def ipc_bytes(table: Any) -> bytes:
    import pyarrow as pa

    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=65_536)  # bounded batches on the bridge
    return sink.getvalue()


def from_ipc(data: bytes) -> Any:
    import pyarrow as pa

    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        return reader.read_all()
