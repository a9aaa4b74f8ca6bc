"""What every subcommand shares: the answer it gives splunkd per chunk, rows as Splunk's CSV,
and the upload of the search's events into one dataset on the bridge."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from kepler.core import wire
from kepler.core.errors import DataError
from kepler.searchcommand.bridge import BridgeClient

CSV = "text/csv"

Reply = tuple[dict[str, Any], bytes]


def rows_to_csv(rows: list[dict[str, Any]], *, exact: bool = False) -> bytes:
    """Rows as Splunk reads them: a header of every field seen, ``\\r\\n`` line endings.
    Floats show 6 significant digits (metrics), or every digit with ``exact`` (data, such
    as a forecast's ``_time`` and predictions)."""
    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v, exact) for k, v in row.items()})
    return out.getvalue().encode("utf-8")


def _cell(value: Any, exact: bool = False) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "\n".join(str(v) for v in value)  # a multivalue field, as Splunk shows it
    if isinstance(value, float):
        return repr(value) if exact else f"{value:.6g}"
    return value


def info(finished: bool, texts: list[str]) -> dict[str, Any]:
    """A reply's metadata, with ``texts`` as INFO messages when there are any."""
    reply: dict[str, Any] = {"finished": finished}
    if texts:
        reply["inspector"] = {"messages": [["INFO", text] for text in texts]}
    return reply


class Subcommand:
    """One subcommand's answers. ``getinfo`` may call the bridge to refuse bad input
    before any data moves."""

    def getinfo(self) -> dict[str, Any]:
        return {"type": "stateful"}

    def execute(self, body: bytes, finished: bool) -> Reply:  # pragma: no cover - abstract
        raise NotImplementedError


class Generating(Subcommand):
    def __init__(self, produce: Callable[[], list[dict[str, Any]]]) -> None:
        self._produce = produce

    def getinfo(self) -> dict[str, Any]:
        return {"type": "stateful", "generating": True}

    def execute(self, body: bytes, finished: bool) -> Reply:
        return {"finished": True}, rows_to_csv(self._produce())


class Upload:
    """The search's events, chunk by chunk, into one dataset on the bridge."""

    def __init__(self, bridge: BridgeClient, source: wire.SplunkSource) -> None:
        self.bridge = bridge
        self.source = source
        self.dataset_id: str | None = None
        self.chunks = 0

    def add(self, body: bytes) -> None:
        if not body or body.isspace():
            return
        if self.dataset_id is None:
            created = self.bridge.json(
                "POST", wire.DATASETS, json_body=wire.DatasetCreate("csv", self.source)
            )
            self.dataset_id = wire.DatasetCreated.from_dict(created).id
        self.bridge.request(
            "PUT",
            wire.chunk(self.dataset_id, self.chunks),
            body=body,
            content_type=CSV,
        )
        self.chunks += 1

    def complete(self, empty_message: str) -> str:
        if self.dataset_id is None:
            raise DataError(empty_message)
        self.bridge.json(
            "POST", wire.complete(self.dataset_id), json_body=wire.DatasetComplete(self.chunks)
        )
        return self.dataset_id
