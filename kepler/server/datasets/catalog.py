"""The datasets as a user sees them: each with its size, schema hash, source and the model
versions trained on it; and the retention that removes the ones nothing needs any more.

A version records its dataset in its MLflow run's lineage tags
(``kepler.dataset.dataset_id``, :func:`kepler.ml.store.lineage_tags`): a dataset is
*referenced* while a registered version's run names it. A dataset is also kept while a
job that has not finished names it (a fit still training has no version yet).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kepler.core.errors import Conflict, DatasetNotFound, Forbidden
from kepler.core.identity import ROLE_ADMIN, admin_needed

if TYPE_CHECKING:
    from kepler.server.context import ServerContext
    from kepler.server.datasets import DatasetStore

log = logging.getLogger("kepler.datasets")


def versions_by_dataset(ctx: ServerContext) -> dict[str, list[str]]:
    """``{dataset_id: ["pump@3", ...]}`` over every registered version."""
    out: dict[str, list[str]] = defaultdict(list)
    for v in ctx.models.list_versions():
        if v.get("dataset_id"):
            out[v["dataset_id"]].append(f"{v['name']}@{v['version']}")
    return dict(out)


def model_datasets(ctx: ServerContext, model: str) -> set[str]:
    """The datasets the versions of ``model`` were trained on."""
    return {
        v["dataset_id"]
        for v in ctx.models.list_versions()
        if v["name"] == model and v.get("dataset_id")
    }


def describe(state: dict[str, Any], versions: list[str], stored_bytes: int) -> dict[str, Any]:
    """One dataset's listing row from its stored state."""
    manifest = state.get("manifest") or {}
    columns = list(manifest.get("columns", ()))
    types = manifest.get("schema", {})
    schema_hash = (
        hashlib.sha256(json.dumps([[c, types.get(c)] for c in columns]).encode()).hexdigest()
        if state.get("completed")
        else None
    )
    source = state.get("source") or {}
    return {
        "id": state["dataset_id"],
        "name": state.get("name"),
        "rows": manifest.get("rows"),
        "bytes": manifest.get("bytes"),
        "stored_bytes": stored_bytes,
        "columns": columns,
        "schema_hash": schema_hash,
        "content_hash": manifest.get("content_hash"),
        "created": state.get("created_at", ""),
        "completed_at": manifest.get("completed_at") or None,
        "complete": bool(state.get("completed")),
        "source_search": source.get("search"),
        "source": source or None,
        "versions": sorted(versions, key=_version_order),
    }


def list_datasets(ctx: ServerContext) -> list[dict[str, Any]]:
    """Every dataset, newest first."""
    used = versions_by_dataset(ctx)
    rows = []
    for state in ctx.datasets.states():
        dataset_id = state["dataset_id"]
        try:
            size = ctx.datasets.size_bytes(dataset_id)
        except DatasetNotFound:  # removed meanwhile
            continue
        rows.append(describe(state, used.get(dataset_id, []), size))
    return sorted(rows, key=lambda r: r["created"], reverse=True)


def get_dataset(ctx: ServerContext, ref: str) -> dict[str, Any]:
    dataset_id = ctx.datasets.resolve(ref)
    state = ctx.datasets._read_state(dataset_id)
    used = versions_by_dataset(ctx).get(dataset_id, [])
    return describe(state, used, ctx.datasets.size_bytes(dataset_id))


def in_use(ctx: ServerContext) -> set[str]:
    """Datasets a version or an unfinished job still needs."""
    needed = set(versions_by_dataset(ctx))
    needed.update(job.dataset_id for job in ctx.jobs.unfinished() if job.dataset_id)
    return needed


