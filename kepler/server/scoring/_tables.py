"""Request bodies to Arrow tables and back: Splunk's CSV or an Arrow IPC stream."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from kepler.core.errors import DataError


def _header(data: bytes) -> list[str]:
    """The field names on a CSV body's first line; none for an empty body."""
    if not data or data.isspace():
        return []
    end = data.find(b"\n")
    first = data[: end if end >= 0 else len(data)].rstrip(b"\r").decode("utf-8", "replace")
    return next(csv.reader([first]), [])


def _read_csv(
    data: bytes,
    types: dict[str, pa.DataType],
    *,
    block_size: int,
    include: list[str] | None = None,
) -> pa.Table:
    """Arrow's CSV reader as Splunk's CSV needs it: values may hold newlines, text keeps
    "" as "", a blank number is missing; what cannot be read is a :class:`DataError`."""
    import pyarrow.csv as pacsv

    try:
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(block_size=block_size),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                include_columns=include or [],
                column_types=types,
                null_values=[""],  # only a blank is missing ("NA" in a number fails)
                strings_can_be_null=False,
                quoted_strings_can_be_null=True,  # a quoted blank number: missing
            ),
        )
    except pa.ArrowInvalid as exc:
        raise DataError(f"the CSV body could not be read: {exc}; send RFC 4180 CSV") from None


def read_csv_as_strings(data: bytes) -> pa.Table:
    """Splunk's CSV, every column as text (typing is the model's business); empty -> no rows."""
    names = _header(data)
    if not names:
        return pa.table({})
    return _read_csv(data, {n: pa.string() for n in names}, block_size=1 << 24)


def read_csv_for_model(data: bytes, meta: Any, echo: Sequence[str] = ()) -> pa.Table:
    """Only what scoring needs from Splunk's CSV: the model's fields and the ``echo``
    columns, the numeric fields parsed straight to float64 (blank: missing). A numeric
    field holding anything else (padding, text) makes the whole read fall back to text,
    converted by ``score_table`` as ever. No model field in the header: every column."""
    from kepler.ml.frames import NUMERIC

    header = _header(data)
    if not header:
        return pa.table({})
    wanted = set(meta.features) | set(echo)
    keep = [n for n in dict.fromkeys(header) if n in wanted]
    if not any(n in meta.features for n in keep) or len(keep) != len(set(keep)):
        return read_csv_as_strings(data)
    floats = {n for n in keep if meta.feature_types.get(n) == NUMERIC and n not in echo}
    if floats:
        typed = {n: pa.float64() if n in floats else pa.string() for n in keep}
        with contextlib.suppress(DataError):  # a non-number somewhere: read it as text
            return _read_csv(data, typed, include=keep, block_size=1 << 20)
    return _read_csv(data, {n: pa.string() for n in keep}, include=keep, block_size=1 << 20)


def read_body(fmt: str, data: bytes) -> pa.Table:
    if fmt == "arrow":
        try:
            with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
                return reader.read_all()
        except pa.ArrowInvalid as exc:
            raise DataError(
                f"the body is not an Arrow IPC stream: {exc}; send one with the "
                "Content-Type application/vnd.apache.arrow.stream"
            ) from None
    return read_csv_as_strings(data)


def write_body(fmt: str, table: pa.Table) -> bytes:
    sink = io.BytesIO()
    if fmt == "arrow":
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    else:
        import pyarrow.csv as pacsv

        if table.num_columns:
            pacsv.write_csv(
                with_multivalue(table),
                sink,
                write_options=pacsv.WriteOptions(quoting_style="needed"),
            )
    return sink.getvalue()


def with_multivalue(table: pa.Table) -> pa.Table:
    """``table`` with, after its columns, ``__mv_<field>`` for each multivalue field
    (kepler.server.scoring._score.MULTIVALUE): splunkd's encoding, each line as ``$v$``
    (``$`` doubled) joined by ``;`` (SPLUNK_PROTOCOLS.md, "CSV body"), so that
    ``| mvexpand`` splits the lines. Only the CSV answered to splunkd carries them."""
    from kepler.server.scoring._score import MULTIVALUE

    for f in list(table.schema):
        if f.metadata == MULTIVALUE:
            encoded = [_mv_encode(v) for v in table.column(f.name).to_pylist()]
            table = table.append_column(f"__mv_{f.name}", pa.array(encoded, pa.string()))
    return table


def _mv_encode(value: str | None) -> str | None:
    if not value:
        return value
    return ";".join("$" + line.replace("$", "$$") + "$" for line in value.split("\n"))
