"""``kepler apply``: score each chunk as it passes (``Apply``; a forecaster's series
whole, at the last chunk), or hand the events to the workers and write the scores through
HEC (``AsyncApply``, ``async=t index=<index>``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from kepler.core import wire
from kepler.core.errors import BadParameter, DataError, HecNotConfigured, InvalidSpec
from kepler.core.refs import ModelRef
from kepler.core.spec import APPLY_FORECAST_OPTIONS, ApplySpec
from kepler.searchcommand.bridge import BridgeClient
from kepler.searchcommand.subcommand import CSV, Reply, Subcommand, Upload, rows_to_csv

HEC_SETUP = (
    "fill in the HEC tab of Kepler's setup page (Apps > Kepler > Configuration > HEC), or set "
    "KEPLER_HEC_URL and KEPLER_HEC_TOKEN where the bridge runs"
)
CHUNKED_IDX = "_chunked_idx"
# What a DensityFunction model was fitted with when its line named no dist= or metric=.
DISCARDED_DEFAULTS = {"dist": "auto", "metric": "wasserstein"}
TIME = "_time"
# What a forecaster's apply keeps while the search's events arrive (SeriesBuffer).
MAX_SERIES_ROWS = 50_000  # kepler.ml.forecast.MAX_SERIES_ROWS
MAX_SERIES_BYTES = 256 * 1024 * 1024


def _describe(bridge: BridgeClient, spec: ApplySpec) -> wire.ModelView:
    """The version every chunk of this search is scored by (its ``ref``), read at getinfo:
    an unknown model or version is refused before any event is sent."""
    return wire.ModelView.from_dict(bridge.json("GET", wire.model(spec.model)))


class Apply(Subcommand):
    """Score each chunk. Only the model's fields cross to the command and the bridge:
    getinfo names them as ``required_fields``, so splunkd sends those (plus
    ``_chunked_idx``) and merges the answer, ``_chunked_idx`` and the output fields, back
    into the full events. ``_raw`` and every other field never leave splunkd. With
    ``index=``, every field goes to the bridge, which writes whole events through HEC.

    A forecaster (StateSpaceForecast, ARIMA) runs over the search's whole series, as
    MLTK's apply does: the events pass whole (rows may be added, so nothing is merged
    back by ``_chunked_idx``) and wait in :class:`SeriesBuffer`; earlier chunks are
    answered with no rows, and the last one with every event and its outputs, then the
    ``forecast_k`` rows after them, all from one bridge request."""

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
        self.features = features
        _check_forecast_options(spec, found)
        # MLTK's apply keeps the fitted dist= and metric=, and says so.
        if spec.discarded and found.algorithm != "DensityFunction":
            key = next(iter(spec.discarded))
            raise BadParameter(
                f"{key}= applies to DensityFunction models (and only at fit); {found.name} is "
                f"a {found.algorithm}: drop {key}=",
                detail={"parameter": key},
            )
        self.warnings = [
            f'Invalid parameter for apply: Discarding "{key}" value. Using '
            f"{key}={(found.params or {}).get(key, DISCARDED_DEFAULTS[key])}."
            for key in spec.discarded
        ]
        forecaster = found.task == "forecaster"
        self.series = SeriesBuffer(found.algorithm or found.name) if forecaster else None
        relay = spec.index is None and features and self.series is None
        self.required = features if relay else None
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
        if self.series is not None:
            self.series.add(body)
            if not finished:  # a stateful command may answer a chunk with no rows
                return {"finished": False}, b""
            return self._score_series(self.series.rows)
        if not body or body.isspace():  # no copy of a 20 MB chunk just to test it
            return {"finished": finished}, b""
        return self._score(body, finished)

    def _score(self, body: bytes, finished: bool, *, outputs_only: bool = False) -> Reply:
        relay = self.required is not None  # only the output fields come back
        options = wire.ModelApply(
            probabilities=self.spec.probabilities,
            output_name=self.spec.output_name,
            include_input=not relay and not outputs_only,
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
        warnings, self.warnings = self.warnings + warnings, []  # the first chunk says them
        if warnings:
            reply["inspector"] = {"messages": [["WARN", text] for text in warnings]}
        return reply, scored

    def _score_series(self, rows: list[dict[str, str]]) -> Reply:
        """A forecaster's answer: the events in their order with the outputs, then the
        rows after them. Only the model's fields go to the bridge, except with ``index=``
        (whole events, written through HEC; forecast_k is refused there)."""
        if self.spec.index is not None:
            return self._score(rows_to_csv(rows), True) if rows else ({"finished": True}, b"")
        if not rows and "forecast_k" not in self.spec.options:
            return {"finished": True}, b""
        header = {k for row in rows[:1] for k in row}
        sent = [f for f in self.features if f in header] or [self.features[0]]
        # no events: one stand-in with no value asks for the rows after the trained series
        projected = [{f: row.get(f, "") for f in sent} for row in rows] or [{sent[0]: ""}]
        reply, answer = self._score(rows_to_csv(projected), True, outputs_only=True)
        scored = _csv_rows(answer)
        if not rows:
            return reply, rows_to_csv(scored[1:])
        if len(scored) < len(rows):
            raise DataError(
                f"the bridge answered {len(scored)} rows for {len(rows)} events; "
                "apply again, and report it if it persists"
            )
        merged = []
        for row, out in zip(rows, scored):
            merged.append({**row, **{k: v for k, v in out.items() if k != TIME}})
        return reply, rows_to_csv(merged + scored[len(rows) :])


class SeriesBuffer:
    """A forecaster's events, whole and in order, until the search's last chunk: at most
    the rows a forecaster runs over (kepler.ml.forecast.MAX_SERIES_ROWS) and
    MAX_SERIES_BYTES of Splunk's CSV."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self.rows: list[dict[str, str]] = []
        self.size = 0

    def add(self, body: bytes) -> None:
        if not body or body.isspace():
            return
        self.size += len(body)
        rows = _csv_rows(body)
        if len(self.rows) + len(rows) > MAX_SERIES_ROWS or self.size > MAX_SERIES_BYTES:
            raise DataError(
                f"{self.algorithm} runs over the search's whole series at once: at most "
                f"{MAX_SERIES_ROWS:,} events and {MAX_SERIES_BYTES // (1024 * 1024)} MiB; this "
                "search returns more. Aggregate it first, e.g. `| timechart span=1h "
                "avg(<field>) AS <field>`, or narrow the time range"
            )
        self.rows.extend(rows)


