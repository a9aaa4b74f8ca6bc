"""The apply route's work: one chunk of Splunk's rows scored, answered, and written to an
index when asked. The route only translates the request to :func:`apply_chunk` and the
:class:`Applied` it returns to a response."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from kepler.core.errors import HecNotConfigured, KeplerError
from kepler.core.refs import ModelRef
from kepler.hec import HecSettings
from kepler.server.model_cache import ModelCache
from kepler.server.scoring._deliver import NOT_CONFIGURED, Delivered, deliver
from kepler.server.scoring._score import ScoreOptions, score
from kepler.server.scoring._tables import read_body, read_csv_for_model, write_body
from kepler.server.scoring.shadow import Shadow
from kepler.server.senders import SenderPool
from kepler.server.telemetry import Telemetry


@dataclass(frozen=True)
class Writeback:
    """Where the scored rows also go: a caller's HEC target (already allowed by
    ``senders.hec_target``), the index and the sourcetype of the events."""

    hec: HecSettings
    index: str
    sourcetype: str | None = None


@dataclass(frozen=True)
class Applied:
    body: bytes  # the scored rows, in the request's format
    version: int  # the version that scored them
    delivered: Delivered | None  # what went to HEC, with a Writeback
    shadow: dict[str, Any] | None = None  # the challenger's agreement (shadow=)


def apply_chunk(
    cache: ModelCache,
    telemetry: Telemetry,
    ref: ModelRef,
    fmt: str,
    body: bytes,
    options: ScoreOptions,
    *,
    writeback: Writeback | None = None,
    senders: SenderPool | None = None,
    user: str | None = None,
    shadow: ModelRef | None = None,
) -> Applied:
    """Score ``body`` (``fmt``: csv or arrow) with the registration ``ref`` names now, and
    record the batch (or its error) in telemetry for ``user``. With ``writeback`` the
    rows also go to HEC through a sender leased from ``senders`` (the process's pool).
    With ``shadow``, that version scores the rows too and its agreement with the champion
    goes to Splunk (:mod:`kepler.server.scoring.shadow`); the answer is the champion's."""
    lease = None
    if writeback is not None:
        if senders is None:
            raise ValueError("writing scores back needs the process's sender pool")
        lease = senders.lease(writeback.hec)
        if lease is None:
            raise HecNotConfigured(NOT_CONFIGURED)
    started = time.perf_counter()
    try:
        # Resolved on every call, even a pinned version: see model_cache's docstring.
        resolved, model = cache.fetch(ref)
        name, number = resolved.name, resolved.version
        options = replace(options, model_name=name)
        # A challenger may need fields the champion does not: read them all.
        table = read_body(fmt, body) if shadow is not None else _read(fmt, body, model[1], options)
        challenger = None
        if shadow is not None:
            challenger = Shadow(cache, telemetry, (name, number), shadow, user=user)
        scored = score(model, table, options, shadow=challenger)
        delivered = None
        if lease is not None and writeback is not None:
            delivered = deliver(
                lease.sender,
                scored,
                index=writeback.index,
                sourcetype=writeback.sourcetype,
                source=f"kepler:apply:{name}@{number}",
            )
        telemetry.apply_batch(
            name, number, rows=table.num_rows, latency_s=time.perf_counter() - started, user=user
        )
        shadowed = challenger.last if challenger is not None else None
        return Applied(write_body(fmt, scored), number, delivered, shadowed)
    except KeplerError as exc:
        telemetry.apply_batch(
            ref.name,
            ref.version,
            rows=0,
            latency_s=time.perf_counter() - started,
            errors=1,
            error=exc.message,
            user=user,
        )
        raise
    finally:
        if lease is not None:
            lease.release()  # the sender may be closed once no request uses it


def _read(fmt: str, body: bytes, meta: Any, options: ScoreOptions) -> Any:
    if fmt == "csv" and not options.include_input:  # only the model's fields need reading
        return read_csv_for_model(body, meta, options.echo)
    return read_body(fmt, body)
