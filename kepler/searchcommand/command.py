"""The ``kepler`` command's subcommands: what each answers at getinfo and per chunk.

``fit``, ``automl`` and ``apply`` relay each chunk's CSV body to the bridge as bytes; ``models``,
``summary``, ``jobs``, ``cancel`` and ``deletemodel`` generate rows from the bridge's answers.
"""

from __future__ import annotations

import csv
import io
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from kepler.core.automl import AutoMLSpec
from kepler.core.errors import (
    BadParameter,
    DataError,
    HecNotConfigured,
    InvalidSpec,
)
from kepler.core.params import Param, coerce
from kepler.core.refs import ModelRef
from kepler.core.spec import ApplySpec, DeleteModelSpec, FitSpec, SummarySpec, parse
from kepler.searchcommand.bridge import BridgeClient
from kepler.searchcommand.progress import DEFAULT_INTERVAL, JobWatch

CSV = "text/csv"
# Options of the command itself, taken out before the spec line is parsed.
COMMAND_OPTIONS: dict[str, dict[str, Param]] = {
    "fit": {
        "async": Param("async", "bool"),
        "output": Param("output", "str", choices=("model", "events")),
    },
    "automl": {"async": Param("async", "bool")},
    "apply": {"async": Param("async", "bool")},
    "jobs": {
        "limit": Param("limit", "int", minimum=1, maximum=1000),
        "status": Param(
            "status", "str", choices=("queued", "running", "succeeded", "failed", "cancelled")
        ),
    },
}
USAGE = (
    "usage: kepler fit|apply|automl|summary|models|deletemodel|jobs|cancel ...; "
    "e.g. | kepler fit RandomForestClassifier failure from temp vibration into pump"
)

Reply = tuple[dict[str, Any], bytes]


def rows_to_csv(rows: list[dict[str, Any]]) -> bytes:
    """Rows as Splunk reads them: a header of every field seen, ``\\r\\n`` line endings."""
    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue().encode("utf-8")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "\n".join(str(v) for v in value)  # a multivalue field, as Splunk shows it
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def split_options(args: list[str], verb: str) -> tuple[list[str], dict[str, Any]]:
    """Take the command's own ``key=value`` options out of ``args``."""
    declared = COMMAND_OPTIONS.get(verb, {})
    rest: list[str] = []
    options: dict[str, Any] = {}
    for arg in args:
        key, eq, value = arg.partition("=")
        if eq and key.lower() in declared:
            options[key.lower()] = coerce(declared[key.lower()], value.strip('"'))
        else:
            rest.append(arg)
    return rest, options


class Subcommand:
    """One subcommand's answers. ``getinfo`` may call the bridge to refuse bad input
    before any data moves."""

    def getinfo(self) -> dict[str, Any]:
        return {"type": "stateful"}

    def execute(self, body: bytes, finished: bool) -> Reply:  # pragma: no cover - abstract
        raise NotImplementedError


class Generating(Subcommand):
    def __init__(self, produce: Callable[[], list[dict[str, Any]]]) -> None:
        self._produce = produce

    def getinfo(self) -> dict[str, Any]:
        return {"type": "stateful", "generating": True}

    def execute(self, body: bytes, finished: bool) -> Reply:
        return {"finished": True}, rows_to_csv(self._produce())


HEC_SETUP = (
    "fill in the HEC tab of Kepler's setup page (Apps > Kepler > Configuration > HEC), or set "
    "KEPLER_HEC_URL and KEPLER_HEC_TOKEN where the bridge runs"
)


def _describe(bridge: BridgeClient, spec: ApplySpec) -> dict[str, Any]:
    """Refuse an unknown model or version now, before any event is sent."""
    return bridge.json("GET", f"/v1/models/{urllib.parse.quote(str(spec.model), safe='@:')}")


def _pin(found: dict[str, Any]) -> str:
    """The version every chunk of this search is scored by (from :func:`_describe`, at
    getinfo)."""
    return f"{found['name']}@{found['version']}"


CHUNKED_IDX = "_chunked_idx"


