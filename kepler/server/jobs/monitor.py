"""Monitor runs: fired by the beat or the bridge (:func:`fire`), run by a worker
(:func:`run_monitor`): search Splunk for the interval's events, compare them with the
version's baseline, write one HEC metric event per field (and live metrics with a label).

Each run sends, through HEC's metrics format (``"event": "metric"``, the measurement as
``fields["metric_name:<name>"]`` beside its dimensions):

- ``kepler.drift.<method>`` per field of the baseline that could be tested, with the
  dimensions ``model``, ``version``, ``field``, ``drifted`` (``true``/``false``), ``monitor``;
- ``kepler.live.<metric>`` with ``--label``: the interval's labelled events scored with the
  version (accuracy and weighted f1 for a classifier, r2 and mae for a regressor);
- one ``kepler:drift`` event (sourcetype) naming the drifted fields, only when a field
  crossed its threshold.

Metric events go to the monitor's index, else ``KEPLER_HEC_METRICS_INDEX``; the
``kepler:drift`` event to HEC's default index. Drift is counted slice by slice on the
baseline's bins (:func:`kepler.ml.monitoring.count_window`), so what a run keeps beyond the
search's rows is the size of the baseline. The job's result holds what was found.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kepler.core.errors import DataError, HecRejected
from kepler.core.refs import ModelRef
from kepler.server.jobs.runner import run_once
from kepler.server.queue import enqueue_monitor
from kepler.server.stores.jobs import Job
from kepler.server.stores.monitors import Monitor

if TYPE_CHECKING:
    import pandas as pd

    from kepler.hec import HecSettings
    from kepler.server.context import ServerContext
    from kepler.splunk.settings import SplunkSettings

log = logging.getLogger(__name__)

MONITOR_KIND = "monitor"
SLICE_ROWS = 50_000  # rows counted (and scored, for the outputs) per piece
MIN_EVENTS = 20  # fewer events than this: the run reports it and sends nothing
DRIFT_SOURCETYPE = "kepler:drift"
# Live metrics a monitor writes, by the model's task: (metric, score options).
LIVE_METRICS: dict[str, tuple[tuple[str, str, dict[str, Any]], ...]] = {
    "classification": (
        ("accuracy", "accuracy_score", {}),
        ("f1", "f1_score", {"average": "weighted"}),
    ),
    "regression": (("r2", "r2_score", {}), ("mae", "mean_absolute_error", {})),
}


def monitor_spec(mon: Monitor, *, trigger: str) -> dict[str, Any]:
    """What a run needs, frozen when it fires."""
    earliest, latest = mon.window
    return {
        "monitor": mon.name,
        "monitor_id": mon.id,
        "search": mon.search,
        "earliest": earliest,
        "latest": latest,
        "model": mon.model,
        "label": mon.label,
        "method": mon.method,
        "threshold": mon.threshold,
        "index": mon.index,
        "trigger": trigger,
    }


def fire(ctx: ServerContext, mon: Monitor, *, trigger: str, user: str | None = None) -> Job:
    """Record a run of ``mon`` as a job and queue it; a run the broker refused is recorded
    as failed. The job's user is whoever ran it now, else ``monitor:<name>``."""
    job = ctx.jobs.create(
        MONITOR_KIND,
        monitor_spec(mon, trigger=trigger),
        model=mon.model,
        user=user or f"monitor:{mon.name}",
    )
    ctx.monitors.ran(mon.id, job.id, job.created_at)
    try:
        enqueue_monitor(ctx.celery, job.id)
    except Exception as exc:
        ctx.jobs.fail(
            job.id,
            {
                "code": "internal",
                "status": 500,
                "message": f"the run of monitor {mon.name!r} could not be queued: the broker "
                f"did not take it ({type(exc).__name__}); check KEPLER_BROKER_URL",
            },
        )
        raise
    return job


def run_monitor(
    ctx: ServerContext,
    job_id: str,
    *,
    splunk: SplunkSettings | None = None,
    hec: HecSettings | None = None,
) -> dict[str, Any]:
    """The worker's side: run monitor job ``job_id``; ``splunk`` and ``hec`` default to the
    process's settings (``KEPLER_SPLUNK_*``, ``KEPLER_HEC_*``)."""
    s = ctx.settings
    result, ran = run_once(
        ctx.jobs,
        job_id,
        lambda job: _monitor(ctx, job_id, job.spec, splunk or s.splunk, hec or s.hec),
        telemetry=ctx.telemetry,
        what="monitor run",
        limits=ctx.limits,
    )
    if ran:
        ctx.telemetry.flush()
    return result


