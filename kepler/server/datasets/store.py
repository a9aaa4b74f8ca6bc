"""Where a dataset's pieces live, and writing them: the layout, each part committed by
one rename, the dataset's lock, and the sweep of what dead writers left behind.

Layout under the store's root (a folder, ``memory://`` in tests, or any fsspec URL)::

    <root>/<dataset_id>/dataset.json                 state: format, source, and once
                                                     completed the manifest and schema
    <root>/<dataset_id>/parts/part-000000.parquet    chunk 0, and so on
    <root>/<dataset_id>/parts/.tmp-...               a part being written (never read)
    <root>/<dataset_id>/.lock                        the dataset's lock (local stores)

Temporary files are named after their owner (``.tmp-<what>~<host>~<pid>~<uuid>``) so that
:meth:`Store.sweep` can tell a dead writer's leftovers from a live one's.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from kepler.core.errors import Conflict, DataError, DatasetNotFound
from kepler.server.datasets.schema import encoding, row_groups

FORMATS = ("csv", "arrow")
SOURCE_KEYS = ("search", "earliest", "latest", "sid")
MAX_SEQ = 999_999  # part names carry six digits

_STATE = "dataset.json"
_PART_RE = re.compile(r"^part-(\d{6})\.parquet$")
_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_LOCK = ".lock"
_NAMES_LOCK = ".names.lock"
# A dataset's name: readable, never mistaken for an id (32 hex digits) or a path.
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
_TMP_RE = re.compile(r"^\.tmp-.*~(?P<host>[^~/]+)~(?P<pid>\d+)~[0-9a-f]{32}$")
# A temporary file of another host, or without an owner, is removed only past this age.
_TMP_MAX_AGE_S = 24 * 3600.0
# What the client sent, carried in each part's Parquet footer and committed with it.
META_SHA = b"kepler.sha256"
META_BYTES = b"kepler.raw_bytes"
META_SEQ = b"kepler.seq"


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
    name: str | None = None


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


def check_name(name: str) -> str:
    """A dataset name as the store accepts it: ``sensors-2026-w48``."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or _ID_RE.match(name):
        raise DataError(
            f"dataset name {name!r} is not allowed: start with a letter, then letters, "
            "digits, '_', '.' or '-', at most 100 characters",
            detail={"name": str(name)},
        )
    return name


class Store:
    """The dataset store's writing side and layout: :class:`DatasetStore` adds sealing
    and reading."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.fs, self.root = fsspec.core.url_to_fs(url)
        self.root = self.root.rstrip("/")
        self._local = "file" in _protocols(self.fs)
        if self._local:
            self.fs.makedirs(self.root, exist_ok=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def create(
        self, fmt: str, source: dict[str, Any] | None = None, *, name: str | None = None
    ) -> str:
        """Start a dataset whose chunks come as ``fmt`` ("csv" or "arrow"); returns its id.
        ``name`` must be unused (:class:`Conflict` otherwise); it then reads as the id."""
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
            "created_at": utc_now(),
            "completed": False,
        }
        if name is None:
            self._write_state(dataset_id, state)
            return dataset_id
        state["name"] = check_name(name)
        # One namer at a time on a shared volume; the scan then sees every other name.
        with self._names_locked():
            taken = self.find_name(name)
            if taken is not None:
                raise Conflict(
                    f"a dataset is already named {name!r} ({taken}); choose another name, "
                    "or read that one with kp.dataset(name)",
                    detail={"name": name, "dataset_id": taken},
                )
            self._write_state(dataset_id, state)
        return dataset_id

    def ids(self) -> list[str]:
        """Every dataset in the store, complete or not."""
        self.fs.invalidate_cache(self.root)
        try:
            entries = self.fs.ls(self.root, detail=False)
        except FileNotFoundError:
            return []
        names = (str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries)
        return sorted(n for n in names if _ID_RE.match(n))

    def states(self) -> list[dict[str, Any]]:
        """The state of every dataset (one removed meanwhile is left out)."""
        out = []
        for dataset_id in self.ids():
            with contextlib.suppress(DatasetNotFound):
                out.append(self._read_state(dataset_id))
        return out

    def find_name(self, name: str) -> str | None:
        """The id of the dataset named ``name``, or None."""
        for state in self.states():
            if state.get("name") == name:
                return str(state["dataset_id"])
        return None

    def resolve(self, ref: str) -> str:
        """A dataset's id from its id or its name; :class:`DatasetNotFound` otherwise."""
        if isinstance(ref, str) and _ID_RE.match(ref):
            return ref
        if isinstance(ref, str) and _NAME_RE.match(ref):
            found = self.find_name(ref)
            if found is not None:
                return found
        raise DatasetNotFound(
            f"there is no dataset {ref!r} (by id or by name); list them with kp.datasets()",
            detail={"dataset_id": str(ref)},
        )

    @contextlib.contextmanager
    def _names_locked(self) -> Iterator[None]:
        if not self._local:
            yield
            return
        import fcntl

        path = self.fs._strip_protocol(f"{self.root}/{_NAMES_LOCK}")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

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
            META_SHA: sha256.encode(),
            META_BYTES: str(raw_bytes).encode(),
            META_SEQ: str(seq).encode(),
        }
        parts = self._parts_dir(dataset_id)
        tmp = f"{parts}/{_tmp_name(part_name(seq))}"
        final = f"{parts}/{part_name(seq)}"
        if self._local:
            self.fs.makedirs(parts, exist_ok=True)
        rows = 0
        try:
            with self.fs.open(tmp, "wb") as f:
                writer = pq.ParquetWriter(f, schema.with_metadata(metadata), **encoding(schema))
                try:
                    for group in row_groups(batches):
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

    def delete(self, dataset_id: str) -> None:
        """Remove a dataset, its parts and any half-written chunks."""
        self._read_state(dataset_id)
        self.fs.rm(self._dir(dataset_id), recursive=True)

    def info(self, dataset_id: str) -> DatasetInfo:
        state = self._read_state(dataset_id)
        return DatasetInfo(
            dataset_id=dataset_id,
            format=state["format"],
            source=state.get("source"),
            created_at=state.get("created_at", ""),
            completed=bool(state.get("completed")),
            name=state.get("name"),
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

    def _dir(self, dataset_id: str) -> str:
        if not isinstance(dataset_id, str) or not _ID_RE.match(dataset_id):
            raise DatasetNotFound(
                f"there is no dataset {dataset_id!r}", detail={"dataset_id": str(dataset_id)}
            )
        return f"{self.root}/{dataset_id}"

    def _parts_dir(self, dataset_id: str) -> str:
        return f"{self._dir(dataset_id)}/parts"

    def _part_path(self, dataset_id: str, seq: int) -> str:
        return f"{self._parts_dir(dataset_id)}/{part_name(seq)}"

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


def part_name(seq: int) -> str:
    return f"part-{seq:06d}.parquet"


def utc_now() -> str:
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


def ranges(seqs: Sequence[int]) -> str:
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
