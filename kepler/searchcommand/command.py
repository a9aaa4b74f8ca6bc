"""The ``kepler`` command's subcommands: which one a search's arguments name, built at
getinfo.

``fit`` and ``automl`` (:mod:`.fit`), ``apply`` (:mod:`.apply`), ``score`` (:mod:`.score`)
and ``drift`` (:mod:`.drift`) relay each chunk's CSV body to the bridge as bytes;
``models``, ``summary``, ``jobs``, ``cancel``, ``deletemodel`` and ``leaderboard``
(:mod:`.listing`) and
``alias``, ``unalias`` and ``compare`` (:mod:`.lifecycle`) generate rows from the bridge's
answers; ``reproduce`` (:mod:`.reproduce`) generates them from the job it starts.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

from kepler.core import wire
from kepler.core.automl import AutoMLSpec
from kepler.core.errors import InvalidSpec
from kepler.core.params import Param, coerce
from kepler.core.spec import ApplySpec, DeleteModelSpec, FitSpec, SummarySpec, parse
from kepler.searchcommand import drift, lifecycle, listing, reproduce, score
from kepler.searchcommand.apply import Apply, AsyncApply
from kepler.searchcommand.bridge import BridgeClient
from kepler.searchcommand.fit import AutoML, Fit
from kepler.searchcommand.progress import DEFAULT_INTERVAL
from kepler.searchcommand.subcommand import Generating, Subcommand

__all__ = ["COMMAND_OPTIONS", "USAGE", "Subcommand", "build", "split_options"]

# Options of the command itself, taken out before the spec line is parsed.
COMMAND_OPTIONS: dict[str, dict[str, Param]] = {
    "fit": {
        "async": Param("async", "bool"),
        "output": Param("output", "str", choices=("model", "events")),
    },
    "automl": {"async": Param("async", "bool")},
    "apply": {"async": Param("async", "bool"), "shadow": Param("shadow", "str")},
    "drift": drift.OPTIONS,
    "reproduce": reproduce.OPTIONS,
    "jobs": {
        "limit": Param("limit", "int", minimum=1, maximum=1000),
        "status": Param(
            "status", "str", choices=("queued", "running", "succeeded", "failed", "cancelled")
        ),
    },
}
USAGE = (
    "usage: kepler fit|apply|automl|score|drift|summary|models|deletemodel|jobs|cancel|"
    "leaderboard|alias|unalias|compare|reproduce ...; "
    "e.g. | kepler fit RandomForestClassifier failure from temp vibration into pump"
)


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
        jobs = listing.job_rows(bridge_factory(), options)  # at getinfo: errors surface now
        return Generating(lambda: jobs)
    if verb == "cancel":
        job_id = listing.cancel_target(rest)
        cancel_bridge = bridge_factory()
        cancel_bridge.json("GET", wire.job(job_id))  # at getinfo: an unknown id fails now
        return Generating(lambda: [listing.cancel(cancel_bridge, job_id)])
    if verb == "leaderboard":
        target = listing.leaderboard_target(rest)
        trials = listing.leaderboard_rows(bridge_factory(), target)  # at getinfo
        return Generating(lambda: trials)
    if verb in lifecycle.VERBS:
        return Generating(lifecycle.plan(verb, rest, bridge_factory()))
    if verb == reproduce.VERB:
        return reproduce.Reproduce(
            rest,
            options,
            bridge_factory(),
            job_timeout=job_timeout,
            progress_interval=progress_interval,
        )
    if verb == "score":
        return score.Score(score.parse_score(rest), bridge_factory(), _source(searchinfo))
    if verb == "drift":
        return drift.Drift(drift.target(rest), options, bridge_factory(), _source(searchinfo))
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
            return AsyncApply(spec, bridge, _source(searchinfo), shadow=options.get("shadow"))
        return Apply(spec, bridge, shadow=options.get("shadow"))
    if isinstance(spec, SummarySpec):
        rows = listing.summary_rows(bridge, spec.model)  # now: an unknown model fails at getinfo
        return Generating(lambda: rows)
    if isinstance(spec, DeleteModelSpec):
        bridge.json("GET", wire.model(spec.model))  # exists?
        return Generating(lambda: [listing.delete_model(bridge, spec.model)])
    models = listing.model_rows(bridge)
    return Generating(lambda: models)


def _source(searchinfo: Mapping[str, Any]) -> wire.SplunkSource:
    """The search that produced the training events, for MLflow's lineage."""
    search = urllib.parse.unquote(str(searchinfo.get("search") or ""))
    return wire.SplunkSource(
        search=search[:4000] or None,
        earliest=str(searchinfo.get("earliest_time") or "") or None,
        latest=str(searchinfo.get("latest_time") or "") or None,
        sid=str(searchinfo.get("sid") or "") or None,
    )
