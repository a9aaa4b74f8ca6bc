"""``| kepler reproduce pump@3 [force=true]``: retrain a version from what it recorded into a
new version, then answer one row per compared item.

A generating subcommand that starts a job: the version is checked at getinfo, the job is
queued at the first execute, and the answers follow it (``JobWatch``, as ``fit`` does)
until its comparison becomes the search's rows. ``force=true`` goes ahead when the
worker's package versions differ from the recorded ones; the difference is recorded on
the new version and shown in the rows.
"""

from __future__ import annotations

from typing import Any

from kepler.core import wire
from kepler.core.errors import InvalidSpec
from kepler.core.params import Param
from kepler.core.refs import ModelRef
from kepler.searchcommand.bridge import BridgeClient
from kepler.searchcommand.progress import DEFAULT_INTERVAL, JobWatch
from kepler.searchcommand.subcommand import Reply, Subcommand, info, rows_to_csv

VERB = "reproduce"
USAGE = "reproduce <model>@<version> [force=true], e.g. | kepler reproduce pump@3"
OPTIONS = {"force": Param("force", "bool")}


def target(args: list[str]) -> ModelRef:
    if len(args) != 1:
        got = " ".join(args) or "nothing"
        raise InvalidSpec(f"{VERB} takes {USAGE}; got {got!r}")
    return ModelRef.parse(args[0])


class Reproduce(Subcommand):
    def __init__(
        self,
        args: list[str],
        options: dict[str, Any],
        bridge: BridgeClient,
        *,
        job_timeout: float = 3600.0,
        progress_interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self.ref = target(args)
        self.force = bool(options.get("force"))
        self.bridge = bridge
        self.job_timeout = job_timeout
        self.progress_interval = progress_interval
        self.watch: JobWatch | None = None
        bridge.json("GET", wire.model(self.ref))  # an unknown version fails now

    def getinfo(self) -> dict[str, Any]:
        return {"type": "stateful", "generating": True}

    def execute(self, body: bytes, finished: bool) -> Reply:
        if self.watch is None:  # the first ask: queue the job (refusals surface here)
            answer = self.bridge.json(
                "POST", wire.reproduce(self.ref), json_body=wire.Reproduce(self.force)
            )
            self.watch = JobWatch(
                self.bridge,
                answer,
                VERB,
                timeout=self.job_timeout,
                interval=self.progress_interval,
            )
            return info(False, [self.watch.queued()]), b""
        trail = self.watch.poll()
        if not self.watch.succeeded:
            return info(False, trail), b""
        result = self.watch.job.outcome
        rule = result.get("rule") or {}
        message = (
            f"kepler reproduce: {result.get('model')}@{result.get('version')} reproduces "
            f"{result.get('reproduces')}: {result.get('verdict')} "
            f"(rule {rule.get('text') or rule.get('kind')}: {rule.get('why', '')})"
        )
        return info(True, [*trail, message]), rows_to_csv(rows(result))


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per compared item, each naming both versions, the verdict and what a
    forced reproduction let through (``package_differences``, multivalue)."""
    rule = result.get("rule") or {}
    common = {
        "model": result.get("model"),
        "version": result.get("version"),
        "reproduces": result.get("reproduces"),
        "verdict": result.get("verdict"),
    }
    forced = [
        f"{d.get('package')} recorded {d.get('recorded')} installed {d.get('installed')}"
        for d in result.get("package_differences") or []
    ]
    out = []
    for row in result.get("comparison") or []:
        out.append(
            {
                **common,
                "item": row.get("item"),
                "original": row.get("original"),
                "reproduced": row.get("reproduced"),
                "difference": row.get("difference"),
                "rule": row.get("rule"),
                "tolerance": row.get("tolerance"),
                "match": row.get("match"),
                "why": rule.get("why"),
                "forced": bool(result.get("forced")),
                "package_differences": forced,
            }
        )
    return out
