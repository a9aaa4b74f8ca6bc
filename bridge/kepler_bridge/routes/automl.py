"""AutoML jobs: search algorithms and parameters under a time budget over all workers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kepler.core import wire
from kepler.core.automl import AutoMLSpec, build_automl_spec
from kepler.core.errors import InvalidSpec
from kepler.core.spec import parse
from kepler.server.jobs.automl import check_candidates, submit_automl
from kepler_bridge.deps import AuthDep, CallerDep, StateDep
from kepler_bridge.wire import AutoMLRequest

router = APIRouter(prefix=wire.JOBS, tags=["automl"], dependencies=[AuthDep])


def build_automl(body: AutoMLRequest) -> AutoMLSpec:
    """A checked spec from an SPL-style line or from the SDK's parts."""
    if body.line:
        line = (
            body.line
            if body.line.lstrip().lower().startswith(("automl", "|"))
            else (f"automl {body.line}")
        )
        spec = parse(line)
        if not isinstance(spec, AutoMLSpec):
            raise InvalidSpec("an automl job needs an `automl ...` line")
        return spec
    options = body.model_dump(exclude={"dataset_id", "line", "target", "features", "into"})
    return build_automl_spec(body.target, tuple(body.features or ("*",)), body.into, **options)


@router.post("/automl", status_code=202)
def create_automl_job(
    body: AutoMLRequest, state: StateDep, caller: CallerDep, dry_run: bool = False
) -> dict[str, Any]:
    """Queue an AutoML search of an uploaded dataset; the best model becomes a new version
    of ``into``. With ``dry_run`` only the spec is checked, before any data moves."""
    spec = build_automl(body)
    check_candidates(spec)
    if dry_run:
        return {"spec": spec.to_dict()}
    if not body.dataset_id:
        raise InvalidSpec(f"dataset_id is required: upload the data first (POST {wire.DATASETS})")
    job = submit_automl(state.ctx, spec, body.dataset_id, user=caller.user)
    return job.to_dict()
