"""The dataset store: uploaded chunks kept as Parquet parts, read back as one Arrow table.

A dataset is uploaded as numbered chunks and then completed; only a completed dataset can
be read, so a worker never trains on half an upload. Layout under the store's root (a
folder, ``memory://`` in tests, or any fsspec URL such as ``gs://bucket/kepler``)::

    <root>/<dataset_id>/dataset.json                 state: format, source, and once
                                                     completed the manifest and schema
    <root>/<dataset_id>/parts/part-000000.parquet    chunk 0, and so on
    <root>/<dataset_id>/parts/.tmp-...               a part being written (never read)

Each part is written under a temporary name and renamed into place only once complete,
so a chunk cut off halfway never becomes a part and re-sending a chunk replaces it
whole. The SHA-256 and size of the bytes the client sent travel inside the part's
Parquet footer (``kepler.sha256``, ``kepler.raw_bytes``), committed by the same rename.

Several bridge threads write parts of one dataset at once; workers on other machines read
completed datasets. Writes after completion are refused: ``write_part`` checks the state
again just before its rename. A re-send whose rename lands while ``complete()`` runs
(the manifest would name the sha of the part it replaced) is closed two ways: on a local
store (the default, and a shared volume) the check-and-rename and the whole of
``complete()`` hold the dataset's lock file (``flock``); on every store ``complete()``
reads the parts' footers again after sealing and rewrites the manifest if a part changed
meanwhile, so the manifest always names the parts that are there.

A writer that dies leaves its temporary file: each is named after its owner
(``.tmp-<what>~<host>~<pid>~<uuid>``), and :meth:`DatasetStore.sweep` (run when a bridge
starts) removes those whose process is gone on this host, and any older than a day.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from kepler.core.errors import (
    Conflict,
    DataError,
    DatasetIncomplete,
    DatasetNotFound,
    InvalidSpec,
)

__all__ = [
    "FORMATS",
    "MAX_SEQ",
    "SOURCE_KEYS",
    "DatasetInfo",
    "DatasetStore",
    "Manifest",
    "PartInfo",
    "check_seq",
]

FORMATS = ("csv", "arrow")
SOURCE_KEYS = ("search", "earliest", "latest", "sid")
MAX_SEQ = 999_999  # part names carry six digits

_STATE = "dataset.json"
_PART_RE = re.compile(r"^part-(\d{6})\.parquet$")
_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_LOCK = ".lock"
_TMP_RE = re.compile(r"^\.tmp-.*~(?P<host>[^~/]+)~(?P<pid>\d+)~[0-9a-f]{32}$")
# A temporary file of another host, or without an owner, is removed only past this age.
_TMP_MAX_AGE_S = 24 * 3600.0
_META_SHA = b"kepler.sha256"
_META_BYTES = b"kepler.raw_bytes"
_META_SEQ = b"kepler.seq"
_FOOTER_READERS = 8
_FRAME_BATCH_ROWS = 65_536
# Small enough to keep a chunk's conversion in little memory, large enough for Parquet to
# compress and read well.
_ROW_GROUP_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class PartInfo:
    """One committed chunk: its rows and the size and SHA-256 of the bytes uploaded."""

    seq: int
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset was created as, and whether its upload was completed."""

    dataset_id: str
    format: str
    source: dict[str, Any] | None
    created_at: str
    completed: bool


@dataclass(frozen=True)
class Manifest:
    """A completed dataset: its shape, schema and fingerprint.

    ``content_hash`` is the SHA-256 over the per-chunk SHA-256s in chunk order: the same
    upload gives the same hash; the same rows chunked differently give another.
    ``bytes`` counts what the client sent, ``stored_bytes`` what the Parquet parts take.
    """

    dataset_id: str
    format: str
    chunks: int
    rows: int
    columns: tuple[str, ...]
    schema: dict[str, str]
    bytes: int
    stored_bytes: int
    content_hash: str
    parts: tuple[PartInfo, ...] = ()
    source: dict[str, Any] | None = None
    created_at: str = ""
    completed_at: str = ""

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["columns"] = list(self.columns)
        body["parts"] = [asdict(p) for p in self.parts]
        return body

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Manifest:
        data = dict(body)
        data["columns"] = tuple(data.get("columns", ()))
        data["parts"] = tuple(PartInfo(**p) for p in data.get("parts", ()))
        return cls(**data)


