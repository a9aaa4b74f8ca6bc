"""Entry point: speak protocol v2 on stdin/stdout until splunkd closes stdin."""

from __future__ import annotations

import sys
import traceback
from typing import Any, BinaryIO

from kepler.core.errors import KeplerError
from kepler.searchcommand import config
from kepler.searchcommand.bridge import BridgeClient
from kepler.searchcommand.command import build
from kepler.searchcommand.protocol import ProtocolError, read_chunk, write_chunk


def _error(text: str) -> dict[str, Any]:
    return {"finished": True, "inspector": {"messages": [["ERROR", text]]}}


def run(stdin: BinaryIO, stdout: BinaryIO, stderr: Any = None) -> int:
    """Serve one search; the exit code is 0 unless the search got an ERROR."""
    log = stderr if stderr is not None else sys.stderr
    try:
        first = read_chunk(stdin)
    except ProtocolError as exc:
        print(f"kepler: {exc}", file=log)
        return 2
    if first is None:
        return 0
    metadata, _ = first
    searchinfo = metadata.get("searchinfo") or {}
    try:
        settings = config.load(searchinfo)
        subcommand = build(
            searchinfo,
            lambda: BridgeClient(
                settings.url,
                settings.token,
                verify=settings.verify,
                ca_bundle=settings.ca_bundle,
                timeout=settings.timeout,
            ),
            job_timeout=settings.job_timeout,
        )
    except KeplerError as exc:
        write_chunk(stdout, {"type": "stateful", **_error(exc.message)})
        return 1
    except Exception:
        traceback.print_exc(file=log)  # to search.log; the user sees a plain sentence
        write_chunk(stdout, {"type": "stateful", **_error(_internal())})
        return 1
    write_chunk(stdout, subcommand.getinfo())
    while True:
        try:
            chunk = read_chunk(stdin)
        except ProtocolError as exc:
            print(f"kepler: {exc}", file=log)
            return 2
        if chunk is None:
            return 0
        metadata, body = chunk
        try:
            reply, payload = subcommand.execute(body, bool(metadata.get("finished")))
        except KeplerError as exc:
            write_chunk(stdout, _error(exc.message))
            return 1
        except Exception:
            traceback.print_exc(file=log)
            write_chunk(stdout, _error(_internal()))
            return 1
        write_chunk(stdout, reply, payload)


def _internal() -> str:
    return "internal error in the kepler command; search.log has the details"


def main() -> None:
    sys.exit(run(sys.stdin.buffer, sys.stdout.buffer))


if __name__ == "__main__":
    main()
