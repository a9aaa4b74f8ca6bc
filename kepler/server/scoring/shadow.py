"""Champion/challenger: score the same rows with a second version in the shadow of the
first, answer the champion's output only, and send how far the two agree to Splunk as a
``kepler:shadow`` event.

Agreement is the share of rows where both predict the same value (classifiers,
clusterers, outlier detectors), or the mean absolute difference of the predictions
(regressors). A challenger that cannot score the rows never fails the champion's answer:
its event says why instead.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pyarrow as pa

from kepler.core.errors import KeplerError
from kepler.core.refs import ModelRef
from kepler.server.model_cache import ModelCache
from kepler.server.telemetry import Telemetry

SOURCETYPE = "kepler:shadow"
log = logging.getLogger(__name__)


def shadow_batch(
    cache: ModelCache,
    telemetry: Telemetry,
    champion: tuple[str, int, Any],
    challenger: ModelRef,
    table: pa.Table,
    *,
    user: str | None = None,
) -> dict[str, Any]:
    """Score ``table`` with the champion (``(name, version, loaded)``) and ``challenger``,
    send the agreement as a ``kepler:shadow`` event and return it."""
    from kepler.ml.outputs import predict_frame

    name, version, (pipeline, meta) = champion
    event: dict[str, Any] = {
        "model": name,
        "champion": f"{name}@{version}",
        "challenger": str(challenger),
        "rows": table.num_rows,
        "task": meta.task,
        "user": user,
    }
    try:
        resolved, (c_pipeline, c_meta) = cache.fetch(challenger)
        event["challenger"] = f"{resolved.name}@{resolved.version}"
        if table.num_rows:
            frame = table.to_pandas()
            ours = predict_frame(pipeline, meta, frame, probabilities=False).iloc[:, 0]
            theirs = predict_frame(c_pipeline, c_meta, frame, probabilities=False).iloc[:, 0]
            event.update(agreement(meta.task, ours.to_numpy(), theirs.to_numpy()))
    except KeplerError as exc:
        event["error"] = exc.message
    except Exception as exc:  # a challenger's fault must not fail the champion's answer
        log.warning("shadow scoring with %s failed", challenger, exc_info=True)
        event["error"] = f"the challenger could not score the rows: {type(exc).__name__}: {exc}"
    telemetry.event(SOURCETYPE, event)
    return event


def agreement(task: str, ours: np.ndarray, theirs: np.ndarray) -> dict[str, Any]:
    """``agreement`` (share of equal predictions) or, for a regressor,
    ``mean_abs_diff``."""
    if task == "regressor":
        a = np.asarray(ours, dtype=np.float64)
        b = np.asarray(theirs, dtype=np.float64)
        return {"mean_abs_diff": float(np.nanmean(np.abs(a - b))) if len(a) else None}
    same = np.asarray([str(x) == str(y) for x, y in zip(ours, theirs, strict=True)])
    return {"agreement": float(same.mean()) if len(same) else None}


def shadow_headers(event: dict[str, Any]) -> dict[str, str]:
    """The apply answer's ``X-Kepler-Shadow-*`` headers: the challenger and its agreement."""
    out = {"X-Kepler-Shadow-Version": str(event.get("challenger"))}
    for key in ("agreement", "mean_abs_diff"):
        if event.get(key) is not None:
            out[f"X-Kepler-Shadow-{key.replace('_', '-').title()}"] = f"{event[key]:.6g}"
    if event.get("error"):
        out["X-Kepler-Shadow-Error"] = str(event["error"])[:200]
    return out