def check_seq(seq: int) -> int:
    """A chunk number as the store accepts it: 0, 1, 2, ... up to :data:`MAX_SEQ`."""
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        raise DataError(
            f"chunk number {seq!r} is out of range: chunks are numbered 0, 1, 2, ... "
            f"up to {MAX_SEQ}",
            detail={"seq": str(seq)},
        )
    return seq


class DatasetStore:
    """Datasets under one fsspec URL; safe to share between threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, self.root = fsspec.core.url_to_fs(url)
        self.root = self.root.rstrip("/")
        self._local = "file" in _protocols(self.fs)
        if self._local:
            self.fs.makedirs(self.root, exist_ok=True)

    def __repr__(self) -> str:
        return f"DatasetStore({self.url!r})"

    # -- writing -----------------------------------------------------------------------

    def create(self, fmt: str, source: dict[str, Any] | None = None) -> str:
        """Start a dataset whose chunks come as ``fmt`` ("csv" or "arrow"); returns its id."""
        if fmt not in FORMATS:
            raise DataError(
                f"unknown dataset format {fmt!r}; use one of: {', '.join(FORMATS)}",
                detail={"format": str(fmt), "allowed": list(FORMATS)},
            )
        dataset_id = uuid.uuid4().hex
        state = {
            "dataset_id": dataset_id,
            "format": fmt,
            "source": _check_source(source),
            "created_at": _now(),
            "completed": False,
        }
        self._write_state(dataset_id, state)
        return dataset_id

    def write_part(
        self,
        dataset_id: str,
        seq: int,
        schema: pa.Schema,
        batches: Iterable[pa.RecordBatch],
        *,
        sha256: str,
        raw_bytes: int,
    ) -> PartInfo:
        """Write chunk ``seq`` as a Parquet part, replacing any earlier copy of it.

        ``sha256`` and ``raw_bytes`` describe the bytes the client sent. The part is
        renamed into place only after the last batch is written: if ``batches`` raises,
        nothing is committed and the exception propagates.
        """
        check_seq(seq)
        self._writable_state(dataset_id)
        metadata = {
            _META_SHA: sha256.encode(),
            _META_BYTES: str(raw_bytes).encode(),
            _META_SEQ: str(seq).encode(),
        }
        parts = self._parts_dir(dataset_id)
        tmp = f"{parts}/{_tmp_name(_part_name(seq))}"
        final = f"{parts}/{_part_name(seq)}"
        if self._local:
            self.fs.makedirs(parts, exist_ok=True)
        rows = 0
        try:
            with self.fs.open(tmp, "wb") as f:
                writer = pq.ParquetWriter(f, schema.with_metadata(metadata), **_encoding(schema))
                try:
                    for group in _row_groups(batches):
                        writer.write_table(group)
                        rows += group.num_rows
                finally:
                    writer.close()
            with self._locked(dataset_id):
                self._writable_state(dataset_id)
                self.fs.mv(tmp, final)
        except BaseException:
            self._remove_quietly(tmp)
            raise
        return PartInfo(seq=seq, rows=rows, bytes=raw_bytes, sha256=sha256)

    def complete(
        self,
        dataset_id: str,
        expected_chunks: int | None = None,
        expected_rows: int | None = None,
    ) -> Manifest:
        """Check that chunks 0..n-1 all arrived with the rows declared, and seal the dataset.

        Completing again with the same (or no) expectations returns the same manifest.
        """
        with self._locked(dataset_id):
            manifest = self._complete(dataset_id, expected_chunks, expected_rows)
            if self._local:  # the lock kept every rename out while sealing
                return manifest
            # No lock on an object store: a re-send whose rename raced the seal is found
            # by reading the footers again, and the manifest rewritten to name it.
            if self._footers(dataset_id, manifest.chunks) != [p.sha256 for p in manifest.parts]:
                manifest = self._complete(dataset_id, expected_chunks, expected_rows, again=True)
            return manifest

    def _footers(self, dataset_id: str, n: int) -> list[str | None]:
        found = self._list_parts(dataset_id)
        paths = [found[seq][0] if seq in found else None for seq in range(n)]

        def sha(seq: int) -> str | None:
            path = paths[seq]
            return None if path is None else self._read_footer(seq, path)[0].sha256

        with ThreadPoolExecutor(max_workers=_FOOTER_READERS) as pool:
            return list(pool.map(sha, range(n)))

    def _complete(
        self,
        dataset_id: str,
        expected_chunks: int | None,
        expected_rows: int | None,
        *,
        again: bool = False,
    ) -> Manifest:
        state = self._read_state(dataset_id)
        if again:
            state["completed"] = False
        for name, value in (("expected_chunks", expected_chunks), ("expected_rows", expected_rows)):
            if value is not None and (isinstance(value, bool) or value < 0):
                raise DataError(f"{name} must be a count of 0 or more, not {value!r}")
        if state.get("completed"):
            done = Manifest.from_dict(state["manifest"])
            if expected_chunks not in (None, done.chunks) or expected_rows not in (
                None,
                done.rows,
            ):
                raise Conflict(
                    f"dataset {dataset_id} was already completed with {done.chunks} chunks "
                    f"and {done.rows} rows; upload a new dataset to change its data",
                    detail={"chunks": done.chunks, "rows": done.rows},
                )
            return done

        found = self._list_parts(dataset_id)
        n = expected_chunks if expected_chunks is not None else max(found, default=-1) + 1
        missing = [seq for seq in range(n) if seq not in found]
        if missing:
            raise DatasetIncomplete(
                f"dataset {dataset_id} is missing chunk(s) {_ranges(missing)} of {n} "
                f"(chunks received: {_ranges(sorted(found)) or 'none'}); the upload must be "
                "re-sent: send the missing chunks again, then complete it",
                detail={"missing_chunks": missing, "expected_chunks": n},
            )
        extra = sorted(seq for seq in found if seq >= n)
        if extra:
            raise Conflict(
                f"dataset {dataset_id} holds chunk(s) {_ranges(extra)} beyond the {n} declared; "
                "complete it with the right number of chunks, or delete it and upload again",
                detail={"extra_chunks": extra, "expected_chunks": n},
            )

        paths = [found[seq][0] for seq in range(n)]
        with ThreadPoolExecutor(max_workers=_FOOTER_READERS) as pool:
            footers = list(pool.map(self._read_footer, range(n), paths))
        rows = sum(part.rows for part, _ in footers)
        if expected_rows is not None and rows != expected_rows:
            raise DatasetIncomplete(
                f"dataset {dataset_id} holds {rows} rows in its {n} chunks but the upload "
                f"declared {expected_rows}; the upload must be re-sent (delete the dataset "
                "and upload it again)",
                detail={
                    "rows": rows,
                    "expected_rows": expected_rows,
                    "chunk_rows": [p.rows for p, _ in footers],
                },
            )
        schema = _unify([s for _, s in footers])
        parts = tuple(part for part, _ in footers)
        content = hashlib.sha256("".join(f"{p.sha256}\n" for p in parts).encode()).hexdigest()
        manifest = Manifest(
            dataset_id=dataset_id,
            format=state["format"],
            chunks=n,
            rows=rows,
            columns=tuple(schema.names),
            schema={f.name: str(f.type) for f in schema},
            bytes=sum(p.bytes for p in parts),
            stored_bytes=sum(found[seq][1] for seq in range(n)),
            content_hash=content,
            parts=parts,
            source=state.get("source"),
            created_at=state.get("created_at", ""),
            completed_at=_now(),
        )
        state.update(
            completed=True,
            manifest=manifest.to_dict(),
            arrow_schema=base64.b64encode(schema.serialize().to_pybytes()).decode(),
        )
        self._write_state(dataset_id, state)
        return manifest

    def delete(self, dataset_id: str) -> None:
        """Remove a dataset, its parts and any half-written chunks."""
        self._read_state(dataset_id)
        self.fs.rm(self._dir(dataset_id), recursive=True)

    # -- reading -----------------------------------------------------------------------

    def info(self, dataset_id: str) -> DatasetInfo:
        state = self._read_state(dataset_id)
        return DatasetInfo(
            dataset_id=dataset_id,
            format=state["format"],
            source=state.get("source"),
            created_at=state.get("created_at", ""),
            completed=bool(state.get("completed")),
        )

    def received_chunks(self, dataset_id: str) -> list[int]:
        """The chunk numbers committed so far, in order."""
        self._read_state(dataset_id)
        return sorted(self._list_parts(dataset_id))

    def size_bytes(self, dataset_id: str, *, excluding_seq: int | None = None) -> int:
        """Bytes the committed parts take in the store (Parquet, compressed).

        ``excluding_seq`` leaves out a chunk about to be replaced by a re-send.
        """
        self._read_state(dataset_id)
        return sum(
            size for seq, (_, size) in self._list_parts(dataset_id).items() if seq != excluding_seq
        )

    def manifest(self, dataset_id: str) -> Manifest:
        return self._complete_state(dataset_id)[0]

    def schema(self, dataset_id: str) -> pa.Schema:
        """The unified Arrow schema of a completed dataset."""
        return self._complete_state(dataset_id)[1]

    def read_table(self, dataset_id: str, columns: Sequence[str] | None = None) -> pa.Table:
        """The whole completed dataset as one table; columns a chunk lacked are null."""
        manifest, schema = self._complete_state(dataset_id)
        target = _select(schema, columns)
        tables = []
        for seq in range(manifest.chunks):
            with self._open_part(self._part_path(dataset_id, seq)) as part:
                present = [name for name in target.names if name in part.schema_arrow.names]
                tables.append(_conform(part.read(columns=present), target))
        if not tables:
            return target.empty_table()
        return pa.concat_tables(tables)

    def read_frame(self, dataset_id: str, columns: Sequence[str] | None = None) -> Any:
        """The completed dataset as a pandas DataFrame: what ``read_table(...).to_pandas(
        split_blocks=True)`` gives, for a worker to train on.

        float64 columns, the bulk of numeric data, are streamed part by part straight
        into their final arrays, so no Arrow copy of the whole dataset is ever built:
        half the memory, and on a worker's first large job half the fresh pages to fault
        in (reading 1M rows by 20 floats takes about a third of the time). Other columns
        go through Arrow's own conversion.
        """
        import numpy as np
        import pandas as pd

        manifest, schema = self._complete_state(dataset_id)
        target = _select(schema, columns)
        floats = [f.name for f in target if pa.types.is_float64(f.type)]
        others = [name for name in target.names if name not in set(floats)]
        converted: dict[str, Any] = {}
        if others or not floats:
            table = self.read_table(dataset_id, others)
            frame = table.to_pandas(split_blocks=True, self_destruct=True)
            del table
            if not floats:
                return frame
            converted.update((name, frame[name]) for name in others)
        filled = {name: np.empty(manifest.rows, dtype=np.float64) for name in floats}
        at = 0
        for batch in self.iter_batches(dataset_id, floats, batch_size=_FRAME_BATCH_ROWS):
            end = at + batch.num_rows
            for name, column in zip(floats, batch.columns, strict=True):
                filled[name][at:end] = column.to_numpy(zero_copy_only=False)  # null: NaN
            at = end
        if at != manifest.rows:
            raise DataError(
                f"dataset {dataset_id} holds {at} rows where its manifest says "
                f"{manifest.rows}; upload it again",
                detail={"dataset_id": dataset_id},
            )
        index = pd.RangeIndex(manifest.rows)
        converted.update(
            (name, pd.Series(values, index=index, copy=False)) for name, values in filled.items()
        )
        return pd.DataFrame(
            {name: converted[name] for name in target.names}, index=index, copy=False
        )

    def iter_batches(
        self,
        dataset_id: str,
        columns: Sequence[str] | None = None,
        *,
        batch_size: int = 65_536,
    ) -> Iterator[pa.RecordBatch]:
        """Stream a completed dataset batch by batch, every batch in the unified schema."""
        manifest, schema = self._complete_state(dataset_id)
        target = _select(schema, columns)
        for seq in range(manifest.chunks):
            with self._open_part(self._part_path(dataset_id, seq)) as part:
                present = [name for name in target.names if name in part.schema_arrow.names]
                if not present:
                    yield from _null_batches(target, part.metadata.num_rows, batch_size)
                    continue
                for batch in part.iter_batches(batch_size=batch_size, columns=present):
                    yield _conform(batch, target)

    # -- internals ---------------------------------------------------------------------

    @contextlib.contextmanager
    def _open_part(self, path: str) -> Iterator[pq.ParquetFile]:
        """A part opened for reading: memory-mapped in a local store (Arrow decodes
        straight from the page cache, with no copy through Python's file objects), else
        through fsspec with its column chunks fetched in a few large, concurrent reads."""
        if self._local:
            part = pq.ParquetFile(path, memory_map=True)
            try:
                yield part
            finally:
                part.close()
            return
        with self.fs.open(path, "rb") as f:
            yield pq.ParquetFile(f, pre_buffer=True)

    def _dir(self, dataset_id: str) -> str:
        if not isinstance(dataset_id, str) or not _ID_RE.match(dataset_id):
            raise DatasetNotFound(
                f"there is no dataset {dataset_id!r}", detail={"dataset_id": str(dataset_id)}
            )
        return f"{self.root}/{dataset_id}"

    def _parts_dir(self, dataset_id: str) -> str:
        return f"{self._dir(dataset_id)}/parts"

    def _part_path(self, dataset_id: str, seq: int) -> str:
        return f"{self._parts_dir(dataset_id)}/{_part_name(seq)}"

    def _read_state(self, dataset_id: str) -> dict[str, Any]:
        path = f"{self._dir(dataset_id)}/{_STATE}"
        try:
            raw = self.fs.cat_file(path)
        except FileNotFoundError:
            raise DatasetNotFound(
                f"there is no dataset {dataset_id}", detail={"dataset_id": dataset_id}
            ) from None
        state: dict[str, Any] = json.loads(raw)
        return state

    def _write_state(self, dataset_id: str, state: dict[str, Any]) -> None:
        directory = self._dir(dataset_id)
        if self._local:
            self.fs.makedirs(directory, exist_ok=True)
        tmp = f"{directory}/{_tmp_name(_STATE)}"
        try:
            self.fs.pipe_file(tmp, json.dumps(state, indent=1, sort_keys=True).encode())
            self.fs.mv(tmp, f"{directory}/{_STATE}")
        except BaseException:
            self._remove_quietly(tmp)
            raise

    def _writable_state(self, dataset_id: str) -> dict[str, Any]:
        state = self._read_state(dataset_id)
        if state.get("completed"):
            raise Conflict(
                f"dataset {dataset_id} is already completed and takes no more chunks; "
                "upload a new dataset to change its data",
                detail={"dataset_id": dataset_id},
            )
        return state

    def _complete_state(self, dataset_id: str) -> tuple[Manifest, pa.Schema]:
        state = self._read_state(dataset_id)
        if not state.get("completed"):
            received = _ranges(sorted(self._list_parts(dataset_id))) or "none"
            raise DatasetIncomplete(
                f"dataset {dataset_id} was never completed (chunks received: {received}); "
                "a half-uploaded dataset is never trained on",
                detail={"dataset_id": dataset_id},
            )
        schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(state["arrow_schema"])))
        return Manifest.from_dict(state["manifest"]), schema

    def _list_parts(self, dataset_id: str) -> dict[int, tuple[str, int]]:
        """Committed parts as ``{seq: (path, size)}``; temporary files are left out."""
        parts = self._parts_dir(dataset_id)
        self.fs.invalidate_cache(parts)
        try:
            entries = self.fs.ls(parts, detail=True)
        except FileNotFoundError:
            return {}
        found: dict[int, tuple[str, int]] = {}
        for entry in entries:
            match = _PART_RE.match(entry["name"].rstrip("/").rsplit("/", 1)[-1])
            if match and entry.get("type") != "directory":
                found[int(match.group(1))] = (f"{parts}/{match.group(0)}", int(entry["size"]))
        return found

    def _read_footer(self, seq: int, path: str) -> tuple[PartInfo, pa.Schema]:
        with self._open_part(path) as part:
            meta = part.metadata.metadata or {}
            schema = part.schema_arrow
            rows = part.metadata.num_rows
        if _META_SHA not in meta or _META_BYTES not in meta:
            raise DataError(
                f"chunk {seq} was not written by Kepler's ingest (its Parquet footer lacks "
                f"{_META_SHA.decode()}); re-send chunk {seq}",
                detail={"seq": seq},
            )
        info = PartInfo(
            seq=seq,
            rows=rows,
            bytes=int(meta[_META_BYTES]),
            sha256=meta[_META_SHA].decode(),
        )
        return info, schema.remove_metadata()

    @contextlib.contextmanager
    def _locked(self, dataset_id: str) -> Iterator[None]:
        """The dataset's lock on a local store (``flock`` on ``<dataset>/.lock``, shared by
        every process on the volume); elsewhere nothing (``complete`` verifies instead)."""
        if not self._local:
            yield
            return
        import fcntl

        directory = self._dir(dataset_id)
        path = self.fs._strip_protocol(f"{directory}/{_LOCK}")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            self._read_state(dataset_id)  # DatasetNotFound, naming the dataset
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def sweep(self, *, max_age_s: float = _TMP_MAX_AGE_S) -> list[str]:
        """Remove temporary files a dead writer left: those of a process that no longer
        runs on this host, and any older than ``max_age_s``. Returns what was removed."""
        removed: list[str] = []
        now = time.time()
        patterns = [f"{self.root}/*/.tmp-*", f"{self.root}/*/parts/.tmp-*"]
        for pattern in patterns:
            try:
                found = self.fs.glob(pattern, detail=True)
            except FileNotFoundError:
                continue
            for path, entry in found.items():
                name = path.rstrip("/").rsplit("/", 1)[-1]
                owner = _TMP_RE.match(name)
                dead = owner is not None and process_gone(
                    owner.group("host"), int(owner.group("pid"))
                )
                age = now - _mtime(entry, default=now)
                if dead or age > max_age_s:
                    self._remove_quietly(path)
                    removed.append(path)
        return removed

    def _remove_quietly(self, path: str) -> None:
        with contextlib.suppress(OSError):
            self.fs.rm(path)


def owner_tag() -> str:
    """``<host>~<pid>~<uuid>``: who writes a temporary file or folder, for the sweeps."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "host"
    return f"{host}~{os.getpid()}~{uuid.uuid4().hex}"