def _monitor(
    ctx: ServerContext,
    job_id: str,
    spec: dict[str, Any],
    splunk: SplunkSettings,
    hec_conf: HecSettings,
) -> dict[str, Any]:
    from kepler.hec import HecSender, make_event
    from kepler.server.drift import no_baseline
    from kepler.splunk.search import from_splunk

    jobs = ctx.jobs
    started = time.time()
    # The version is pinned before the search runs: one version judges the whole window.
    info, model = ctx.cache.fetch(ModelRef.parse(spec["model"]))
    baseline = ctx.models.baseline(info)
    if baseline is None:
        raise no_baseline(info.name, info.version)
    result: dict[str, Any] = {
        "monitor": spec["monitor"],
        "model": info.name,
        "version": info.version,
        "rows": 0,
        "drifted": [],
        "fields": {},
        "metrics": {},
        "notes": [],
        "sent": 0,
    }
    dims = {"model": info.name, "version": str(info.version), "monitor": spec["monitor"]}
    metrics_index = spec.get("index") or hec_conf.metrics_index
    source = f"kepler:monitor:{spec['monitor']}"
    with HecSender(hec_conf) as hec:
        jobs.progress(job_id, 0.05, f"searching Splunk ({spec['earliest']} to {spec['latest']})")
        frame = from_splunk(
            spec["search"],
            earliest=spec["earliest"],
            latest=spec["latest"],
            settings=splunk,
            progress=False,
        )
        result["rows"] = len(frame)
        if len(frame) < MIN_EVENTS:
            result["notes"].append(
                f"the search returned {len(frame)} event(s) from {spec['earliest']} to "
                f"{spec['latest']}; drift needs at least {MIN_EVENTS}: widen the monitor's "
                "interval (--every) or check its search"
            )
            return _done(result, hec.flush(), started)
        jobs.progress(job_id, 0.3, f"counting {len(frame):,} events on the baseline")
        rows = _drift_rows(model, baseline, frame, spec)
        when = started
        events = []
        for row in rows:
            if row.get("statistic") is None:
                if row.get("note"):
                    result["notes"].append(f"{row['field']}: {row['note']}")
                continue
            drifted = bool(row.get("drifted"))
            result["fields"][row["field"]] = {
                "method": row["method"],
                "statistic": row["statistic"],
                "threshold": row["threshold"],
                "drifted": drifted,
            }
            if drifted:
                result["drifted"].append(row["field"])
            events.append(
                metric_event(
                    f"kepler.drift.{row['method']}",
                    row["statistic"],
                    {**dims, "field": row["field"], "drifted": "true" if drifted else "false"},
                    when=when,
                    source=source,
                    index=metrics_index,
                )
            )
        if spec.get("label"):
            jobs.progress(job_id, 0.7, f"scoring the events labelled {spec['label']!r}")
            result["metrics"] = live_metrics(model, frame, spec["label"], ctx.settings)
            events.extend(
                metric_event(
                    f"kepler.live.{name}",
                    value,
                    {**dims, "label": spec["label"]},
                    when=when,
                    source=source,
                    index=metrics_index,
                )
                for name, value in result["metrics"].items()
                if name != "rows"
            )
        if result["drifted"]:
            events.append(
                make_event(
                    {
                        **dims,
                        "drifted": result["drifted"],
                        "fields": {f: result["fields"][f] for f in result["drifted"]},
                        "rows": len(frame),
                        "earliest": spec["earliest"],
                        "latest": spec["latest"],
                        "kepler_job": job_id,
                    },
                    time=when,
                    source=source,
                    sourcetype=DRIFT_SOURCETYPE,
                )
            )
        hec.send_many(events)
        return _done(result, hec.flush(), started)


def _done(result: dict[str, Any], report: Any, started: float) -> dict[str, Any]:
    result.update(sent=report.delivered, duration_s=round(time.time() - started, 3))
    if report.rejected:
        raise HecRejected(
            f"HEC refused {report.rejected:,} monitor event(s) "
            f"({report.last_error or 'no reason given'}); check the monitor's index (a "
            "metrics index) and the HEC token's allowed indexes",
            detail={k: v for k, v in result.items() if k != "monitor"},
        )
    return result


