"""``kepler fit`` and ``kepler automl``: stream every chunk into one dataset, start the job,
then follow it chunk by chunk (``JobWatch``) until its result becomes the search's rows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kepler.core import wire
from kepler.core.automl import AutoMLSpec
from kepler.core.errors import BadParameter
from kepler.core.spec import FitSpec
from kepler.searchcommand.bridge import BridgeClient
from kepler.searchcommand.progress import DEFAULT_INTERVAL, JobWatch
from kepler.searchcommand.subcommand import Reply, Subcommand, Upload, info, rows_to_csv


class Fit(Subcommand):
    """Stream every chunk into one dataset, then train and answer with one row. After the
    last chunk each answer says ``finished: false`` and carries the job's progress, until
    the job ends (``JobWatch``)."""

    verb = "fit"

    def __init__(
        self,
        line: str,
        spec: FitSpec,
        options: Mapping[str, Any],
        bridge: BridgeClient,
        source: wire.SplunkSource,
        *,
        job_timeout: float = 3600.0,
        progress_interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self._stream(line, options, bridge, source, job_timeout, progress_interval)
        self.spec = spec
        self.into = spec.into
        if self.options.get("output") == "events" and not spec.into:
            raise BadParameter(
                "output=events needs `into <model>`: the events are scored by the new version"
            )
        # The bridge checks algorithm and parameters (plugins included) before data moves.
        bridge.json(
            "POST", wire.FIT_JOBS, params={"dry_run": "true"}, json_body=wire.FitJob(line=line)
        )

    def _stream(
        self,
        line: str,
        options: Mapping[str, Any],
        bridge: BridgeClient,
        source: wire.SplunkSource,
        job_timeout: float,
        progress_interval: float,
    ) -> None:
        """What every subcommand that trains on the search's events keeps: the line, the
        options, the bridge, the search's lineage and one dataset upload."""
        self.line = line
        self.options = dict(options)
        self.bridge = bridge
        self.source = source
        self.job_timeout = job_timeout
        self.progress_interval = progress_interval
        self.upload = Upload(bridge, source)
        self.dataset_id: str | None = None
        self.watch: JobWatch | None = None

    def execute(self, body: bytes, finished: bool) -> Reply:
        if self.watch is not None:  # splunkd asks again: the job's progress, or its end
            return self._follow(self.watch)
        self.upload.add(body)
        if not finished:
            return {"finished": False}, b""
        self.dataset_id = self.upload.complete(
            "the search returned no events to train on; check the search"
        )
        answer = self.bridge.json("POST", wire.jobs(self.verb), json_body=self._job())
        if self.options.get("async"):
            job = wire.JobView.from_dict(answer)
            row = {
                "job_id": job.id,
                "model": self.into,
                "state": job.state,
                "message": "queued; follow it with | kepler jobs",
            }
            return {"finished": True}, rows_to_csv([row])
        self.watch = JobWatch(
            self.bridge,
            answer,
            self.verb,
            timeout=self.job_timeout,
            interval=self.progress_interval,
        )
        return info(False, [self.watch.queued()]), b""

    def _job(self) -> wire.Body:
        return wire.FitJob(dataset_id=self.dataset_id, line=self.line)

    def _follow(self, watch: JobWatch) -> Reply:
        trail = watch.poll()
        if not watch.succeeded:
            return info(False, trail), b""
        return self._result(watch.job, trail)

    def _result(self, done: wire.JobView, trail: list[str]) -> Reply:
        result = done.outcome
        row = {
            "model": result.get("model"),
            "version": result.get("version"),
            "algorithm": result.get("algorithm"),
            "rows": result.get("rows"),
            "duration_s": done.duration_s,
            "run_id": result.get("run_id"),
            "job_id": done.id,
            **{k: v for k, v in sorted((result.get("metrics") or {}).items())},
        }
        messages = list(trail)
        forecast = result.get("forecast")
        if forecast is not None:
            # MLTK's forecasters answer with the series sorted by _time, the predictions
            # and their interval, and forecast_k rows after it.
            summary = ", ".join(f"{k}={v}" for k, v in row.items() if v is not None)
            messages.append(f"kepler fit: {summary}")
            return info(True, messages), rows_to_csv(forecast, exact=True)
        folds = result.get("folds") or []
        if folds and self.options.get("output") != "events":
            # kfold_cv: MLTK answers one row per fold with its scores.
            messages.append(
                f"kepler fit: {len(folds)} {result.get('split', 'random')}-ordered folds; "
                + ", ".join(f"mean {k}={v:.4g}" for k, v in sorted(row.items()) if _metric(k, v))
            )
            keep = {k: row[k] for k in ("model", "version", "job_id")}
            rows = [{**fold, "split": result.get("split"), **keep} for fold in folds]
            return _warned(info(True, messages), result), rows_to_csv(rows)
        if self.options.get("output") == "events":
            # MLTK's fit answers with the training events and their predictions.
            summary = ", ".join(f"{k}={v}" for k, v in row.items() if v is not None)
            messages.append(f"kepler fit: {summary}")
            _, events = self.bridge.request(
                "POST",
                wire.dataset_apply(str(self.dataset_id)),
                params=wire.DatasetApply(
                    model=f"{row['model']}@{row['version']}", output_name=self.spec.output_name
                ).to_params(),
                timeout=self.job_timeout,
            )
            return _warned(info(True, messages), result), events
        return _warned(info(True, messages), result), rows_to_csv([row])