def _csv_rows(body: bytes) -> list[dict[str, Any]]:
    if not body.strip():
        return []
    return list(csv.DictReader(io.StringIO(body.decode("utf-8", "replace"))))


def _check_forecast_options(spec: ApplySpec, found: wire.ModelView) -> None:
    """A forecaster's apply options go to forecasters, and forecast_k's rows to the
    search's results (not through index=)."""
    given = [k for k in APPLY_FORECAST_OPTIONS if k in spec.options]
    if not given:
        return
    if found.task != "forecaster":
        raise BadParameter(
            f"{given[0]}= applies to forecasters (StateSpaceForecast, ARIMA); {found.name} is "
            f"a {found.algorithm}: drop {given[0]}=",
            detail={"parameter": given[0]},
        )
    if "forecast_k" in given and spec.index is not None:
        raise InvalidSpec(
            "forecast_k= adds forecast rows to the search's results; it does not go with "
            "index= (apply without index=, then `| collect` the rows you want kept)"
        )


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
        given = [k for k in APPLY_FORECAST_OPTIONS if k in spec.options]
        if given:
            raise InvalidSpec(f"{given[0]}= is not taken with async=t: apply without async=t")
        self.spec = spec
        self.index: str = spec.index
        self.bridge = bridge
        found = _describe(bridge, spec)
        if found.task == "forecaster":
            raise InvalidSpec(
                f"async=t scores the events in batches on the workers, and {found.algorithm} "
                "runs over the whole series at once: apply it without async=t (index= "
                "works there, or `| collect index=<index>` after it)"
            )
        self.pinned = found.ref
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
