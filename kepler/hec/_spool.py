"""The bounded disk queue: batches HEC could not take, kept across restarts of the process.

One file per batch (``<serial>-<events>.hec``: gzip of the events' JSON, one per line),
written to a temporary name and renamed, so a crash leaves whole batches or none. Each
process holds an exclusive lock on one ``slot-<n>`` folder, so a bridge and its workers can
share a home; a restarted process takes the first free slot and drains what is there.
"""

from __future__ import annotations

import contextlib
import gzip
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
    """First in, first out; ``put`` refuses (returns None) rather than pass ``max_bytes``."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.dir, self._lock = _take_slot(root)
        self._mutex = threading.Lock()  # the sender's thread writes while others read sizes
        self._files: dict[Path, tuple[int, int]] = {}  # path -> (bytes, events)
        for path in sorted(self.dir.glob(f"*{SUFFIX}")):
            try:
                self._files[path] = (path.stat().st_size, int(path.stem.split("-")[1]))
            except (OSError, IndexError, ValueError):
                continue
        for stale in self.dir.glob("*.tmp"):
            stale.unlink(missing_ok=True)
        self._serial = max((int(p.stem.split("-")[0]) for p in self._files), default=0)

    @property
    def size(self) -> int:
        with self._mutex:
            return sum(size for size, _ in self._files.values())

    @property
    def events(self) -> int:
        with self._mutex:
            return sum(count for _, count in self._files.values())

    def __len__(self) -> int:
        return len(self._files)

    def put(self, events: list[bytes]) -> Path | None:
        """Write one batch; None when it would pass the bound (nothing is written)."""
        data = gzip.compress(b"\n".join(events), compresslevel=1)
        if self.size + len(data) > self.max_bytes:
            return None
        with self._mutex:
            self._serial += 1
            path = self.dir / f"{self._serial:016d}-{len(events)}{SUFFIX}"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        with self._mutex:
            self._files[path] = (len(data), len(events))
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
            self._files.pop(path, None)
        path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                self._lock.close()
            self._lock = None


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
