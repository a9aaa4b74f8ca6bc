"""``kepler score <metric> <field> ... against <field> ... [option=value]``: MLTK's ``score``
for labels that arrive after the predictions (live evaluation).

The metrics need scikit-learn and SciPy, which Splunk's Python lacks, so the command
computes nothing itself: it checks the spec at getinfo (an unknown metric or option fails
before any event moves), asks splunkd for the command's fields only, streams every chunk
into one dataset on the bridge, and after the last one asks the bridge for the table,
which becomes the search's results. The dataset is deleted afterwards.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kepler.core import wire
from kepler.core.errors import KeplerError
from kepler.core.score import ScoreSpec, parse_score
from kepler.core.wire import ScoreRequest, SplunkSource
from kepler.searchcommand.bridge import BridgeClient
from kepler.searchcommand.subcommand import Reply, Subcommand, Upload, rows_to_csv

__all__ = ["Score", "parse_score"]


class Score(Subcommand):
    def __init__(self, spec: ScoreSpec, bridge: BridgeClient, source: SplunkSource) -> None:
        self.spec = spec
        self.bridge = bridge
        self.upload = Upload(bridge, source)

    def getinfo(self) -> dict[str, Any]:
        # Only the compared fields cross to the bridge; splunkd keeps the rest.
        return {"type": "stateful", "required_fields": self.spec.columns}

    def execute(self, body: bytes, finished: bool) -> Reply:
        self.upload.add(body)
        if not finished:
            return {"finished": False}, b""
        dataset_id = self.upload.complete(
            f"the search returned no events to score with {self.spec.metric}; widen its time range"
        )
        try:
            answer = self.bridge.json(
                "POST",
                wire.SCORE,
                json_body=ScoreRequest(dataset_id=dataset_id, **self.spec.to_dict()),
            )
        finally:
            with contextlib.suppress(KeplerError):  # the answer matters more than tidying
                self.bridge.request("DELETE", wire.dataset(dataset_id))
        columns = list(answer["columns"])
        rows = [{c: row.get(c) for c in columns} for row in answer["rows"]]
        text = "kepler score: {} over {} rows".format(self.spec.metric, answer["rows_scored"])
        if answer.get("rows_dropped"):
            text += " ({} left out: a compared field was empty)".format(answer["rows_dropped"])
        messages = [["INFO", text]] + [["WARN", note] for note in answer.get("notes") or []]
        return {"finished": True, "inspector": {"messages": messages}}, rows_to_csv(rows)
