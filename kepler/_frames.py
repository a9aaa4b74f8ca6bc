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
        return pa.Table.from_pandas(df, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(
            f"the frame cannot be sent: {exc}; give each column one type "
            "(e.g. df[col] = df[col].astype(str) for mixed text and numbers)"
        ) from None


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
