"""Datasets from the SDK: list them, and read one back as a DataFrame, streamed as Arrow
from the bridge (``GET /v1/datasets/{id}/rows``) and decoded batch by batch."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kepler import _frames
from kepler.core import wire

if TYPE_CHECKING:
    from kepler._client import Client


def datasets(client: Client) -> Any:
    """Every dataset, newest first, as a DataFrame: ``id``, ``name``, ``rows``, ``bytes``,
    ``schema_hash``, ``created``, ``source_search``, ``complete``, ``versions``."""
    import pandas as pd

    columns = [
        "id",
        "name",
        "rows",
        "bytes",
        "stored_bytes",
        "schema_hash",
        "created",
        "source_search",
        "complete",
        "versions",
    ]
    rows = client._json("GET", wire.DATASETS)
    return pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)


def read(client: Client, dataset: str) -> Any:
    """Dataset ``dataset`` (an id or a name) as a DataFrame, in the types it was stored in."""
    import pyarrow as pa

    with client._stream("GET", wire.dataset_rows(dataset), headers={"Accept": _frames.ARROW}) as r:
        reader = pa.ipc.open_stream(_Chunks(r.iter_bytes()))
        table = reader.read_all()
    return table.to_pandas()


class _Chunks(io.RawIOBase):
    """A response's byte chunks as the file Arrow's stream reader reads from."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            try:
                self._left = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n
