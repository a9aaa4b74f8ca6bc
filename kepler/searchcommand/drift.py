"""``kepler drift <model>[@v|:alias] [method=...] [threshold=...]``: the search's events
against the version's baseline, one row per field and one per model output.

Every chunk streams into one dataset on the bridge (nothing is held here); after the last
one the bridge counts the dataset on the baseline's bins, part by part, and answers the
rows, which become the search's results. The dataset is deleted afterwards. Which version
is compared is fixed at getinfo, where a model without a baseline is refused with how
to get one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from kepler.core import wire
from kepler.core.drift import COLUMNS, METHODS
from kepler.core.errors import BaselineNotFound, InvalidSpec, KeplerError
from kepler.core.params import Param
from kepler.core.refs import ModelRef
from kepler.searchcommand.bridge import BridgeClient
from kepler.searchcommand.subcommand import Reply, Subcommand, Upload, rows_to_csv

OPTIONS = {
    "method": Param(
        "method",
        "str",
        choices=METHODS,
        doc="auto picks by size and type as Evidently does; or psi, ks, wasserstein, "
        "jensenshannon, chi2",
    ),
    "threshold": Param(
        "threshold",
        "float",
        minimum=0.0,
        doc="replaces every field's default: a p-value for ks and chi2 (0.05), a distance "
        "for wasserstein, jensenshannon and psi (0.1)",
    ),
}
USAGE = "usage: | kepler drift <model>[@<version>|:<alias>] [method=auto] [threshold=<number>]"


def target(rest: list[str]) -> ModelRef:
    """The one model reference ``drift`` takes."""
    if len(rest) != 1:
        got = " ".join(rest) or "nothing"
        raise InvalidSpec(f"drift compares the events with one model; got {got!r}. {USAGE}")
    return ModelRef.parse(rest[0])


class Drift(Subcommand):
    def __init__(
        self,
        ref: ModelRef,
        options: Mapping[str, Any],
        bridge: BridgeClient,
        source: dict[str, Any],
    ) -> None:
        self.bridge = bridge
        self.options = dict(options)
        found = bridge.json("GET", wire.model(ref))  # an unknown model fails now
        self.pinned = "{}@{}".format(found["name"], found["version"])
        baseline = found.get("baseline")
        if not baseline:
            raise BaselineNotFound(
                "model {0!r} version {1} has no drift baseline (it was fitted before Kepler "
                "kept one); fit it again, or make one from data you trust: "
                'kp.baseline("{0}@{1}", df) in Python'.format(found["name"], found["version"]),
                detail={"model": found["name"], "version": found["version"]},
            )
        # Only the fields the baseline knows cross to the bridge (and the features, to
        # score the events when they lack the model's output fields).
        fields = list(baseline.get("fields") or {}) + list(baseline.get("outputs") or {})
        self.required = list(dict.fromkeys(fields + [str(f) for f in found.get("features") or []]))
        self.upload = Upload(bridge, source)

    def getinfo(self) -> dict[str, Any]:
        info: dict[str, Any] = {"type": "stateful"}
        if self.required:
            info["required_fields"] = self.required
        return info

    def execute(self, body: bytes, finished: bool) -> Reply:
        self.upload.add(body)
        if not finished:
            return {"finished": False}, b""
        dataset_id = self.upload.complete(
            "the search returned no events to compare; widen its time range"
        )
        params: dict[str, Any] = {
            "dataset_id": dataset_id,
            "method": self.options.get("method") or "auto",
        }
        if self.options.get("threshold") is not None:
            params["threshold"] = self.options["threshold"]
        try:
            answer = self.bridge.json("POST", wire.drift(self.pinned), params=params)
        finally:
            with contextlib.suppress(KeplerError):  # the answer matters more than tidying
                self.bridge.request("DELETE", wire.dataset(dataset_id))
        rows = [
            {"model": answer["model"], "version": answer["version"], **_ordered(r)}
            for r in answer["rows"]
        ]
        drifted = sum(1 for r in rows if r.get("drifted") is True)
        reply: dict[str, Any] = {"finished": True}
        text = f"kepler drift: {drifted} of {len(rows)} fields drifted against {self.pinned}"
        reply["inspector"] = {"messages": [["INFO", text]]}
        return reply, rows_to_csv(rows)


def _ordered(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in COLUMNS}
