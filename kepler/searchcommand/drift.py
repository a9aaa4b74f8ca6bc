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
from dataclasses import replace
from typing import Any

from kepler.core import wire
from kepler.core.drift import COLUMNS, METHODS
from kepler.core.errors import InvalidSpec, KeplerError
from kepler.core.params import Param
from kepler.core.refs import ModelRef
from kepler.core.wire import DriftOptions, ModelView, SplunkSource
from kepler.searchcommand.bridge import BridgeClient
from kepler.searchcommand.subcommand import CSV, Reply, Subcommand, Upload, rows_to_csv

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
    """Stateful: each chunk goes on to the bridge as it comes (every field: narrowing them
    with ``required_fields`` would make splunkd expect rows echoing ``_chunked_idx``);
    the bridge reads back only the baseline's columns."""

    def __init__(
        self,
        ref: ModelRef,
        options: Mapping[str, Any],
        bridge: BridgeClient,
        source: SplunkSource,
    ) -> None:
        self.bridge = bridge
        self.options = dict(options)
        # An unknown model fails now.
        self.pinned = ModelView.from_dict(bridge.json("GET", wire.model(ref))).ref
        # An empty window: the bridge refuses a version without a baseline (saying how to
        # make one) and a bad method or threshold now, before any event moves.
        bridge.json(
            "POST",
            wire.drift(self.pinned),
            body=b"",
            content_type=CSV,
            params=self._params().to_params(),
        )
        self.upload = Upload(bridge, source)

    def execute(self, body: bytes, finished: bool) -> Reply:
        self.upload.add(body)
        if not finished:
            return {"finished": False}, b""
        dataset_id = self.upload.complete(
            "the search returned no events to compare; widen its time range"
        )
        params = replace(self._params(), dataset_id=dataset_id).to_params()
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

    def _params(self) -> DriftOptions:
        return DriftOptions(
            method=self.options.get("method") or "auto", threshold=self.options.get("threshold")
        )


def _ordered(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in COLUMNS}
