"""How a dataset's columns are stored and read back: Parquet encodings, row groups, and
the one schema that a dataset's chunks are unified into and conformed to when read."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pyarrow as pa

from kepler.core.errors import DataError

# Small enough to keep a chunk's conversion in little memory, large enough for Parquet to
# compress and read well.
ROW_GROUP_BYTES = 8 * 1024 * 1024


def encoding(schema: pa.Schema) -> dict[str, Any]:
    """Dictionary encoding and zstd pay off on text (Splunk's CSV fields repeat a lot);
    on numbers they cost time and save little, so those get LZ4 alone: on 1M x 20
    float64 it writes as fast as snappy and decodes 1.4-1.8 times faster, and it keeps
    most of snappy's saving on numbers that do compress (counters, rounded values: 69
    against 63 MiB, where no compression takes 153). Parts written by earlier versions
    (snappy) read as before: the codec is recorded per column chunk."""
    # One pass over the fields: a Splunk chunk may have tens of thousands of columns, and a
    # membership test in a list per column made this quadratic (100,000 columns: minutes).
    text: list[str] = []
    compression: dict[str, str] = {}
    for f in schema:
        is_text = pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        if is_text:
            text.append(f.name)
        compression[f.name] = "zstd" if is_text else "lz4"
    return {"use_dictionary": text, "compression": compression or "lz4"}


def row_groups(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.Table]:
    """Batches gathered into row groups of about :data:`ROW_GROUP_BYTES` each."""
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in batches:
        pending.append(batch)
        size += batch.nbytes
        if size >= ROW_GROUP_BYTES:
            yield pa.Table.from_batches(pending)
            pending, size = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def unify(schemas: Sequence[pa.Schema]) -> pa.Schema:
    """Columns in order of first appearance; a type that differs between chunks is promoted
    (int64 and double give double) where Arrow can, else the chunks are in conflict."""
    fields: dict[str, pa.DataType] = {}
    first_seen: dict[str, int] = {}
    for seq, schema in enumerate(schemas):
        for fld in schema:
            known = fields.get(fld.name)
            if known is None:
                fields[fld.name] = fld.type
                first_seen[fld.name] = seq
            elif known != fld.type:
                merged = promote(known, fld.type)
                if merged is None:
                    raise DataError(
                        f"column {fld.name!r} is {known} in chunk {first_seen[fld.name]} but "
                        f"{fld.type} in chunk {seq}; send it with one type in every chunk",
                        detail={"column": fld.name},
                    )
                fields[fld.name] = merged
    return pa.schema([pa.field(name, typ, nullable=True) for name, typ in fields.items()])


def promote(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
    """The type both ``a`` and ``b`` cast to without loss, or None."""
    try:
        merged = pa.unify_schemas(
            [pa.schema([("c", a)]), pa.schema([("c", b)])], promote_options="permissive"
        )
        return merged.field(0).type
    except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    # A categorical column in one chunk and plain values in another: keep the values.
    if pa.types.is_dictionary(a) or pa.types.is_dictionary(b):
        return promote(_values(a), _values(b))
    return None


def _values(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def select(schema: pa.Schema, columns: Sequence[str] | None) -> pa.Schema:
    if columns is None:
        return schema
    unknown = [c for c in columns if c not in schema.names]
    if unknown:
        raise DataError(
            f"the dataset has no column(s) {', '.join(map(repr, unknown))}; "
            f"its columns are: {', '.join(schema.names)}",
            detail={"unknown_columns": unknown},
        )
    return pa.schema([schema.field(c) for c in columns])


def conform(data: Any, target: pa.Schema) -> Any:
    """A table or batch with ``target``'s columns in order: missing ones null, types promoted."""
    for fld in target:
        if fld.name not in data.column_names:
            data = data.append_column(fld.name, pa.nulls(data.num_rows, fld.type))
    return data.select(target.names).cast(target)


def null_batches(target: pa.Schema, rows: int, batch_size: int) -> Iterator[pa.RecordBatch]:
    """Batches for a chunk that has none of the columns asked for."""
    if not target.names:
        return
    for start in range(0, rows, batch_size):
        size = min(batch_size, rows - start)
        yield pa.RecordBatch.from_arrays([pa.nulls(size, f.type) for f in target], schema=target)
