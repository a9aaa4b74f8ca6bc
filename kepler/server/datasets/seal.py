"""Sealing an upload: check that every chunk arrived, then write the manifest that names
them, after which the dataset takes no more chunks. How a re-send racing the seal is kept
out (the dataset lock on folders, footers read again elsewhere) is in the package's
docstring (kepler.server.datasets).
"""

from __future__ import annotations

import base64
import hashlib
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

from kepler.core.errors import Conflict, DataError, DatasetIncomplete, InvalidSpec
from kepler.server.datasets.read import open_part
from kepler.server.datasets.schema import unify
from kepler.server.datasets.store import (
    META_BYTES,
    META_SHA,
    Manifest,
    PartInfo,
    Store,
    ranges,
    utc_now,
)

_FOOTER_READERS = 8


class Sealing(Store):
    """What completes an upload into a dataset that can be read."""

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
                f"dataset {dataset_id} is missing chunk(s) {ranges(missing)} of {n} "
                f"(chunks received: {ranges(sorted(found)) or 'none'}); the upload must be "
                "re-sent: send the missing chunks again, then complete it",
                detail={"missing_chunks": missing, "expected_chunks": n},
            )
        extra = sorted(seq for seq in found if seq >= n)
        if extra:
            raise Conflict(
                f"dataset {dataset_id} holds chunk(s) {ranges(extra)} beyond the {n} declared; "
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
        schema = unify([s for _, s in footers])
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
            completed_at=utc_now(),
        )
        state.update(
            completed=True,
            manifest=manifest.to_dict(),
            arrow_schema=base64.b64encode(schema.serialize().to_pybytes()).decode(),
        )
        self._write_state(dataset_id, state)
        return manifest

    def _read_footer(self, seq: int, path: str) -> tuple[PartInfo, pa.Schema]:
        with open_part(self, path) as part:
            meta = part.metadata.metadata or {}
            schema = part.schema_arrow
            rows = part.metadata.num_rows
        if META_SHA not in meta or META_BYTES not in meta:
            raise DataError(
                f"chunk {seq} was not written by Kepler's ingest (its Parquet footer lacks "
                f"{META_SHA.decode()}); re-send chunk {seq}",
                detail={"seq": seq},
            )
        info = PartInfo(
            seq=seq,
            rows=rows,
            bytes=int(meta[META_BYTES]),
            sha256=meta[META_SHA].decode(),
        )
        return info, schema.remove_metadata()


def complete_upload(
    store: Sealing, dataset_id: str, chunks: int | None, rows: int | None = None
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
