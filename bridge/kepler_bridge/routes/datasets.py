"""Datasets: created, filled chunk by chunk as the data streams in, then completed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from kepler.core import wire
from kepler.core.refs import ModelRef
from kepler.server.datasets import complete_upload
from kepler.server.scoring import ScoreOptions, score_dataset_csv
from kepler_bridge.deps import AuthDep, StateDep
from kepler_bridge.ingest import ingest_chunk
from kepler_bridge.wire import CSV, DatasetComplete, DatasetCreate, media_format

router = APIRouter(prefix=wire.DATASETS, tags=["datasets"], dependencies=[AuthDep])


@router.post("", status_code=201)
def create_dataset(body: DatasetCreate, state: StateDep) -> dict[str, Any]:
    source = body.source.model_dump(exclude_none=True) if body.source else None
    dataset_id = state.datasets.create(body.format, source)
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


@router.get("/{dataset_id}")
async def get_dataset(dataset_id: str, state: StateDep) -> dict[str, Any]:
    manifest = await run_in_threadpool(state.datasets.manifest, dataset_id)
    out: dict[str, Any] = manifest.to_dict()
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
    batches = state.datasets.iter_batches(dataset_id, batch_size=50_000)
    options = ScoreOptions(probabilities=probabilities, output_name=output_name)
    body = score_dataset_csv(batches, loaded, options)
    return StreamingResponse(
        body, media_type=CSV, headers={"X-Kepler-Model-Version": str(version.version)}
    )


@router.delete("/{dataset_id}", status_code=204)
def delete_dataset(dataset_id: str, state: StateDep) -> None:
    state.datasets.delete(dataset_id)
