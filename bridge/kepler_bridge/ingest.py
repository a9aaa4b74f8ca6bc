"""Turn one uploaded chunk, arriving as a request body, into one Parquet part of a dataset.

Memory is bounded by a block size, never by the chunk's or the dataset's size: the body is
spooled to a local temporary file while it is counted and hashed, then converted with
pyarrow's streaming readers and written batch by batch. The blocking work runs in worker
threads so the bridge keeps answering while a large chunk is converted.

CSV chunks are Splunk's: a header line, ``\\r\\n`` line endings, minimal quoting, and
``__mv_<field>`` columns kept as they are. Every column is read as a string (an empty value
as ``""``): a later chunk with text in a "numeric" column must never break an upload, and
typing is the ML engine's decision. Arrow chunks are IPC streams and keep their types.

A body cut off by the client, or any error, commits nothing and leaves no file behind.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import hashlib
import io
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
from anyio import to_thread

from kepler.core.errors import Conflict, DataError, PayloadTooLarge
from kepler.server.datasets import FORMATS, DatasetStore, check_seq
from kepler.server.settings import MiB

__all__ = ["ChunkResult", "ingest_chunk"]

# Arrow's CSV reader reads up to 32 blocks ahead, so the block size sets the memory a
# conversion takes (a 300 MB chunk peaks near 80 MiB of RSS with 512 KiB blocks). A row
# must fit in one block: a chunk with a longer row is read again with larger blocks.
_CSV_BLOCK_SIZES = (MiB // 2, 4 * MiB, 16 * MiB)
_ARROW_SLICE_BYTES = 4 * MiB
_SPOOL_FLUSH_BYTES = 1 * MiB
_REASON_CHARS = 300

_CSV_PARSE = pacsv.ParseOptions(
    delimiter=",", quote_char='"', double_quote=True, escape_char=False, newlines_in_values=True
)
_CSV_HINT = (
    "send CSV as Splunk writes it: one header line, then rows with as many fields as the "
    "header, any value holding a comma, a quote or a line break in double quotes (a quote "
    "inside doubled), in UTF-8"
)
_ARROW_HINT = (
    "send one Arrow IPC stream, as written by pyarrow.ipc.new_stream (not an Arrow file, "
    "Feather or Parquet)"
)


@dataclass(frozen=True)
class ChunkResult:
    """What one chunk became: its rows, the bytes received, its columns, their SHA-256."""

    seq: int
    rows: int
    bytes: int
    columns: tuple[str, ...]
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["columns"] = list(self.columns)
        return body


def own_spool_dir(root: Path) -> Path:
    """This bridge process's folder for chunk bodies in flight, under ``root`` (the home's
    ``spool``), after removing the folders of bridge processes that are gone: a bridge
    killed mid-upload leaves its spooled bodies behind, and the next start clears them.
    Folders are named ``<host>~<pid>~<uuid>``; another host's are never touched."""
    from kepler.server.datasets import owner_tag, process_gone

    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        host, _, rest = old.name.partition("~")
        pid = rest.partition("~")[0]
        if old.is_dir() and pid.isdigit() and process_gone(host, int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    mine = root / owner_tag()
    mine.mkdir()
    return mine


async def ingest_chunk(
    store: DatasetStore,
    dataset_id: str,
    seq: int,
    stream: AsyncIterator[bytes],
    *,
    fmt: str,
    max_chunk_bytes: int,
    max_dataset_bytes: int,
    spool_dir: str | Path | None = None,
) -> ChunkResult:
    """Store chunk ``seq`` of a dataset from ``stream`` (Starlette's ``request.stream()``).

    Re-sending a chunk replaces it. ``max_dataset_bytes`` is checked against the parts
    already stored (Parquet, compressed) plus the bytes of this chunk as they arrive.
    Raises :class:`PayloadTooLarge` past a limit, :class:`DataError` for a body that is not
    valid ``fmt``, and whatever ``stream`` raises (such as ``ClientDisconnect``) as is.
    """
    check_seq(seq)
    if fmt not in FORMATS:
        raise DataError(f"unknown chunk format {fmt!r}; use one of: {', '.join(FORMATS)}")
    info = await to_thread.run_sync(store.info, dataset_id)
    if info.completed:
        raise Conflict(
            f"dataset {dataset_id} is already completed and takes no more chunks; "
            "upload a new dataset to change its data",
            detail={"dataset_id": dataset_id},
        )
    if info.format != fmt:
        raise DataError(
            f"dataset {dataset_id} takes {info.format} chunks, but chunk {seq} was sent as {fmt}",
            detail={"format": info.format},
        )
    stored = await to_thread.run_sync(partial(store.size_bytes, dataset_id, excluding_seq=seq))

    fd, spool = tempfile.mkstemp(prefix="kepler-chunk-", suffix=f".{fmt}", dir=spool_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            size, sha256 = await _spool(
                stream,
                out,
                seq=seq,
                dataset_id=dataset_id,
                max_chunk_bytes=max_chunk_bytes,
                max_dataset_bytes=max_dataset_bytes,
                stored_bytes=stored,
            )
        convert = _convert_csv if fmt == "csv" else _convert_arrow
        return await to_thread.run_sync(
            partial(convert, store, dataset_id, seq, spool, size=size, sha256=sha256)
        )
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(spool)


async def _spool(
    stream: AsyncIterator[bytes],
    out: BinaryIO,
    *,
    seq: int,
    dataset_id: str,
    max_chunk_bytes: int,
    max_dataset_bytes: int,
    stored_bytes: int,
) -> tuple[int, str]:
    """Copy the body to ``out``, counting and hashing it; returns its size and SHA-256."""
    hasher = hashlib.sha256()
    size = 0
    pending: list[bytes] = []
    pending_size = 0
    async for block in stream:
        if not block:
            continue
        size += len(block)
        if size > max_chunk_bytes:
            raise PayloadTooLarge(
                f"chunk {seq} is larger than {_mib(max_chunk_bytes)} MiB, the most one chunk "
                "may hold (KEPLER_MAX_CHUNK_BYTES); send the data in smaller chunks, or raise "
                "KEPLER_MAX_CHUNK_BYTES on the bridge",
                detail={"setting": "KEPLER_MAX_CHUNK_BYTES", "limit_bytes": max_chunk_bytes},
            )
        if stored_bytes + size > max_dataset_bytes:
            raise PayloadTooLarge(
                f"dataset {dataset_id} would grow past {_mib(max_dataset_bytes)} MiB, the most "
                "one dataset may hold (KEPLER_MAX_DATASET_BYTES); upload less data (a shorter "
                "time range, fewer fields), or raise KEPLER_MAX_DATASET_BYTES on the bridge",
                detail={"setting": "KEPLER_MAX_DATASET_BYTES", "limit_bytes": max_dataset_bytes},
            )
        pending.append(block)
        pending_size += len(block)
        if pending_size >= _SPOOL_FLUSH_BYTES:
            await to_thread.run_sync(_write_blocks, out, hasher, pending)
            pending, pending_size = [], 0
    if pending:
        await to_thread.run_sync(_write_blocks, out, hasher, pending)
    return size, hasher.hexdigest()


def _write_blocks(out: BinaryIO, hasher: Any, blocks: list[bytes]) -> None:
    for block in blocks:
        hasher.update(block)
        out.write(block)


def _convert_csv(
    store: DatasetStore, dataset_id: str, seq: int, spool: str, *, size: int, sha256: str
) -> ChunkResult:
    if _is_blank(spool, size):
        # Splunk sends empty chunks: a part with no rows and no columns.
        return _write(store, dataset_id, seq, pa.schema([]), iter(()), size, sha256)
    _end_last_line(spool)
    for block_size in _CSV_BLOCK_SIZES:
        # Serial reading keeps memory to the blocks read ahead and gives row numbers.
        read = pacsv.ReadOptions(block_size=block_size, use_threads=False)
        try:
            return _csv_part(store, dataset_id, seq, spool, read, size=size, sha256=sha256)
        except _RowTooLong:
            continue
    raise DataError(
        f"chunk {seq} is not valid CSV: a row is longer than {_mib(_CSV_BLOCK_SIZES[-1])} MiB, "
        f"or a quote is never closed; {_CSV_HINT}",
        detail={"seq": seq},
    )


def _csv_part(
    store: DatasetStore,
    dataset_id: str,
    seq: int,
    spool: str,
    read: pacsv.ReadOptions,
    *,
    size: int,
    sha256: str,
) -> ChunkResult:
    names = _csv_header(spool, seq, read.block_size)
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
        check_utf8=True,
    )
    try:
        reader = pacsv.open_csv(
            spool, read_options=read, parse_options=_CSV_PARSE, convert_options=convert
        )
    except pa.ArrowInvalid as exc:
        raise _csv_error(seq, exc) from None
    with reader:
        if reader.schema.names != names or any(t != pa.string() for t in reader.schema.types):
            raise DataError(
                f"chunk {seq} is not valid CSV: its header line is ambiguous; {_CSV_HINT}",
                detail={"seq": seq},
            )
        batches = _csv_batches(reader, seq)
        return _write(store, dataset_id, seq, reader.schema, batches, size, sha256)


def _csv_batches(reader: Any, seq: int) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            raise _csv_error(seq, exc) from None
        yield batch


def _csv_header(spool: str, seq: int, limit: int) -> list[str]:
    """The column names, read from the first ``limit`` bytes as Arrow will read them.

    (Asking Arrow itself would start a reader that reads 32 blocks ahead.)
    """
    with open(spool, "rb") as f:
        head = f.read(limit)
        more = bool(f.read(1))
    # Bytes that are not UTF-8 survive decoding as surrogates; only the header's matter here.
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="surrogateescape")
    text = decoder.decode(head, final=not more)
    lines = io.StringIO(text, newline="")
    try:
        # Arrow skips empty lines before the header as well.
        names = next((row for row in csv.reader(lines) if row), [])
    except csv.Error as exc:
        raise DataError(
            f"chunk {seq} is not valid CSV: its header line cannot be read ({exc}); {_CSV_HINT}",
            detail={"seq": seq},
        ) from None
    try:
        "".join(names).encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(
            f"chunk {seq} is not valid CSV: its header line is not UTF-8 text; {_CSV_HINT}",
            detail={"seq": seq},
        ) from None
    if more and lines.tell() >= len(text):
        raise _RowTooLong("the header line does not fit in one block")
    if not names:
        raise DataError(f"chunk {seq} is not valid CSV: it has no header line; {_CSV_HINT}")
    _check_unique(names, seq)
    return names


