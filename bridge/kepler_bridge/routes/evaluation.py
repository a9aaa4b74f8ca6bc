"""Live evaluation: MLTK's ``score`` metrics over an uploaded dataset (a search's events
whose labels arrived later, or a DataFrame from the SDK)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from kepler.core import wire
from kepler.server.live_score import dataset_score
from kepler_bridge.deps import AuthDep, StateDep
from kepler_bridge.wire import ScoreRequest

router = APIRouter(prefix=wire.SCORE, tags=["evaluation"], dependencies=[AuthDep])


@router.post("")
async def score(body: ScoreRequest, state: StateDep) -> dict[str, Any]:
    """MLTK's ``score <metric> <fields> against <fields> [options]`` over the dataset
    ``dataset_id``: ``columns`` and ``rows`` in MLTK's output shape, the rows read, scored
    and left out for a missing value, and notes. Classification and regression metrics are
    computed in one pass over the dataset's parts (pair counts, sums); roc_auc_score,
    roc_curve, ks_2samp and the t-tests keep the values, up to KEPLER_SCORE_MAX_ROWS rows."""
    answer: dict[str, Any] = await run_in_threadpool(
        dataset_score,
        state.datasets,
        body.dataset_id,
        body.metric,
        body.fields,
        body.against or None,
        dict(body.options),
        max_rows=state.settings.score_max_rows,
        max_classes=state.settings.score_max_classes,
    )
    return answer
