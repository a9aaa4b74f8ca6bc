"""``kepler apply``: score each chunk as it passes (``Apply``), or hand the events to the
workers and write the scores through HEC (``AsyncApply``, ``async=t index=<index>``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kepler.core import wire
from kepler.core.errors import HecNotConfigured, InvalidSpec
from kepler.core.refs import ModelRef
from kepler.core.spec import ApplySpec
from kepler.searchcommand.bridge import BridgeClient
from kepler.searchcommand.subcommand import CSV, Reply, Subcommand, Upload, rows_to_csv

HEC_SETUP = (
    "fill in the HEC tab of Kepler's setup page (Apps > Kepler > Configuration > HEC), or set "
    "KEPLER_HEC_URL and KEPLER_HEC_TOKEN where the bridge runs"
)
CHUNKED_IDX = "_chunked_idx"


def _describe(bridge: BridgeClient, spec: ApplySpec) -> wire.ModelView:
    """The version every chunk of this search is scored by (its ``ref``), read at getinfo:
    an unknown model or version is refused before any event is sent."""
    return wire.ModelView.from_dict(bridge.json("GET", wire.model(spec.model)))


class Apply(Subcommand):
    """Score each chunk. Only the model's fields cross to the command and the bridge:
    getinfo names them as ``required_fields``, so splunkd sends those (plus
    ``_chunked_idx``) and merges the answer, ``_chunked_idx`` and the output fields, back
    into the full events. ``_raw`` and every other field never leave splunkd. With
    ``index=``, every field goes to the bridge, which writes whole events through HEC."""

    def __init__(self, spec: ApplySpec, bridge: BridgeClient, shadow: str | None = None) -> None:
        self.spec = spec
        self.bridge = bridge
        found = _describe(bridge, spec)
        self.pinned = found.ref
        features = [str(f) for f in found.features or []]
        self.shadow: str | None = None
        if shadow:  # shadow=pump@5: the challenger, pinned now as the champion is
            challenger = _describe(bridge, ApplySpec(ModelRef.parse(shadow)))
            self.shadow = challenger.ref
            features += [str(f) for f in challenger.features or [] if f not in features]
        self.required = features if spec.index is None and features else None
        if spec.index is not None:
            status = bridge.json("GET", wire.HEC, hec=True)
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
        relay = self.required is not None  # only the output fields come back
        options = wire.ModelApply(
            probabilities=self.spec.probabilities,
            output_name=self.spec.output_name,
            include_input=not relay,
            echo=CHUNKED_IDX if relay else None,
            index=self.spec.index,
            sourcetype=self.spec.sourcetype if self.spec.index is not None else None,
            shadow=self.shadow,
            **self.spec.options,
        )
        headers, scored = self.bridge.request(
            "POST",
            wire.apply(self.pinned),
            body=body,
            content_type=CSV,
            params=options.to_params(),
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


class AsyncApply(Subcommand):
    """``apply ... async=t index=<index>``: hand the events to the bridge and answer with a
    job id; a worker scores them and writes every row through HEC."""

    def __init__(
        self,
        spec: ApplySpec,
        bridge: BridgeClient,
        source: wire.SplunkSource,
        shadow: str | None = None,
    ) -> None:
        if spec.index is None:
            raise InvalidSpec(
                "async=t writes the scores to an index instead of returning them: add index=<index>"
            )
        self.spec = spec
        self.index: str = spec.index
        self.bridge = bridge
        self.pinned = _describe(bridge, spec).ref
        # shadow=pump@5: the challenger, pinned now as the champion is; the worker scores
        # every batch with both and sends the agreement as kepler:shadow events.
        self.shadow = _describe(bridge, ApplySpec(ModelRef.parse(shadow))).ref if shadow else None
        status = bridge.json("GET", wire.HEC)
        if not status.get("telemetry"):
            raise HecNotConfigured(
                "async=t writes the scores from Kepler's workers, through their own HEC "
                "settings: set KEPLER_HEC_URL and KEPLER_HEC_TOKEN where the bridge and "
                "workers run"
            )
        self.upload = Upload(bridge, source)

    def execute(self, body: bytes, finished: bool) -> Reply:
        self.upload.add(body)
        if not finished:
            return {"finished": False}, b""
        dataset_id = self.upload.complete("the search returned no events to score")
        answer = self.bridge.json(
            "POST",
            wire.APPLY_JOBS,
            json_body=wire.ApplyJob(
                dataset_id=dataset_id,
                model=self.pinned,
                index=self.index,
                sourcetype=self.spec.sourcetype,
                output_name=self.spec.output_name,
                probabilities=self.spec.probabilities,
                shadow=self.shadow,
            ),
        )
        job = wire.JobView.from_dict(answer)
        row = {
            "job_id": job.id,
            "model": job.spec["model"],
            "version": job.spec["version"],
            "rows": job.spec["rows"],
            "index": self.spec.index,
            "state": job.state,
            "message": "queued; the scores land in the index as the job runs: follow it with "
            "| kepler jobs",
        }
        return {"finished": True}, rows_to_csv([row])