def metric_event(
    name: str,
    value: float,
    dimensions: dict[str, Any],
    *,
    when: float,
    source: str,
    index: str | None,
) -> Any:
    """One measurement in HEC's metrics JSON: ``"event": "metric"``, the value as
    ``fields["metric_name:<name>"]``, the dimensions as the other fields."""
    from kepler.hec import make_event

    return make_event(
        "metric",
        time=when,
        source=source,
        index=index,
        fields={f"metric_name:{name}": float(value), **dimensions},
    )


def _slices(frame: pd.DataFrame) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), SLICE_ROWS):
        yield frame.iloc[start : start + SLICE_ROWS]


def _drift_rows(
    model: Any, baseline: dict[str, Any], frame: pd.DataFrame, spec: dict[str, Any]
) -> list[dict[str, Any]]:
    from kepler.ml.monitoring import count_window, drift
    from kepler.server.drift import with_outputs

    pipeline, meta = model
    window = count_window(
        baseline,
        (with_outputs(pipeline, meta, baseline, piece) for piece in _slices(frame)),
    )
    return drift(baseline, window, method=spec.get("method"), threshold=spec.get("threshold"))


def live_metrics(model: Any, frame: pd.DataFrame, label: str, settings: Any) -> dict[str, Any]:
    """The version's live metrics on ``frame``'s rows that carry ``label``: each one's
    value, and ``rows``, how many were scored."""
    import pandas as pd

    from kepler.core.score import check_score
    from kepler.ml.live_metrics import score_frames
    from kepler.ml.outputs import predict_frame

    pipeline, meta = model
    if label not in frame.columns:
        raise DataError(
            f"the monitor's label field {label!r} is not in the events (they have: "
            f"{', '.join(map(str, frame.columns[:20]))}); check --label and the search",
            detail={"label": label},
        )
    labelled = frame[frame[label].notna() & (frame[label].astype(str) != "")]
    task = {"classifier": "classification", "regressor": "regression"}.get(meta.task)
    if task is None:
        raise DataError(
            f"live metrics need a classifier or a regressor; {meta.algorithm} is a "
            f"{meta.task}: remove the monitor's --label",
            detail={"label": label, "task": meta.task},
        )
    _check_label_type(meta, labelled[label], label, task)
    predicted = "kepler_predicted"
    out = predict_frame(pipeline, meta, labelled, probabilities=False)
    pairs = pd.DataFrame({label: labelled[label].to_numpy(), predicted: out.iloc[:, 0].to_numpy()})
    metrics: dict[str, Any] = {"rows": len(pairs)}
    for name, metric, options in LIVE_METRICS[task]:
        spec = check_score(metric, [label], [predicted], options)
        answer = score_frames(
            spec,
            _slices(pairs),
            max_rows=settings.score_max_rows,
            max_classes=settings.score_max_classes,
        )
        metrics[name] = float(answer["rows"][0][metric])
    return metrics


def _check_label_type(meta: Any, values: pd.Series, label: str, task: str) -> None:
    """A label of another type than the model's target is refused, saying which."""
    import pandas as pd

    if not len(values):
        raise DataError(
            f"no event in the window has a value in the label field {label!r}; labels that "
            "arrive later are scored by the run whose window holds them",
            detail={"label": label},
        )
    if task == "regression":
        numbers = pd.to_numeric(values, errors="coerce")
        if numbers.isna().all():
            raise DataError(
                f"the label field {label!r} holds text such as {str(values.iloc[0])!r} but "
                f"model's target {meta.target!r} is a number (a regressor); name the field "
                "that holds the true value",
                detail={"label": label, "target": meta.target},
            )
        return
    classes = {str(c) for c in meta.classes or ()}
    seen = {_as_label(v) for v in values.unique()[:1000]}
    if classes and not seen & classes:
        raise DataError(
            f"the label field {label!r} holds values such as {sorted(seen)[:5]} but the model's "
            f"target {meta.target!r} has the classes {sorted(classes)[:10]}; name the field "
            "that holds the true class",
            detail={"label": label, "target": meta.target},
        )


def _as_label(value: Any) -> str:
    """A label as the model's classes are written: whole numbers without ``.0``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else str(value)
