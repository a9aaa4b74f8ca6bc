"""Kepler's own events and metrics into Splunk: fits, model versions, job states, apply batches.

Each bridge or worker process sends through its own :class:`~kepler.hec.HecSender` for its
``KEPLER_HEC_*`` settings (``SenderPool.own`` of :mod:`kepler.server.senders`); without
them every call here does nothing. Events go to ``KEPLER_HEC_INDEX`` with sourcetypes
``kepler:job``, ``kepler:fit``, ``kepler:model``, ``kepler:apply`` and ``kepler:audit``
(deletions other than a model's), each naming the ``user`` it acted for; metrics are HEC
metric events (``"event": "metric"``, one ``metric_name:<name>`` field per measure) to
``KEPLER_HEC_METRICS_INDEX``. Telemetry never fails the work it describes: a sender error
is logged and the work goes on.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Mapping
from typing import Any

from kepler.hec import HecSettings, make_event
from kepler.server.senders import SenderPool

__all__ = ["Telemetry", "disabled"]
log = logging.getLogger("kepler.telemetry")
SOURCE = "kepler"


class Telemetry:
    """What the bridge and the workers report; a no-op when HEC is not configured."""

    def __init__(self, settings: HecSettings, *, component: str, senders: SenderPool) -> None:
        self.settings = settings
        self.senders = senders
        self.component = component
        self.host = settings.host or socket.gethostname()

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    def event(self, sourcetype: str, data: Mapping[str, Any]) -> None:
        self._send(
            make_event(
                {"component": self.component, **data},
                time=time.time(),
                host=self.host,
                source=SOURCE,
                sourcetype=sourcetype,
                index=self.settings.index,
            )
        )

    def metrics(self, values: Mapping[str, Any], dimensions: Mapping[str, Any]) -> None:
        """One HEC metric event with several measures (Splunk's multiple-metric format)."""
        fields: dict[str, Any] = {
            str(k): str(v) for k, v in dimensions.items() if v is not None and v != ""
        }
        fields["component"] = self.component
        for name, value in values.items():
            if value is not None:
                fields[f"metric_name:{name}"] = float(value)
        self._send(
            make_event(
                "metric",
                time=time.time(),
                host=self.host,
                source=SOURCE,
                sourcetype="kepler:metrics",
                index=self.settings.metrics_index,
                fields=fields,
            )
        )

    def job(self, job: Any) -> None:
        """A job's state change (queued, running, succeeded, failed)."""
        data = job.to_dict() if hasattr(job, "to_dict") else dict(job)
        self.event(
            "kepler:job",
            {
                "job_id": data.get("id"),
                "kind": data.get("kind"),
                "state": data.get("state"),
                "model": data.get("model"),
                "message": data.get("message"),
                "duration_s": data.get("duration_s"),
                "worker": data.get("worker"),
                "user": data.get("user"),
                "error": (data.get("error") or {}).get("message"),
                "error_code": (data.get("error") or {}).get("code"),
            },
        )

    def fit(self, job_id: str, result: Mapping[str, Any], duration_s: float | None) -> None:
        metrics = dict(result.get("metrics") or {})
        self.event(
            "kepler:fit",
            {
                "job_id": job_id,
                "model": result.get("model"),
                "version": result.get("version"),
                "algorithm": result.get("algorithm"),
                "rows": result.get("rows"),
                "duration_s": duration_s,
                "metrics": metrics,
                "user": result.get("user"),
            },
        )
        if result.get("version") is not None:
            self.event(
                "kepler:model",
                {
                    "action": "version_created",
                    "model": result.get("model"),
                    "version": result.get("version"),
                    "algorithm": result.get("algorithm"),
                    "run_id": result.get("run_id"),
                    "job_id": job_id,
                    "user": result.get("user"),
                },
            )
        numeric = {
            f"kepler.fit.{k}": v
            for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
        self.metrics(
            {"kepler.fit.rows": result.get("rows"), "kepler.fit.duration_s": duration_s, **numeric},
            {"model": result.get("model"), "version": result.get("version")},
        )

    def apply_batch(
        self,
        model: str | None,
        version: int | None,
        *,
        rows: int,
        latency_s: float,
        errors: int = 0,
        error: str | None = None,
        mode: str = "sync",
        user: str | None = None,
        requests: int | None = None,
    ) -> None:
        """``mode``: sync (``/apply``), async, scheduled or online (``/predict``: one event
        per micro-batch, ``requests`` the requests it answered)."""
        dims = {"model": model, "version": version, "mode": mode}
        data: dict[str, Any] = {
            **dims,
            "user": user,
            "rows": rows,
            "latency_ms": round(latency_s * 1000, 3),
            "errors": errors,
            "error": error,
        }
        if requests is not None:
            data["requests"] = requests
        self.event("kepler:apply", data)
        self.metrics(
            {
                "kepler.apply.rows": rows,
                "kepler.apply.latency_ms": latency_s * 1000,
                "kepler.apply.errors": errors,
            },
            dims,
        )

    def deletion(self, record: Mapping[str, Any]) -> None:
        """A deletion (kepler.server.stores.jobs.JobStore.record_deletion): a model's goes out as
        a ``kepler:model`` event (``action=deleted``), anything else as ``kepler:audit``."""
        kind = record.get("kind")
        data = {
            "action": "deleted",
            "kind": kind,
            "user": record.get("user"),
            "roles": list(record.get("roles") or []),
            **({"model": record.get("name")} if kind == "model" else {"name": record.get("name")}),
            **dict(record.get("detail") or {}),
        }
        self.event("kepler:model" if kind == "model" else "kepler:audit", data)

    def aliased(self, model: str, alias: str, version: int, *, user: str | None) -> None:
        self.event(
            "kepler:model",
            {
                "action": "alias_set",
                "model": model,
                "alias": alias,
                "version": version,
                "user": user,
            },
        )

    def flush(self, timeout: float = 10.0) -> None:
        """Before a worker's task returns: its events are in Splunk or in the disk queue."""
        sender = self.senders.own(self.settings)
        if sender is not None:
            sender.flush(timeout)

    def _send(self, event: Any) -> None:
        try:
            sender = self.senders.own(self.settings)
            if sender is not None:
                sender.send(event)
        except Exception as exc:  # telemetry must never fail the work it reports on
            log.warning("Kepler telemetry to HEC failed: %s", exc)


_NOOP = HecSettings(url="", token=None)


def disabled(component: str) -> Telemetry:
    return Telemetry(_NOOP, component=component, senders=SenderPool())
