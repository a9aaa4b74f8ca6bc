"""What can be trained, and checking a spec line without sending data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from kepler.core import wire
from kepler.core.spec import parse
from kepler_bridge.deps import AuthDep, StateDep
from kepler_bridge.wire import ParseRequest

router = APIRouter(prefix=wire.V1, tags=["algorithms"], dependencies=[AuthDep])


def describe_algorithm(info: Any, devices: list[str] | None = None) -> dict[str, Any]:
    """``devices``: where the workers can run an algorithm that has a ``device`` parameter;
    every other algorithm runs on a CPU."""
    has_device = info.params.lookup("device") is not None
    return {
        "name": info.name,
        "task": info.task,
        "aliases": list(info.aliases),
        "extra": info.extra,
        "doc": info.doc,
        "open_params": info.params.open,
        "partial_fit": info.partial_fit,  # `fit ... partial_fit=true` continues a version
        "devices": list(devices or ["cpu"]) if has_device else ["cpu"],
        "params": [
            {
                "name": p.name,
                "kind": p.kind,
                "aliases": [s for s in p.spellings if s != p.name],
                "choices": list(p.choices),
                "nullable": p.nullable,
                "minimum": p.minimum,
                "maximum": p.maximum,
                "doc": p.doc,
            }
            for p in info.params.params
        ],
    }


@router.get("/algorithms")
def list_algorithms(state: StateDep) -> list[dict[str, Any]]:
    from kepler.ml.registry import all_algorithms

    devices = state.ctx.workers.all_devices()
    return [describe_algorithm(a, devices) for a in all_algorithms()]


@router.post("/specs/parse")
def parse_spec(body: ParseRequest) -> dict[str, Any]:
    """Check a spec line (``fit ...``, ``apply ...``) as the bridge would run it."""
    from dataclasses import asdict

    from kepler.ml.registry import all_algorithms

    spec = parse(body.line, catalog=all_algorithms())
    out = asdict(spec)
    if "model" in out and hasattr(spec, "model"):
        out["model"] = str(spec.model)
    return out
