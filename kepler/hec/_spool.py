"""The disk queue: batches HEC could not take, kept across restarts of the process.

One folder per HEC target (``<host>-<port>-<hash of URL and token>``, with a
``target.json`` naming the URL and a hash of the token, never the token), so a batch is
only ever delivered to the target it was accepted for. In it, one file per batch
(``<serial>-<events>.hec``: gzip of the events' JSON, one per line), written to a
temporary name and renamed, so a crash leaves whole batches or none. Each process holds an
exclusive lock on one ``slot-<n>`` folder, so a bridge and its workers can share a home; a
restarted process takes the first free slot and moves into it the batches of every other
slot no process holds (fewer processes after a restart leave no slot undrained).

The bound (``KEPLER_HEC_QUEUE_MAX_BYTES``) is kept by the sender when it accepts events,
so writing a batch already accepted never fails for lack of room.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import threading
from pathlib import Path
from typing import IO

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one process per queue folder
    fcntl = None  # type: ignore[assignment]

SUFFIX = ".hec"


class DiskQueue:
    """First in, first out; ``size`` is what the sender checks its bound against."""

    def __init__(self, root: Path) -> None:
        self.dir, self._lock = _take_slot(root)
        self._mutex = threading.Lock()  # the sender's thread writes while others read sizes
        _adopt_free_slots(root, self.dir)
        self._files: dict[Path, tuple[int, int]] = {}  # path -> (bytes, events)
        for path in sorted(self.dir.glob(f"*{SUFFIX}")):
            try:
                self._files[path] = (path.stat().st_size, int(path.stem.split("-")[1]))
            except (OSError, IndexError, ValueError):
                continue
        for stale in self.dir.glob("*.tmp"):
            stale.unlink(missing_ok=True)
        self._serial = max((int(p.stem.split("-")[0]) for p in self._files), default=0)
        self._bytes = sum(size for size, _ in self._files.values())

    @property
    def size(self) -> int:
        return self._bytes

    @property
    def events(self) -> int:
        with self._mutex:
            return sum(count for _, count in self._files.values())

    def __len__(self) -> int:
        return len(self._files)

    def put(self, events: list[bytes]) -> Path:
        """Write one batch (OSError when the disk refuses: nothing is written then)."""
        data = gzip.compress(b"\n".join(events), compresslevel=1)
        with self._mutex:
            self._serial += 1
            path = self.dir / f"{self._serial:016d}-{len(events)}{SUFFIX}"
        tmp = path.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        with self._mutex:
            self._files[path] = (len(data), len(events))
            self._bytes += len(data)
        return path

    def oldest(self, exclude: set[Path]) -> Path | None:
        with self._mutex:
            for path in self._files:  # insertion order is serial order
                if path not in exclude:
                    return path
        return None

    def load(self, path: Path) -> list[bytes]:
        return gzip.decompress(path.read_bytes()).split(b"\n")

    def remove(self, path: Path) -> None:
        with self._mutex:
            size, _ = self._files.pop(path, (0, 0))
            self._bytes -= size
        path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self._lock.close()
            self._lock = None


def target_folder(root: Path, name: str, about: dict[str, str]) -> Path:
    """``root/name``, with ``target.json`` (``about``: nothing secret) for whoever looks."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    info = folder / "target.json"
    if not info.exists():
        tmp = folder / f".target.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(about, indent=1) + "\n")
        os.replace(tmp, info)
    return folder


def legacy_batches(root: Path) -> int:
    """Batches an older Kepler left in ``root/slot-*`` without recording their target."""
    return sum(1 for _ in root.glob(f"slot-*/*{SUFFIX}"))


def _adopt_free_slots(root: Path, mine: Path) -> None:
    """Move the batches of slots no live process holds into ``mine`` (under their locks)."""
    if fcntl is None:
        return
    serial = max((_serial(p) for p in mine.glob(f"*{SUFFIX}")), default=0)
    for slot in sorted(root.glob("slot-*")):
        if slot == mine or not slot.is_dir():
            continue
        with contextlib.suppress(OSError), open(slot / ".lock", "ab") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live process holds it and drains it itself
            for path in sorted(slot.glob(f"*{SUFFIX}"), key=_serial):
                serial += 1
                events = path.stem.split("-")[-1]
                os.replace(path, mine / f"{serial:016d}-{events}{SUFFIX}")


def _serial(path: Path) -> int:
    try:
        return int(path.stem.split("-")[0])
    except ValueError:
        return 0


def _take_slot(root: Path) -> tuple[Path, IO[bytes] | None]:
    root.mkdir(parents=True, exist_ok=True)
    for n in range(1024):
        slot = root / f"slot-{n}"
        slot.mkdir(exist_ok=True)
        if fcntl is None:
            return slot, None
        fh = open(slot / ".lock", "ab")  # noqa: SIM115 - held open for the lock's lifetime
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            continue
        return slot, fh
    raise OSError(f"no free HEC queue slot under {root}")
