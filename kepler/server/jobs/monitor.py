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
``kepler:drift`` event to HEC's default index. Drift is counted on the baseline's bins page
by page as the search's pages come
(:mod:`kepler.server.jobs.monitor_counts`), so what a run holds is one page and the size
of the baseline, however many events the interval has. The job's result holds what was
found.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from kepler.core.errors import HecRejected
from kepler.core.refs import ModelRef
from kepler.server.jobs import recurring
from kepler.server.jobs.monitor_counts import MonitorCounts
from kepler.server.jobs.recurring import Run, RunKind
from kepler.server.queue import enqueue_monitor
from kepler.server.stores.jobs import Job
from kepler.server.stores.monitors import Monitor

if TYPE_CHECKING:
    from kepler.server.context import ServerContext

log = logging.getLogger(__name__)

MONITOR_KIND = "monitor"
SLICE_ROWS = 50_000  # rows a run holds at once: a page of the search, counted and scored
MIN_EVENTS = 20  # fewer events than this: the run reports it and sends nothing
DRIFT_SOURCETYPE = "kepler:drift"


def _own(mon: Monitor) -> dict[str, Any]:
    """What a monitor run's spec holds beside every recurring run's."""
    return {"label": mon.label, "method": mon.method, "threshold": mon.threshold}


def fire(ctx: ServerContext, mon: Monitor, *, trigger: str, user: str | None = None) -> Job:
    """Record a run of ``mon`` as a job and queue it (see :meth:`RunKind.fire`)."""
    return MONITOR.fire(ctx, ctx.monitors, mon, trigger=trigger, user=user)


def _monitor(run: Run) -> dict[str, Any]:
    from kepler.hec import HecSender, make_event
    from kepler.server.drift import no_baseline

    ctx, job_id, spec, jobs = run.ctx, run.job_id, run.spec, run.ctx.jobs
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
    metrics_index = spec.get("index") or run.hec.metrics_index
    source = f"kepler:monitor:{spec['monitor']}"
    with HecSender(run.hec) as hec:
        counts = MonitorCounts(model, baseline, label=spec.get("label"), settings=ctx.settings)
        for page in recurring.search_pages(run, page_rows=SLICE_ROWS):
            counts.add(page)
            jobs.progress(job_id, 0.3, f"counted {counts.rows:,} events on the baseline")
        result["rows"] = counts.rows
        if counts.rows < MIN_EVENTS:
            result["notes"].append(
                f"the search returned {counts.rows} event(s) from {spec['earliest']} to "
                f"{spec['latest']}; drift needs at least {MIN_EVENTS}: widen the monitor's "
                "interval (--every) or check its search"
            )
            return _done(result, hec.flush(), started)
        rows = counts.drift(spec.get("method"), spec.get("threshold"))
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
        if counts.live is not None:
            result["metrics"] = counts.live.metrics()
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
                        "rows": counts.rows,
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


MONITOR = RunKind(MONITOR_KIND, "monitor", "monitor run", enqueue_monitor, _own, step=_monitor)
# The worker's side: run job ``job_id`` (``splunk``, ``hec``: default, the process's settings).
run_monitor = MONITOR.run