class Apply(Subcommand):
    """Score each chunk. Only the model's fields cross to the command and the bridge:
    getinfo names them as ``required_fields``, so splunkd sends those (plus
    ``_chunked_idx``) and merges the answer, ``_chunked_idx`` and the output fields, back
    into the full events. ``_raw`` and every other field never leave splunkd. With
    ``index=``, every field goes to the bridge, which writes whole events through HEC."""

    def __init__(self, spec: ApplySpec, bridge: BridgeClient) -> None:
        self.spec = spec
        self.bridge = bridge
        found = _describe(bridge, spec)
        self.pinned = _pin(found)
        features = [str(f) for f in found.get("features") or []]
        self.required = features if spec.index is None and features else None
        if spec.index is not None:
            status = bridge.json("GET", "/v1/hec", hec=True)
            if not status.get("configured"):
                raise HecNotConfigured(f"index= writes each score through HEC: {HEC_SETUP}")

    def getinfo(self) -> dict[str, Any]:
        info: dict[str, Any] = {"type": "stateful"}
        if self.required is not None:
            info["required_fields"] = self.required
        return info

    def execute(self, body: bytes, finished: bool) -> Reply:
        if not body or body.isspace():  # no copy of a 20 MB chunk just to test it
            return {"finished": finished}, b""
        params: dict[str, Any] = {"include_input": "true", "as": self.spec.output_name}
        if self.required is not None:
            params.update(include_input="false", echo=CHUNKED_IDX)
        if self.spec.probabilities is not None:
            params["probabilities"] = str(self.spec.probabilities).lower()
        if self.spec.index is not None:
            params["index"] = self.spec.index
            params["sourcetype"] = self.spec.sourcetype
        headers, scored = self.bridge.request(
            "POST",
            f"/v1/models/{urllib.parse.quote(self.pinned, safe='@:')}/apply",
            body=body,
            content_type=CSV,
            params=params,
            hec=self.spec.index is not None,
        )
        reply: dict[str, Any] = {"finished": finished}
        warnings = _hec_warnings({k.lower(): v for k, v in headers.items()})
        if warnings:
            reply["inspector"] = {"messages": [["WARN", text] for text in warnings]}
        return reply, scored


def _hec_warnings(headers: Mapping[str, str]) -> list[str]:
    out = []
    queued = int(headers.get("x-kepler-hec-queued") or 0)
    rejected = int(headers.get("x-kepler-hec-rejected") or 0)
    if queued:
        out.append(
            f"kepler apply: HEC is unreachable; {queued} scores wait in the bridge's disk queue "
            "and are sent when it answers again"
        )
    if rejected:
        out.append(
            f"kepler apply: HEC refused {rejected} scores as bad data (the bridge's log names "
            "them); check that the index exists and is allowed for the HEC token"
        )
    return out


class _Upload:
    """The search's events, chunk by chunk, into one dataset on the bridge."""

    def __init__(self, bridge: BridgeClient, source: dict[str, Any]) -> None:
        self.bridge = bridge
        self.source = source
        self.dataset_id: str | None = None
        self.chunks = 0

    def add(self, body: bytes) -> None:
        if not body or body.isspace():
            return
        if self.dataset_id is None:
            created = self.bridge.json(
                "POST", "/v1/datasets", json_body={"format": "csv", "source": self.source}
            )
            self.dataset_id = str(created["id"])
        self.bridge.request(
            "PUT",
            f"/v1/datasets/{self.dataset_id}/chunks/{self.chunks}",
            body=body,
            content_type=CSV,
        )
        self.chunks += 1

    def complete(self, empty_message: str) -> str:
        if self.dataset_id is None:
            raise DataError(empty_message)
        self.bridge.json(
            "POST", f"/v1/datasets/{self.dataset_id}/complete", json_body={"chunks": self.chunks}
        )
        return self.dataset_id