def _warned(reply: dict[str, Any], result: Mapping[str, Any]) -> dict[str, Any]:
    """The fit's warnings (groups of a `by` model left untrained, ...) as WARN messages."""
    texts = [str(w) for w in result.get("warnings") or ()]
    if texts:
        messages = reply.setdefault("inspector", {}).setdefault("messages", [])
        messages.extend(["WARN", f"kepler fit: {t}"] for t in texts)
    return reply


def _metric(key: str, value: Any) -> bool:
    return key not in ("rows", "duration_s", "version") and isinstance(value, float)


class AutoML(Fit):
    """Stream every chunk into one dataset, search under the time budget over all workers,
    answer with the leaderboard (one row per finished trial, best first). Progress
    (trials done, best so far) comes back as the search's INFO messages while it runs."""

    verb = "automl"

    def __init__(
        self,
        line: str,
        spec: AutoMLSpec,
        options: Mapping[str, Any],
        bridge: BridgeClient,
        source: wire.SplunkSource,
        *,
        job_timeout: float = 3600.0,
        progress_interval: float = DEFAULT_INTERVAL,
    ) -> None:
        # The search runs its budget, then finalises: never give up before that.
        self._stream(
            line,
            options,
            bridge,
            source,
            max(job_timeout, 2 * spec.time_budget + 600),
            progress_interval,
        )
        self.automl_spec = spec
        self.into = spec.into
        # Options, metric and algorithms are checked before any event moves.
        bridge.json(
            "POST",
            wire.AUTOML_JOBS,
            params={"dry_run": "true"},
            json_body=wire.AutoMLJob(line=line),
        )

    def _job(self) -> wire.Body:
        return wire.AutoMLJob(dataset_id=self.dataset_id, line=self.line)

    def _result(self, done: wire.JobView, trail: list[str]) -> Reply:
        result = done.outcome
        counts = result.get("counts") or {}
        messages = [
            *trail,
            f"kepler automl: {result.get('algorithm')} won "
            f"({result.get('metric')}={result.get('best_cv_score')}); registered "
            f"{result.get('model')}@{result.get('version')}; {counts.get('complete', 0)} "
            f"trials complete, {counts.get('pruned', 0)} pruned, on "
            f"{len(result.get('workers') or [])} worker process(es)",
        ]
        rows: list[dict[str, Any]] = []
        for r in result.get("leaderboard") or []:
            rows.append(
                {
                    "rank": r["rank"],
                    "algorithm": r["algorithm"],
                    **{f"param.{k}": v for k, v in sorted((r.get("params") or {}).items())},
                    **{k: v for k, v in sorted((r.get("metrics") or {}).items())},
                    "fit_seconds": r.get("fit_seconds"),
                    "latency_ms_per_row": r.get("latency_ms_per_row"),
                    "model_mb": r.get("model_mb"),
                    "feasible": r.get("feasible"),
                    "violations": r.get("violations") or [],
                    "interactions": r.get("interactions"),
                    "select_percentile": r.get("select_percentile"),
                    "worker": r.get("worker"),
                    "model": result.get("model"),
                    "version": result.get("version") if r["rank"] == 1 else None,
                }
            )
        return info(True, messages), rows_to_csv(rows)
