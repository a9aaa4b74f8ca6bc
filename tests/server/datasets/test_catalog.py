"""The datasets' catalog: names, listing, and retention over a real store and jobs
database (the registry is MLflow on SQLite; no version is registered here, the system
tests register them)."""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from kepler.core.errors import Conflict, DataError, DatasetNotFound
from kepler.server.context import ServerContext
from kepler.server.datasets import complete_upload
from kepler.server.datasets.catalog import list_datasets, retain
from kepler.server.settings import ServerSettings

DAY = 24 * 3600.0


def _complete(ctx: ServerContext, name: str | None = None) -> str:
    store = ctx.datasets
    dataset_id = store.create("arrow", {"search": "index=s"}, name=name)
    table = pa.table({"x": [1, 2, 3]})
    store.write_part(dataset_id, 0, table.schema, table.to_batches(), sha256="0" * 64, raw_bytes=9)
    complete_upload(store, dataset_id, 1, 3)
    return dataset_id


def test_create_named_dataset_resolves_and_clash_is_refused(ctx: ServerContext) -> None:
    dataset_id = _complete(ctx, "sensors-2026-w48")
    assert ctx.datasets.resolve("sensors-2026-w48") == dataset_id
    assert ctx.datasets.resolve(dataset_id) == dataset_id
    with pytest.raises(Conflict, match="already named 'sensors-2026-w48'"):
        ctx.datasets.create("csv", name="sensors-2026-w48")
    with pytest.raises(DataError, match="start with a letter"):
        ctx.datasets.create("csv", name="../up")
    with pytest.raises(DatasetNotFound, match="by id or by name"):
        ctx.datasets.resolve("sensors-2026-w49")


def test_list_datasets_rows_and_incomplete(ctx: ServerContext) -> None:
    done = _complete(ctx, "done")
    started = ctx.datasets.create("csv")
    rows = {r["id"]: r for r in list_datasets(ctx)}
    assert rows[done]["rows"] == 3 and rows[done]["complete"] and rows[done]["versions"] == []
    assert rows[done]["source_search"] == "index=s" and rows[done]["name"] == "done"
    assert len(rows[done]["schema_hash"]) == 64
    assert not rows[started]["complete"] and rows[started]["schema_hash"] is None


def test_retain_removes_old_unreferenced_keeps_what_a_job_needs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = ServerSettings(
        home=tmp_path / "home",
        token="t",
        dataset_retention_unreferenced_s=DAY,
        dataset_retention_incomplete_s=DAY,
    )
    ctx = ServerContext(settings, component="beat")
    try:
        old = _complete(ctx)
        pending = _complete(ctx)
        started = ctx.datasets.create("csv")
        ctx.jobs.create("fit", {}, model="m", dataset_id=pending)  # queued: its fit needs it
        assert retain(ctx, time.time() + DAY / 2) == []  # not old enough yet
        removed = retain(ctx, time.time() + 2 * DAY)
        assert sorted(removed) == sorted([old, started])
        assert [r["id"] for r in list_datasets(ctx)] == [pending]
        kinds = {(d["kind"], d["detail"]["why"]) for d in ctx.jobs.deletions()}
        assert kinds == {("dataset", "retention")}
    finally:
        ctx.close(timeout=5)


def test_retain_zero_keeps_for_ever(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = ServerSettings(
        home=tmp_path / "home",
        token="t",
        dataset_retention_unreferenced_s=0,
        dataset_retention_incomplete_s=0,
    )
    ctx = ServerContext(settings, component="beat")
    try:
        kept = _complete(ctx)
        assert retain(ctx, time.time() + 1000 * DAY) == []
        assert ctx.datasets.resolve(kept) == kept
    finally:
        ctx.close(timeout=5)
