"""Entry point: speak protocol v2 on stdin/stdout until splunkd closes stdin."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, BinaryIO

from kepler.core.errors import KeplerError
from kepler.searchcommand import config
from kepler.searchcommand.bridge import BridgeClient
from kepler.searchcommand.command import Subcommand, build
from kepler.searchcommand.protocol import ProtocolError, read_chunk, write_chunk

INTERNAL = "internal error in the kepler command; search.log has the details"


class _Failed(Exception):
    """The search already got its ERROR message; stop with exit code 1."""


def _guarded(step: Callable[[], Any], stdout: BinaryIO, log: Any, **reply: Any) -> Any:
    """Run one step; a failure becomes one ERROR message in the search, never a traceback
    (that goes to search.log)."""
    try:
        return step()
    except KeplerError as exc:
        text = exc.message
    except Exception:
        traceback.print_exc(file=log)
        text = INTERNAL
    write_chunk(stdout, {**reply, "finished": True, "inspector": {"messages": [["ERROR", text]]}})
    raise _Failed


def _subcommand(searchinfo: Mapping[str, Any]) -> Subcommand:
    settings = config.load(searchinfo)
    return build(
        searchinfo,
        lambda: BridgeClient(
            settings.url,
            settings.token,
            verify=settings.verify,
            ca_bundle=settings.ca_bundle,
            timeout=settings.timeout,
            hec_headers=settings.hec_headers(),
            identity=settings.identity_headers(),
        ),
        job_timeout=settings.job_timeout,
        progress_interval=settings.progress_interval,
    )


def run(stdin: BinaryIO, stdout: BinaryIO, stderr: Any = None) -> int:
    """Serve one search; the exit code is 0 unless the search got an ERROR."""
    log = stderr if stderr is not None else sys.stderr
    try:
        first = read_chunk(stdin)
        if first is None:
            return 0
        searchinfo = first[0].get("searchinfo") or {}
        subcommand = _guarded(partial(_subcommand, searchinfo), stdout, log, type="stateful")
        write_chunk(stdout, subcommand.getinfo())
        while (chunk := read_chunk(stdin)) is not None:
            metadata, body = chunk
            finished = bool(metadata.get("finished"))
            reply, payload = _guarded(partial(subcommand.execute, body, finished), stdout, log)
            write_chunk(stdout, reply, payload)
        return 0
    except _Failed:
        return 1
    except ProtocolError as exc:
        print(f"kepler: {exc}", file=log)
        return 2


def main() -> None:
    sys.exit(run(sys.stdin.buffer, sys.stdout.buffer))


if __name__ == "__main__":
    main()
