"""Champion/challenger: score the same rows with a second version in the shadow of the
first, answer (or write) the champion's output only, and send how far the two agree to
Splunk as a ``kepler:shadow`` event.

Every way of scoring (sync apply, async apply, scheduled scoring) passes a :class:`Shadow`
to the one score step (:func:`kepler.server.scoring.score`), which scores the challenger
on the same table after the champion; each batch leaves one event, tagged with the mode
(``sync``, ``async``, ``schedule``) and, for a job, its id and schedule.

Agreement is the share of rows where both predict the same value (classifiers,
clusterers, outlier detectors), or the mean absolute difference of the predictions
(regressors). A challenger that cannot score the rows never fails the champion's output:
its event says why instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from kepler.core.errors import KeplerError
from kepler.core.refs import ModelRef
from kepler.server.model_cache import ModelCache
from kepler.server.telemetry import Telemetry

SOURCETYPE = "kepler:shadow"
log = logging.getLogger(__name__)


class Shadow:
    """A challenger scoring in the shadow of the champion ``name@version``: loaded from
    ``cache``, its agreement sent through ``telemetry`` with ``context`` (the mode, the
    job) and kept in :attr:`events`, one per scored batch."""

    def __init__(
        self,
        cache: ModelCache,
        telemetry: Telemetry,
        champion: tuple[str, int],
        challenger: ModelRef,
        *,
        user: str | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.cache = cache
        self.telemetry = telemetry
        self.champion = champion
        self.challenger = challenger
        self.user = user
        self.context = dict(context or {})
        self.events: list[dict[str, Any]] = []
        self.features: list[str] = []  # the challenger's input fields, once pinned

    @property
    def last(self) -> dict[str, Any] | None:
        return self.events[-1] if self.events else None

    def pin(self) -> list[str]:
        """Pin the challenger to the version its reference names now (an alias moved
        mid-run must not change it) and return its input fields, so that a caller that
        reads only the champion's fields reads these too. One that cannot be loaded has
        none: its events say why."""
        try:
            resolved, (_, meta) = self.cache.fetch(self.challenger)
        except KeplerError:
            return []
        self.challenger = ModelRef(resolved.name, version=resolved.version)
        self.features = [str(f) for f in meta.features]
        return self.features

    def batch(self, loaded: Any, table: pa.Table) -> dict[str, Any]:
        """Score ``table`` with the champion (``loaded``: its pipeline and meta) and the
        challenger, send the agreement as a ``kepler:shadow`` event and return it."""
        event = shadow_batch(
            self.cache,
            self.telemetry,
            (*self.champion, loaded),
            self.challenger,
            table,
            user=self.user,
            context=self.context,
        )
        self.events.append(event)
        return event


def shadow_batch(
    cache: ModelCache,
    telemetry: Telemetry,
    champion: tuple[str, int, Any],
    challenger: ModelRef,
    table: pa.Table,
    *,
    user: str | None = None,
    context: Mapping[str, Any] | None = None,
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
        "mode": "sync",
        **(context or {}),
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


def summarize(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """A job's shadow outcome over its batches: the challenger, the rows both scored, and
    the row-weighted agreement (or mean absolute difference); None without batches."""
    if not events:
        return None
    out: dict[str, Any] = {"challenger": events[-1].get("challenger"), "batches": len(events)}
    scored = [e for e in events if not e.get("error")]
    out["rows"] = sum(int(e.get("rows") or 0) for e in scored)
    for key in ("agreement", "mean_abs_diff"):
        parts = [(e[key], int(e.get("rows") or 0)) for e in scored if e.get(key) is not None]
        weight = sum(n for _, n in parts)
        if weight:
            out[key] = sum(v * n for v, n in parts) / weight
    errors = [e["error"] for e in events if e.get("error")]
    if errors:
        out["error"] = errors[-1]
    return out


def shadow_headers(event: dict[str, Any]) -> dict[str, str]:
    """The apply answer's ``X-Kepler-Shadow-*`` headers: the challenger and its agreement."""
    out = {"X-Kepler-Shadow-Version": str(event.get("challenger"))}
    for key in ("agreement", "mean_abs_diff"):
        if event.get(key) is not None:
            out[f"X-Kepler-Shadow-{key.replace('_', '-').title()}"] = f"{event[key]:.6g}"
    if event.get("error"):
        out["X-Kepler-Shadow-Error"] = str(event["error"])[:200]
    return out