class AsyncApply(Subcommand):
    """``apply ... async=t index=<index>``: hand the events to the bridge and answer with a
    job id; a worker scores them and writes every row through HEC."""

    def __init__(self, spec: ApplySpec, bridge: BridgeClient, source: dict[str, Any]) -> None:
        if spec.index is None:
            raise InvalidSpec(
                "async=t writes the scores to an index instead of returning them: add index=<index>"
            )
        self.spec = spec
        self.bridge = bridge
        self.pinned = _pin(_describe(bridge, spec))
        status = bridge.json("GET", "/v1/hec")
        if not status.get("telemetry"):
            raise HecNotConfigured(
                "async=t writes the scores from Kepler's workers, through their own HEC "
                "settings: set KEPLER_HEC_URL and KEPLER_HEC_TOKEN where the bridge and "
                "workers run"
            )
        self.upload = _Upload(bridge, source)

    def execute(self, body: bytes, finished: bool) -> Reply:
        self.upload.add(body)
        if not finished:
            return {"finished": False}, b""
        dataset_id = self.upload.complete("the search returned no events to score")
        job = self.bridge.json(
            "POST",
            "/v1/jobs/apply",
            json_body={
                "dataset_id": dataset_id,
                "model": self.pinned,
                "index": self.spec.index,
                "sourcetype": self.spec.sourcetype,
                "output_name": self.spec.output_name,
                "probabilities": self.spec.probabilities,
            },
        )
        row = {
            "job_id": job["id"],
            "model": job["spec"]["model"],
            "version": job["spec"]["version"],
            "rows": job["spec"]["rows"],
            "index": self.spec.index,
            "state": job["state"],
            "message": "queued; the scores land in the index as the job runs: follow it with "
            "| kepler jobs",
        }
        return {"finished": True}, rows_to_csv([row])


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
        source: dict[str, Any],
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
        bridge.json("POST", "/v1/jobs/fit", params={"dry_run": "true"}, json_body={"line": line})

    def _stream(
        self,
        line: str,
        options: Mapping[str, Any],
        bridge: BridgeClient,
        source: dict[str, Any],
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
        self.upload = _Upload(bridge, source)
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
        job = self.bridge.json(
            "POST",
            f"/v1/jobs/{self.verb}",
            json_body={"dataset_id": self.dataset_id, "line": self.line},
        )
        if self.options.get("async"):
            row = {
                "job_id": job["id"],
                "model": self.into,
                "state": job["state"],
                "message": "queued; follow it with | kepler jobs",
            }
            return {"finished": True}, rows_to_csv([row])
        self.watch = JobWatch(
            self.bridge,
            job,
            self.verb,
            timeout=self.job_timeout,
            interval=self.progress_interval,
        )
        return _info(False, [self.watch.queued()]), b""

    def _follow(self, watch: JobWatch) -> Reply:
        trail = watch.poll()
        if not watch.succeeded:
            return _info(False, trail), b""
        return self._result(watch.job, trail)

    def _result(self, done: dict[str, Any], trail: list[str]) -> Reply:
        result = done.get("result") or {}
        row = {
            "model": result.get("model"),
            "version": result.get("version"),
            "algorithm": result.get("algorithm"),
            "rows": result.get("rows"),
            "duration_s": done.get("duration_s"),
            "run_id": result.get("run_id"),
            "job_id": done["id"],
            **{k: v for k, v in sorted((result.get("metrics") or {}).items())},
        }
        messages = list(trail)
        if self.options.get("output") == "events":
            # MLTK's fit answers with the training events and their predictions.
            summary = ", ".join(f"{k}={v}" for k, v in row.items() if v is not None)
            messages.append(f"kepler fit: {summary}")
            _, events = self.bridge.request(
                "POST",
                f"/v1/datasets/{self.dataset_id}/apply",
                params={"model": f"{row['model']}@{row['version']}", "as": self.spec.output_name},
                timeout=self.job_timeout,
            )
            return _info(True, messages), events
        return _info(True, messages), rows_to_csv([row])


def _info(finished: bool, texts: list[str]) -> dict[str, Any]:
    """A reply's metadata, with ``texts`` as INFO messages when there are any."""
    reply: dict[str, Any] = {"finished": finished}
    if texts:
        reply["inspector"] = {"messages": [["INFO", text] for text in texts]}
    return reply


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
        source: dict[str, Any],
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
        bridge.json("POST", "/v1/jobs/automl", params={"dry_run": "true"}, json_body={"line": line})

    def _result(self, done: dict[str, Any], trail: list[str]) -> Reply:
        result = done.get("result") or {}
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
        return _info(True, messages), rows_to_csv(rows)


def _model_rows(bridge: BridgeClient) -> list[dict[str, Any]]:
    rows = []
    for v in bridge.json("GET", "/v1/models", params={"versions": "true"}):
        rows.append(
            {
                "model": v["name"],
                "version": v["version"],
                "latest": v["latest"],
                "aliases": v.get("aliases") or [],
                "algorithm": v.get("algorithm"),
                "task": v.get("task"),
                **{k: val for k, val in sorted((v.get("metrics") or {}).items())},
                "created": v.get("created"),
                "created_by": v.get("user"),
                "run_id": v.get("run_id"),
            }
        )
    return rows


def _summary_rows(bridge: BridgeClient, ref: ModelRef) -> list[dict[str, Any]]:
    """MLTK's summary shape: one row per feature with its importance or coefficient, the
    model's parameters and metrics on every row."""
    quoted = urllib.parse.quote(str(ref), safe="@:")
    d = bridge.json("GET", f"/v1/models/{quoted}")
    common = {
        "model": d["name"],
        "version": d["version"],
        "algorithm": d.get("algorithm"),
        "target": d.get("target"),
        "created_by": d.get("user"),
        **{f"param.{k}": v for k, v in sorted((d.get("params") or {}).items())},
        **{f"metric.{k}": v for k, v in sorted((d.get("metrics") or {}).items())},
    }
    explained = d.get("coefficients") or d.get("importances") or []
    if not explained:
        return [{**common, "feature": ",".join(d.get("features") or [])}]
    rows = []
    for item in explained:
        row = {**common, "feature": item["feature"]}
        for key in ("importance", "coefficient", "class"):
            if key in item:
                row[key] = item[key]
        rows.append(row)
    return rows


def _job_rows(bridge: BridgeClient, options: Mapping[str, Any]) -> list[dict[str, Any]]:
    params = {"limit": options.get("limit", 100), "status": options.get("status")}
    return [_job_row(j) for j in bridge.json("GET", "/v1/jobs", params=params)]


def _job_row(j: Mapping[str, Any]) -> dict[str, Any]:
    result, error = j.get("result") or {}, j.get("error") or {}
    return {
        "job_id": j["id"],
        "kind": j["kind"],
        "state": j["state"],
        "progress": round(100 * float(j.get("progress") or 0)),
        "message": j.get("message"),
        "model": j.get("model"),
        "version": result.get("version"),
        "error": error.get("message"),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(j["created_at"])),
        "duration_s": j.get("duration_s"),
        "worker": j.get("worker"),
        "user": j.get("user"),
        "attempts": j.get("attempts"),
    }


JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _cancel_target(rest: list[str]) -> str:
    """The one job id ``cancel`` takes, checked before the bridge is asked."""
    if len(rest) != 1 or not JOB_ID.fullmatch(rest[0]):
        got = " ".join(rest) or "nothing"
        raise InvalidSpec(
            f"cancel takes one job id, e.g. | kepler cancel 3f9c...; got {got!r} "
            "(the ids are in the job_id field of | kepler jobs)"
        )
    return rest[0]


def build(
    searchinfo: Mapping[str, Any],
    bridge_factory: Callable[[], BridgeClient],
    *,
    job_timeout: float = 3600.0,
    progress_interval: float = DEFAULT_INTERVAL,
) -> Subcommand:
    """The subcommand for this search's arguments (checked now: getinfo time)."""
    raw = [str(a) for a in (searchinfo.get("raw_args") or searchinfo.get("args") or [])]
    if not raw:
        raise InvalidSpec(USAGE)
    verb = raw[0].lower()
    rest, options = split_options(raw[1:], verb)
    if verb == "jobs":
        if rest:
            raise InvalidSpec(f"jobs takes only limit= and status=; got {' '.join(rest)!r}")
        jobs = _job_rows(bridge_factory(), options)  # at getinfo: bridge errors surface now
        return Generating(lambda: jobs)
    if verb == "cancel":
        job_id = _cancel_target(rest)
        cancel_bridge = bridge_factory()
        cancel_bridge.json("GET", f"/v1/jobs/{job_id}")  # at getinfo: an unknown id fails now
        return Generating(lambda: [_job_row(cancel_bridge.json("DELETE", f"/v1/jobs/{job_id}"))])
    line = " ".join([verb, *rest])
    spec = parse(line, allow_unknown=True)
    bridge = bridge_factory()
    waits = {"job_timeout": job_timeout, "progress_interval": progress_interval}
    if isinstance(spec, FitSpec):
        return Fit(line, spec, options, bridge, _source(searchinfo), **waits)
    if isinstance(spec, AutoMLSpec):
        return AutoML(line, spec, options, bridge, _source(searchinfo), **waits)
    if isinstance(spec, ApplySpec):
        if options.get("async"):
            return AsyncApply(spec, bridge, _source(searchinfo))
        return Apply(spec, bridge)
    if isinstance(spec, SummarySpec):
        rows = _summary_rows(bridge, spec.model)  # now: an unknown model fails at getinfo
        return Generating(lambda: rows)
    if isinstance(spec, DeleteModelSpec):
        bridge.json("GET", f"/v1/models/{urllib.parse.quote(spec.model)}")  # exists?
        return Generating(lambda: [_delete(bridge, spec.model)])
    models = _model_rows(bridge)
    return Generating(lambda: models)


def _delete(bridge: BridgeClient, name: str) -> dict[str, Any]:
    bridge.json("DELETE", f"/v1/models/{urllib.parse.quote(name)}")
    return {"model": name, "deleted": True, "message": "every version was deleted"}


def _source(searchinfo: Mapping[str, Any]) -> dict[str, Any]:
    """The search that produced the training events, for MLflow's lineage."""
    search = urllib.parse.unquote(str(searchinfo.get("search") or ""))
    source = {
        "search": search[:4000] or None,
        "earliest": str(searchinfo.get("earliest_time") or "") or None,
        "latest": str(searchinfo.get("latest_time") or "") or None,
        "sid": str(searchinfo.get("sid") or "") or None,
    }
    return {k: v for k, v in source.items() if v is not None}