class _RowTooLong(Exception):
    """A row did not fit in one block: read the chunk again with larger blocks."""


def _convert_arrow(
    store: DatasetStore, dataset_id: str, seq: int, spool: str, *, size: int, sha256: str
) -> ChunkResult:
    if size == 0:
        return _write(store, dataset_id, seq, pa.schema([]), iter(()), size, sha256)
    with open(spool, "rb") as f:
        magic = f.read(6)
    if magic == b"ARROW1":
        raise DataError(f"chunk {seq} is an Arrow IPC file, not a stream; {_ARROW_HINT}")
    if magic.startswith(b"PAR1"):
        raise DataError(f"chunk {seq} is a Parquet file, not an Arrow stream; {_ARROW_HINT}")
    # Mapped, not read: the batches are views of the spooled body, never a second copy.
    with pa.memory_map(spool, "r") as source:
        try:
            reader = pa.ipc.open_stream(source)
        except (pa.ArrowInvalid, OSError) as exc:
            raise _arrow_error(seq, exc) from None
        with reader:
            schema = reader.schema.remove_metadata()
            _check_unique(schema.names, seq)
            batches = _arrow_batches(reader, seq)
            return _write(store, dataset_id, seq, schema, batches, size, sha256)


def _arrow_batches(reader: Any, seq: int) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            batch = reader.read_next_batch()
            batch.validate(full=True)
        except StopIteration:
            return
        except (pa.ArrowInvalid, OSError) as exc:
            raise _arrow_error(seq, exc) from None
        batch = batch.replace_schema_metadata(None)
        # A client may send one huge batch; slices keep each Parquet row group small.
        step = max(1, batch.num_rows * _ARROW_SLICE_BYTES // max(1, batch.nbytes))
        for start in range(0, batch.num_rows, step):
            yield batch.slice(start, step)


def _write(
    store: DatasetStore,
    dataset_id: str,
    seq: int,
    schema: pa.Schema,
    batches: Iterator[pa.RecordBatch],
    size: int,
    sha256: str,
) -> ChunkResult:
    try:
        part = store.write_part(dataset_id, seq, schema, batches, sha256=sha256, raw_bytes=size)
    except pa.ArrowNotImplementedError as exc:
        raise DataError(
            f"chunk {seq} has a column type the dataset store cannot keep "
            f"({_reason(exc)}); cast such columns to numbers, strings, booleans or "
            "timestamps before sending"
        ) from None
    return ChunkResult(
        seq=seq, rows=part.rows, bytes=size, columns=tuple(schema.names), sha256=sha256
    )


def _is_blank(spool: str, size: int) -> bool:
    if size > 64:
        return False
    with open(spool, "rb") as f:
        return not f.read().strip()


def _end_last_line(spool: str) -> None:
    """Arrow's reader wants the last line ended, even a lone header's."""
    with open(spool, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) not in (b"\n", b"\r"):
            f.write(b"\r\n")


def _check_unique(names: list[str], seq: int) -> None:
    doubled = sorted(name for name, count in Counter(names).items() if count > 1)
    if doubled:
        raise DataError(
            f"chunk {seq} names column(s) {', '.join(map(repr, doubled))} more than once; "
            "give every column its own name",
            detail={"columns": doubled},
        )


def _csv_error(seq: int, exc: Exception) -> Exception:
    reason = _reason(exc)
    if "straddle" in reason:
        return _RowTooLong(reason)
    return DataError(f"chunk {seq} is not valid CSV: {reason}; {_CSV_HINT}", detail={"seq": seq})


def _arrow_error(seq: int, exc: Exception) -> DataError:
    return DataError(
        f"chunk {seq} is not a valid Arrow IPC stream: {_reason(exc)}; {_ARROW_HINT}",
        detail={"seq": seq},
    )


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split()).removeprefix("CSV parse error: ")
    if text.startswith("Row #"):
        text = text.replace(":", " (row 1 is the header):", 1)
    if len(text) > _REASON_CHARS:
        text = text[: _REASON_CHARS - 3] + "..."
    return text


def _mib(n: int) -> str:
    value = n / MiB
    return f"{value:,.0f}" if value >= 10 else f"{value:.3g}"
