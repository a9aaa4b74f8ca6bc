"""Datasets: created, filled chunk by chunk as the data streams in, then completed; listed,
read back as Arrow, deleted (admin). A dataset's name reads wherever its id does."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from kepler.core import wire
from kepler.core.refs import ModelRef
from kepler.server.datasets import DatasetStore, complete_upload
from kepler.server.datasets.catalog import delete_dataset as delete_one
from kepler.server.datasets.catalog import get_dataset, list_datasets
from kepler.server.scoring import ScoreOptions, score_dataset_csv
from kepler_bridge.deps import AuthDep, CallerDep, StateDep
from kepler_bridge.ingest import ingest_chunk
from kepler_bridge.wire import ARROW, CSV, DatasetComplete, DatasetCreate, media_format

router = APIRouter(prefix=wire.DATASETS, tags=["datasets"], dependencies=[AuthDep])
_ROWS_BATCH = 65_536


@router.get("")
async def list_all(state: StateDep) -> list[dict[str, Any]]:
    """Every dataset, newest first: id, name, rows, bytes, schema hash, created, source
    search, complete or not, and the model versions trained on it."""
    out: list[dict[str, Any]] = await run_in_threadpool(list_datasets, state.ctx)
    return out


@router.post("", status_code=201)
def create_dataset(body: DatasetCreate, state: StateDep) -> dict[str, Any]:
    source = body.source.model_dump(exclude_none=True) if body.source else None
    dataset_id = state.datasets.create(body.format, source, name=body.name)
    return wire.DatasetCreated(dataset_id, body.format).to_dict()


@router.put("/{dataset_id}/chunks/{seq}")
async def put_chunk(dataset_id: str, seq: int, request: Request, state: StateDep) -> dict[str, Any]:
    """One chunk: Splunk's CSV (with its header) or an Arrow IPC stream, streamed to Parquet."""
    result = await ingest_chunk(
        state.datasets,
        dataset_id,
        seq,
        request.stream(),
        fmt=media_format(request.headers.get("content-type")),
        max_chunk_bytes=state.settings.max_chunk_bytes,
        max_dataset_bytes=state.settings.max_dataset_bytes,
        spool_dir=state.spool_dir,
    )
    return {"dataset_id": dataset_id, "seq": seq, "rows": result.rows, "bytes": result.bytes}


@router.post("/{dataset_id}/complete")
def complete_dataset(dataset_id: str, body: DatasetComplete, state: StateDep) -> dict[str, Any]:
    manifest = complete_upload(state.datasets, dataset_id, body.chunks, body.rows)
    out: dict[str, Any] = manifest.to_dict()
    return out


@router.get("/{dataset_id}", responses={200: {"content": {ARROW: {}}}})
async def get_one(dataset_id: str, request: Request, state: StateDep) -> Any:
    """A completed dataset's manifest with its listing row (``name``, ``versions``, ...);
    with ``Accept: application/vnd.apache.arrow.stream`` its rows, as ``/rows`` gives."""
    if ARROW in request.headers.get("accept", ""):
        return await run_in_threadpool(rows, dataset_id, state)
    found = await run_in_threadpool(state.datasets.resolve, dataset_id)
    manifest = await run_in_threadpool(state.datasets.manifest, found)
    out: dict[str, Any] = manifest.to_dict()
    out.update(await run_in_threadpool(get_dataset, state.ctx, found))
    return out


@router.get("/{dataset_id}/rows", responses={200: {"content": {ARROW: {}}}})
def rows(dataset_id: str, state: StateDep) -> StreamingResponse:
    """Every row of a completed dataset as an Arrow IPC stream, part by part (never the
    whole dataset in memory), in the types it was stored with."""
    store = state.datasets
    found = store.resolve(dataset_id)
    schema = store.schema(found)  # DatasetIncomplete before any byte is sent
    return StreamingResponse(
        _ipc_stream(store, found, schema),
        media_type=ARROW,
        headers={"X-Kepler-Dataset": found},
    )


def _ipc_stream(store: DatasetStore, dataset_id: str, schema: pa.Schema) -> Iterator[bytes]:
    sink = _Drain()
    with pa.ipc.new_stream(sink, schema) as writer:
        yield sink.take()
        for batch in store.iter_batches(dataset_id, batch_size=_ROWS_BATCH):
            writer.write_batch(batch)
            yield sink.take()
    yield sink.take()  # the end-of-stream marker


class _Drain(io.RawIOBase):
    """What the Arrow writer writes into, handed on to the response a batch at a time."""

    def __init__(self) -> None:
        super().__init__()
        self._pending: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._pending.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out, self._pending = b"".join(self._pending), []
        return out


@router.post("/{dataset_id}/apply", responses={200: {"content": {CSV: {}}}})
def apply_to_dataset(
    dataset_id: str,
    state: StateDep,
    model: str,
    probabilities: bool | None = None,
    output_name: str | None = Query(None, alias="as"),
) -> StreamingResponse:
    """Every row of a stored dataset with ``model``'s output fields, streamed as CSV (what
    `| kepler fit ... output=events` answers with)."""
    version, loaded = state.cache.fetch(ModelRef.parse(model))
    dataset_id = state.datasets.resolve(dataset_id)
    batches = state.datasets.iter_batches(dataset_id, batch_size=50_000)
    options = ScoreOptions(
        probabilities=probabilities, output_name=output_name, model_name=version.name
    )
    body = score_dataset_csv(batches, loaded, options)
    return StreamingResponse(
        body, media_type=CSV, headers={"X-Kepler-Model-Version": str(version.version)}
    )


@router.delete("/{dataset_id}")
def delete_dataset(dataset_id: str, state: StateDep, caller: CallerDep) -> dict[str, Any]:
    """Delete a dataset; 409 while a model version trained on it exists. A named one needs
    the admin level and is recorded in the audit trail (who deleted it, when); see
    :func:`kepler.server.datasets.catalog.delete_dataset`."""
    return delete_one(
        state.ctx, dataset_id, admin=caller.admin, user=caller.user, roles=caller.roles
    )