def _tmp_name(what: str) -> str:
    """A temporary file's name, naming its owner (host and process) for :meth:`sweep`."""
    return f".tmp-{what}~{owner_tag()}"


def process_gone(host: str, pid: int) -> bool:
    """Whether the process ``pid`` of ``host`` has ended (only this host's can be known)."""
    here = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "host"
    if host != here or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's live process
        return False
    return False


def _mtime(entry: dict[str, Any], *, default: float) -> float:
    for key in ("mtime", "created", "updated", "LastModified"):
        value = entry.get(key)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return default


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


def complete_upload(
    store: DatasetStore, dataset_id: str, chunks: int | None, rows: int | None = None
) -> Manifest:
    """Seal an upload (``POST /v1/datasets/{id}/complete``): the client must say how many
    chunks it sent, else a chunk still in flight, or lost, would be silently left out."""
    if chunks is None:
        raise InvalidSpec(
            f"completing dataset {dataset_id} needs the number of chunks sent: post "
            '{"chunks": <n>} (and "rows": <n> to check the row count), so a missing or '
            "late chunk is found instead of sealing part of the data",
            detail={"dataset_id": dataset_id},
        )
    return store.complete(dataset_id, chunks, rows)


def _encoding(schema: pa.Schema) -> dict[str, Any]:
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