def retain(ctx: ServerContext, now: float) -> list[str]:
    """Remove what retention allows: a completed dataset no version references older than
    ``KEPLER_DATASET_RETENTION_UNREFERENCED_S``, an upload never completed older than
    ``KEPLER_DATASET_RETENTION_INCOMPLETE_S`` (0: keep for ever). Returns the removed ids."""
    s = ctx.settings
    if not s.dataset_retention_unreferenced_s and not s.dataset_retention_incomplete_s:
        return []
    old = []
    for state in ctx.datasets.states():
        limit = (
            s.dataset_retention_unreferenced_s
            if state.get("completed")
            else s.dataset_retention_incomplete_s
        )
        age = now - _epoch(state.get("created_at", ""), default=now)
        if limit and age > limit:
            old.append(state)
    if not old:
        return []  # the registry is asked only when something is old enough
    needed = in_use(ctx)
    removed = []
    for state in old:
        dataset_id = state["dataset_id"]
        if dataset_id not in needed:
            _remove(ctx, dataset_id, state, why="retention", user="kepler-beat", roles=())
            removed.append(dataset_id)
    return removed


def remove_model_datasets(ctx: ServerContext, dataset_ids: set[str], *, user: str) -> list[str]:
    """After a model's deletion: its datasets no other version or job needs, removed when
    ``KEPLER_DATASET_DELETE_WITH_MODEL`` is on (default off: they stay, for retention)."""
    if not ctx.settings.dataset_delete_with_model or not dataset_ids:
        return []
    needed = in_use(ctx)
    removed = []
    for dataset_id in sorted(dataset_ids - needed):
        try:
            state = ctx.datasets._read_state(dataset_id)
        except DatasetNotFound:
            continue
        _remove(ctx, dataset_id, state, why="model deleted", user=user, roles=())
        removed.append(dataset_id)
    return removed


def delete_dataset(
    ctx: ServerContext,
    ref: str,
    *,
    admin: bool,
    user: str | None,
    roles: tuple[str, ...] | list[str],
) -> dict[str, Any]:
    """Delete a dataset: 409 while a version trained on it exists. A named dataset takes
    the admin level, and its deletion is recorded in the audit trail. An unnamed one is
    scratch data (what ``score``, ``drift`` and ``apply`` upload and tidy away after their
    answer, at the user level): an admin's deletion of one is recorded, a user's is not,
    or every evaluation would fill the trail."""
    dataset_id = ctx.datasets.resolve(ref)
    state = ctx.datasets._read_state(dataset_id)
    if state.get("name") and not admin:
        raise Forbidden(
            admin_needed(f"deleting the named dataset {state['name']!r}"),
            detail={"needs": ROLE_ADMIN},
        )
    versions = versions_by_dataset(ctx).get(dataset_id, [])
    if versions:
        raise Conflict(
            f"dataset {ref} is what {', '.join(versions)} was trained on and stays while "
            "those versions exist (reproducing them needs it); delete the versions first",
            detail={"dataset_id": dataset_id, "versions": versions},
        )
    if admin or state.get("name"):
        _remove(ctx, dataset_id, state, why="deleted", user=user, roles=roles)
    else:
        ctx.datasets.delete(dataset_id)
    return {"deleted": dataset_id, "name": state.get("name"), "user": user}


def _remove(
    ctx: ServerContext,
    dataset_id: str,
    state: dict[str, Any],
    *,
    why: str,
    user: str | None,
    roles: tuple[str, ...] | list[str],
) -> None:
    store: DatasetStore = ctx.datasets
    try:
        store.delete(dataset_id)
    except DatasetNotFound:
        return  # another beat or bridge removed it first
    manifest = state.get("manifest") or {}
    ctx.jobs.record_deletion(
        "dataset",
        state.get("name") or dataset_id,
        user=user or "unknown",
        roles=roles,
        detail={
            "dataset_id": dataset_id,
            "why": why,
            "rows": manifest.get("rows"),
            "complete": bool(state.get("completed")),
        },
    )
    log.info("dataset %s removed (%s)", dataset_id, why)


def _epoch(iso: str, *, default: float) -> float:
    try:
        return datetime.fromisoformat(iso).timestamp()
    except (TypeError, ValueError):
        return default


def _version_order(ref: str) -> tuple[str, int]:
    name, _, version = ref.rpartition("@")
    return name, int(version) if version.isdigit() else 0