def _part_name(seq: int) -> str:
    return f"part-{seq:06d}.parquet"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_source(source: dict[str, Any] | None) -> dict[str, Any] | None:
    if source is None:
        return None
    if not isinstance(source, dict):
        raise DataError("a dataset's source must be an object with keys " + ", ".join(SOURCE_KEYS))
    unknown = sorted(str(k) for k in source if k not in SOURCE_KEYS)
    if unknown:
        raise DataError(
            f"unknown key(s) in a dataset's source: {', '.join(unknown)}; "
            f"the allowed keys are: {', '.join(SOURCE_KEYS)}",
            detail={"allowed": list(SOURCE_KEYS)},
        )
    for key, value in source.items():
        if isinstance(value, bool) or not isinstance(value, str | int | float | None):
            raise DataError(f"the dataset source's {key!r} must be a string or a number")
    return dict(source)


def _ranges(seqs: Sequence[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``"0-2, 5, 7-8"``."""
    spans: list[str] = []
    start = prev = None
    for seq in seqs:
        if prev is not None and seq == prev + 1:
            prev = seq
            continue
        if start is not None:
            spans.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = seq
    if start is not None:
        spans.append(str(start) if start == prev else f"{start}-{prev}")
    return ", ".join(spans)


def _unify(schemas: Sequence[pa.Schema]) -> pa.Schema:
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
                merged = _promote(known, fld.type)
                if merged is None:
                    raise DataError(
                        f"column {fld.name!r} is {known} in chunk {first_seen[fld.name]} but "
                        f"{fld.type} in chunk {seq}; send it with one type in every chunk",
                        detail={"column": fld.name},
                    )
                fields[fld.name] = merged
    return pa.schema([pa.field(name, typ, nullable=True) for name, typ in fields.items()])


def _promote(a: pa.DataType, b: pa.DataType) -> pa.DataType | None:
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
        return _promote(_values(a), _values(b))
    return None


def _values(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def _row_groups(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.Table]:
    """Batches gathered into row groups of about :data:`_ROW_GROUP_BYTES` each."""
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in batches:
        pending.append(batch)
        size += batch.nbytes
        if size >= _ROW_GROUP_BYTES:
            yield pa.Table.from_batches(pending)
            pending, size = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def _select(schema: pa.Schema, columns: Sequence[str] | None) -> pa.Schema:
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


def _conform(data: Any, target: pa.Schema) -> Any:
    """A table or batch with ``target``'s columns in order: missing ones null, types promoted."""
    for fld in target:
        if fld.name not in data.column_names:
            data = data.append_column(fld.name, pa.nulls(data.num_rows, fld.type))
    return data.select(target.names).cast(target)


def _null_batches(target: pa.Schema, rows: int, batch_size: int) -> Iterator[pa.RecordBatch]:
    """Batches for a chunk that has none of the columns asked for."""
    if not target.names:
        return
    for start in range(0, rows, batch_size):
        size = min(batch_size, rows - start)
        yield pa.RecordBatch.from_arrays([pa.nulls(size, f.type) for f in target], schema=target)
