"""splunkd's side of the custom search command protocol v2 (`chunked = true`), for tests.

`Splunkd` starts a command exactly as splunkd does (`python <script>`, no arguments,
stdin/stdout pipes), sends getinfo and execute chunks and reads exactly one reply chunk
per request. A command may answer the last chunk (`finished: true`) with `finished: false`:
splunkd then asks again with an empty `finished: true` chunk until the answer says
`finished: true` (how splunklib's GeneratingCommand hands over more rows: its
`_execute_chunk_v2` answers `finished=False` while rows remain; docs/splunk-protocols.md does not
spell this out). `execute_all` does so and returns every answer, `replies` keeps them all.
`encode_records` writes a command's input CSV the way splunkd writes it; `Reply.records`
reads a command's CSV answer back. `replay` feeds a recorded splunkd
input stream. The rules followed are those of Splunk's documentation of protocol v2, and
every byte-level choice is checked against the real recordings in
tests/fixtures/scpv2-recordings (test_harness.py).

    with Splunkd(script) as splunkd:
        info = splunkd.getinfo(["fieldname=n", "pattern=\\w+", "text"])
        reply = splunkd.execute(encode_records(rows), finished=True)  # the last answer
        answers = splunkd.replies  # every execute answer, in order
        assert splunkd.close() == 0
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = [
    "HEADER",
    "ProtocolError",
    "Record",
    "Reply",
    "Splunkd",
    "chunks",
    "decode_mv",
    "encode_mv",
    "encode_records",
    "encode_search",
    "frame",
    "header_only",
    "split_chunks",
]

# splunklib's own transport header regex (searchcommands/search_command.py).
HEADER = re.compile(rb"chunked\s+1.0\s*,\s*(\d+)\s*,\s*(\d+)\s*\n")
_WHITESPACE = b" \t\r\n"
# splunkd is C++ reading large blocks; a Python double reading 64 KiB at a time spends
# its CPU waking up, and on a small machine that CPU is taken from the command and bridge.
_READ_BYTES = 1 << 20
_PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = 1031  # Linux fcntl: a pipe's buffer size
_MAGIC = b"chunked"

Record = dict[str, Any]


class ProtocolError(AssertionError):
    """The command broke protocol v2, died, or went silent; the message carries its stderr."""


# --- framing -------------------------------------------------------------------------


def frame(metadata: Mapping[str, Any] | bytes, body: bytes = b"") -> bytes:
    """One chunk: `chunked 1.0,<metadata bytes>,<body bytes>\\n` + metadata + body.

    A mapping is written as splunkd writes JSON: compact, UTF-8, non-ASCII unescaped.
    """
    if not isinstance(metadata, bytes):
        metadata = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False).encode()
    return b"chunked 1.0,%d,%d\n" % (len(metadata), len(body)) + metadata + body


def _parse_frame(buffer: bytes | bytearray, pos: int) -> tuple[int, int, bytes, bytes] | None:
    """The chunk at `pos` as (start, end, metadata, body); None while it is incomplete.

    Whitespace before a header is tolerated (the 2015 SDK wrote a newline after its
    getinfo reply); anything else that is not a header is a protocol error. The header is
    matched on one line, as splunklib matches the line `readline()` gives it.
    """
    while pos < len(buffer) and buffer[pos] in _WHITESPACE:
        pos += 1
    if pos == len(buffer):
        return None
    newline = buffer.find(b"\n", pos)
    if newline < 0:
        head = bytes(buffer[pos : pos + len(_MAGIC)])
        if not _MAGIC.startswith(head) or len(buffer) - pos > 64:
            raise ProtocolError(
                f"not a chunk header at byte {pos}: {bytes(buffer[pos : pos + 80])!r}"
            )
        return None
    match = HEADER.fullmatch(bytes(buffer[pos : newline + 1]))
    if match is None:
        raise ProtocolError(
            f"not a chunk header at byte {pos}: {bytes(buffer[pos : newline + 1])[:80]!r}"
        )
    metadata_length, body_length = int(match[1]), int(match[2])
    start = newline + 1
    end = start + metadata_length + body_length
    if len(buffer) < end:
        return None
    metadata = bytes(buffer[start : start + metadata_length])
    return pos, end, metadata, bytes(buffer[start + metadata_length : end])


def _frame_end(buffer: bytes | bytearray, pos: int) -> int:
    """Where the chunk at ``pos`` ends, once its header has arrived; 0 before."""
    newline = buffer.find(b"\n", pos, pos + 128)
    match = HEADER.search(bytes(buffer[pos : newline + 1])) if newline >= 0 else None
    return 0 if match is None else newline + 1 + int(match[1]) + int(match[2])


def _frames(raw: bytes) -> list[tuple[int, int, bytes, bytes]]:
    found: list[tuple[int, int, bytes, bytes]] = []
    pos = 0
    while (parsed := _parse_frame(raw, pos)) is not None:
        found.append(parsed)
        pos = parsed[1]
    if raw[pos:].strip(_WHITESPACE):
        raise ProtocolError(f"truncated chunk at byte {pos}: {raw[pos : pos + 80]!r}")
    return found


def split_chunks(raw: bytes) -> list[tuple[bytes, bytes]]:
    """Every chunk of a protocol-v2 stream as (metadata bytes, body bytes)."""
    return [(metadata, body) for _, _, metadata, body in _frames(raw)]


def _decode_metadata(metadata: bytes) -> dict[str, Any]:
    if not metadata:
        return {}
    try:
        decoded = json.loads(metadata.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ProtocolError(f"metadata is not JSON ({error}): {metadata[:200]!r}") from None
    if not isinstance(decoded, dict):
        raise ProtocolError(f"metadata is not a JSON object: {metadata[:200]!r}")
    return decoded


# --- splunkd's CSV -------------------------------------------------------------------

# splunkd leaves a cell bare only when it is empty or ASCII letters and digits; anything
# else ("_serial", "2147943.07811", "Margarita (8)", "気持ちよかった") is double-quoted,
# with `"` doubled. Rows end with "\n". (countmatches.input.gz, sum.reduce.input.gz)
_BARE = re.compile(r"[A-Za-z0-9]*")
_MV_VALUE = re.compile(r"\$((?:\$\$|[^$])*)\$")


def _cell(text: str) -> str:
    if _BARE.fullmatch(text):
        return text
    return '"' + text.replace('"', '""') + '"'


def encode_mv(values: Iterable[Any]) -> str:
    """A `__mv_` cell: `$v1$;$v2$`, each `$` inside a value doubled."""
    return ";".join("$" + str(value).replace("$", "$$") + "$" for value in values)


def decode_mv(cell: str) -> list[str]:
    """The values of a `__mv_` cell; strict, so a malformed cell fails loudly."""
    values: list[str] = []
    pos = 0
    while True:
        match = _MV_VALUE.match(cell, pos)
        if match is None:
            raise ValueError(f"malformed __mv_ cell at {pos}: {cell!r}")
        values.append(match[1].replace("$$", "$"))
        pos = match.end()
        if pos == len(cell):
            return values
        if cell[pos] != ";":
            raise ValueError(f"malformed __mv_ cell at {pos}: {cell!r}")
        pos += 1


def _split_value(value: Any) -> tuple[str, str]:
    """(plain cell, __mv_ cell) for one value; only two or more values fill __mv_."""
    if value is None:
        return "", ""
    if isinstance(value, list | tuple):
        items = [str(item) for item in value]
        if len(items) < 2:
            return (items[0] if items else ""), ""
        return "\n".join(items), encode_mv(items)
    return str(value), ""


def _shown(value: Any) -> str | list[str]:
    """A field's value as the search shows it (what `Reply.records` reads back)."""
    plain, mv = _split_value(value)
    return decode_mv(mv) if mv else plain


def _fields_of(records: Iterable[Mapping[str, Any]]) -> list[str]:
    return list(dict.fromkeys(name for record in records for name in record))


def encode_records(
    records: Sequence[Mapping[str, Any]],
    fields: Sequence[str] | None = None,
    *,
    chunked_idx: bool = False,
) -> bytes:
    """An execute body exactly as splunkd writes a command's input.

    Header first: the plain columns, then a `__mv_<field>` column for every field. A list
    of two or more values is joined by "\\n" in the plain column and written `$v1$;$v2$`
    in its `__mv_` column; a single value leaves `__mv_` empty. `fields` defaults to every
    key in order of first appearance; a missing key or None is an empty cell. With
    `chunked_idx`, a `_chunked_idx` column numbers the records (as splunkd adds it when a
    command declares `required_fields`). No records and no fields give an empty body.
    """
    names = list(_fields_of(records) if fields is None else fields)
    if chunked_idx and "_chunked_idx" not in names:
        names.append("_chunked_idx")
    if not names:
        if records:
            raise ValueError("records without fields cannot be written")
        return b""
    lines = [[*names, *(f"__mv_{name}" for name in names)]]
    for index, record in enumerate(records):
        cells = [
            _split_value(index if name == "_chunked_idx" and chunked_idx else record.get(name))
            for name in names
        ]
        lines.append([plain for plain, _ in cells] + [mv for _, mv in cells])
    return "".join(",".join(_cell(cell) for cell in line) + "\n" for line in lines).encode()


def header_only(fields: Sequence[str]) -> bytes:
    """A body with the header and no record, as splunkd may send with `finished: true`."""
    return encode_records([], fields)


def chunks(
    records: Sequence[Mapping[str, Any]],
    size: int,
    fields: Sequence[str] | None = None,
    *,
    chunked_idx: bool = False,
) -> list[bytes]:
    """`records` cut into execute bodies of at most `size` records, all with one header."""
    if size < 1:
        raise ValueError("size must be at least 1")
    names = _fields_of(records) if fields is None else list(fields)
    return [
        encode_records(records[start : start + size], names, chunked_idx=chunked_idx)
        for start in range(0, len(records), size)
    ]


def encode_search(search: str) -> str:
    """`searchinfo.search` as splunkd sends it: percent-encoded, only `A-Za-z0-9_.-~` bare."""
    return quote(search, safe="")


# --- replies -------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One chunk the command wrote: its metadata, its body, and the exact bytes."""

    metadata: dict[str, Any]
    body: bytes
    raw: bytes

    @property
    def finished(self) -> bool | None:
        return self.metadata.get("finished")

    @property
    def messages(self) -> list[tuple[str, str]]:
        """Inspector messages as (level, text): what the job inspector and search bar show."""
        inspector = self.metadata.get("inspector") or {}
        return [(str(level), str(text)) for level, text in inspector.get("messages", [])]

    def _rows(self) -> list[list[str]]:
        if not self.body:
            return []
        text = self.body.decode("utf-8")
        return list(csv.reader(io.StringIO(text, newline=""), strict=True))

    @property
    def columns(self) -> list[str]:
        """The header as written, `__mv_` columns included."""
        rows = self._rows()
        return rows[0] if rows else []

    @property
    def fieldnames(self) -> list[str]:
        return [name for name in self.columns if not name.startswith("__mv_")]

    def records(self) -> list[Record]:
        """The body's records; a field with a filled `__mv_` column becomes a list."""
        rows = self._rows()
        if not rows:
            return []
        header, data = rows[0], rows[1:]
        position = {name: index for index, name in enumerate(header)}
        plain = [name for name in header if not name.startswith("__mv_")]
        records: list[Record] = []
        for number, row in enumerate(data, start=1):
            if len(row) != len(header):
                raise ProtocolError(f"row {number} has {len(row)} cells, header {len(header)}")
            record: Record = {}
            for name in plain:
                mv_index = position.get(f"__mv_{name}")
                mv = row[mv_index] if mv_index is not None else ""
                record[name] = decode_mv(mv) if mv else row[position[name]]
            records.append(record)
        return records


# --- the splunkd side ------------------------------------------------------------------


class _Drain(threading.Thread):
    """Reads a pipe to its end so the command never blocks on a full pipe."""

    def __init__(self, stream: Any) -> None:
        super().__init__(daemon=True)
        self._fd = stream.fileno()
        self.data = bytearray()
        self.eof = False
        self.changed = threading.Condition()

    def run(self) -> None:
        try:
            while block := os.read(self._fd, _READ_BYTES):
                with self.changed:
                    self.data += block
                    self.changed.notify_all()
        finally:
            with self.changed:
                self.eof = True
                self.changed.notify_all()


class Splunkd:
    """One search process's worth of splunkd talking to one command over protocol v2.

    The command runs as `[python, *python_args, script]`: splunkd passes no arguments
    (splunklib falls back to protocol v1 when argv has more than one entry). `dispatch_dir`
    defaults to a fresh temporary folder (removed at close), and is also the default cwd,
    so a command cannot lean on the test's working directory. `timeout` bounds each reply
    and the exit at EOF; `max_follow_ups` bounds the empty chunks sent after a last chunk
    (a command answering `finished: false` for ever would otherwise hang the test).
    """

    def __init__(
        self,
        script: str | os.PathLike[str],
        *,
        command: str | None = None,
        python: str = sys.executable,
        python_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        sid: str | None = None,
        dispatch_dir: str | os.PathLike[str] | None = None,
        timeout: float = 30.0,
        max_follow_ups: int = 10_000,
    ) -> None:
        self.script = Path(script)
        self.max_follow_ups = max_follow_ups
        self.command = command or self.script.stem
        self.sid = sid or f"{int(time.time())}.{os.getpid() % 1000}"
        self.timeout = timeout
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if dispatch_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="kepler-splunkd-")
            dispatch_dir = Path(self._tmp.name) / "dispatch" / self.sid
            dispatch_dir.mkdir(parents=True)
        self.dispatch_dir = Path(dispatch_dir)
        self.argv = [python, *python_args, str(self.script)]
        child_env = dict(os.environ if env is None else env)
        # Keep .pyc files out of the vendored lib/ (AppInspect fails an app that has them).
        child_env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env,
            cwd=str(cwd if cwd is not None else self.dispatch_dir),
            bufsize=0,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        assert self.proc.stdin is not None
        for pipe in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError, ValueError):  # not Linux, or over the limit
                fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, _PIPE_BYTES)
        self._stdout = _Drain(self.proc.stdout)
        self._stderr = _Drain(self.proc.stderr)
        self._stdout.start()
        self._stderr.start()
        self._pos = 0  # first stdout byte not yet read as a reply
        self.requests: list[bytes] = []  # every chunk sent, for debugging
        self.replies: list[Reply] = []  # every answer to an execute chunk, in order
        self.required_fields: list[str] | None = None  # from the getinfo reply
        self.returncode: int | None = None

    # -- what the command wrote --

    @property
    def stdout(self) -> bytes:
        """Everything the command wrote to stdout so far."""
        with self._stdout.changed:
            return bytes(self._stdout.data)

    @property
    def stderr(self) -> str:
        with self._stderr.changed:
            return self._stderr.data.decode("utf-8", "replace")

    @property
    def trailing(self) -> bytes:
        """Stdout bytes after the last reply read: a command must write none unasked."""
        with self._stdout.changed:
            return bytes(self._stdout.data[self._pos :])

    def _diagnosis(self, *, ended: bool = False) -> str:
        if ended:  # stdout is closed: let the exit code and the last of stderr arrive
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(self.timeout)
            self._stderr.join(self.timeout)
        code = self.proc.poll()
        state = "running" if code is None else f"exited with {code}"
        return f"command {state}; stderr:\n{self.stderr[-4000:]}"

    # -- requests --

    def getinfo(
        self,
        args: Sequence[str],
        *,
        raw_args: Sequence[str] | None = None,
        search: str | None = None,
        sid: str | None = None,
        app: str = "kepler",
        owner: str = "admin",
        username: str = "admin",
        session_key: str = "kepler-test-session-key",
        splunkd_uri: str = "https://127.0.0.1:8089",
        splunk_version: str = "9.4.1",
        maxresultrows: int = 50000,
        earliest_time: str | float = "0",
        latest_time: str | float = "0",
        preview: bool = False,
        searchinfo: Mapping[str, Any] | None = None,
    ) -> Reply:
        """Send getinfo (empty body) and read its reply.

        `args` are the arguments with quotes removed, `raw_args` as typed (default: `args`);
        `search` is the plain SPL (default: `| makeresults | <command> <raw_args>`), sent
        percent-encoded. `searchinfo` overrides or adds keys last.
        """
        raw = list(args if raw_args is None else raw_args)
        spl = search if search is not None else f"| makeresults | {self.command} {' '.join(raw)}"
        info: dict[str, Any] = {
            "args": list(args),
            "raw_args": raw,
            "dispatch_dir": str(self.dispatch_dir),
            "sid": sid or self.sid,
            "app": app,
            "owner": owner,
            "username": username,
            "session_key": session_key,
            "splunkd_uri": splunkd_uri,
            "splunk_version": splunk_version,
            "search": encode_search(spl.strip()),
            "command": self.command,
            "maxresultrows": maxresultrows,
            "earliest_time": str(earliest_time),
            "latest_time": str(latest_time),
        }
        info.update(searchinfo or {})
        metadata = {
            "action": "getinfo",
            "preview": preview,
            "streaming_command_will_restart": False,
            "searchinfo": info,
        }
        reply = self.request(frame(metadata))
        fields = reply.metadata.get("required_fields")
        self.required_fields = (
            None if not fields or "*" in fields else [str(name) for name in fields]
        )
        return reply

    def send(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        finished: bool,
        fields: Sequence[str] | None = None,
    ) -> tuple[Reply, list[Record]]:
        """Send `records` as splunkd sends them to this command and return its reply and
        the events as the search shows them after the command.

        Without `required_fields` at getinfo, every field goes and the reply's records are
        the results. With them, only those fields (the ones the events have) go, plus
        `_chunked_idx` numbering this chunk's records; every reply row must carry a valid
        `_chunked_idx`, and its fields are merged into that event, whose other fields
        splunkd kept. `records` empty with `fields` sends a header-only chunk.
        """
        names = list(_fields_of(records) if fields is None else fields)
        if self.required_fields is None:
            reply = self.execute(encode_records(records, names), finished=finished)
            return reply, reply.records()
        sent = [name for name in self.required_fields if name in names]
        body = encode_records(records, sent, chunked_idx=True)
        reply = self.execute(body, finished=finished)
        results: list[Record] = []
        for row in reply.records():
            index = row.pop("_chunked_idx", None)
            if not isinstance(index, str) or not index.isdigit() or int(index) >= len(records):
                raise ProtocolError(
                    f"reply row without a valid _chunked_idx ({index!r}): a command that "
                    "declares required_fields must echo it"
                )
            event: Record = {name: _shown(records[int(index)].get(name)) for name in names}
            event.update(row)
            results.append(event)
        return reply, results

    def execute(self, body: bytes, *, finished: bool) -> Reply:
        """Send one execute chunk and return the last answer to it (`execute_all`)."""
        return self.execute_all(body, finished=finished)[-1]

    def execute_all(self, body: bytes, *, finished: bool) -> list[Reply]:
        """Send one execute chunk and return every answer to it: one, unless the chunk is
        the last (`finished: true`) and the command answers `finished: false`; splunkd
        then sends an empty `finished: true` chunk, again after each such answer."""
        if not isinstance(body, bytes):
            raise TypeError("body must be bytes (lengths are UTF-8 byte counts)")
        answers = [self._execute(body, finished)]
        while finished and answers[-1].finished is False:
            if len(answers) > self.max_follow_ups:
                raise ProtocolError(
                    f"{len(answers)} answers to the last chunk and still not finished; "
                    f"{self._diagnosis()}"
                )
            answers.append(self._execute(b"", True))
        return answers

    def _execute(self, body: bytes, finished: bool) -> Reply:
        reply = self.request(frame({"action": "execute", "finished": finished}, body))
        if not isinstance(reply.finished, bool):
            raise ProtocolError(f"execute reply lacks a boolean 'finished': {reply.metadata}")
        self.replies.append(reply)
        return reply

    def request(self, chunk: bytes) -> Reply:
        """Write one chunk's exact bytes and read exactly one reply chunk."""
        self.write(chunk)
        return self.read_reply()

    def write(self, data: bytes) -> None:
        """Write raw bytes to the command's stdin, as splunkd writes a whole chunk."""
        self.requests.append(data)
        stdin = self.proc.stdin
        assert stdin is not None
        failure: list[BaseException] = []

        def send() -> None:
            try:
                stdin.write(data)
                stdin.flush()
            except OSError as error:  # BrokenPipeError: the command is gone
                failure.append(error)

        # A command that stops reading would block this write for ever: bound it.
        writer = threading.Thread(target=send, daemon=True)
        writer.start()
        writer.join(self.timeout)
        if writer.is_alive():
            self.proc.kill()
            raise ProtocolError(f"command stopped reading stdin; {self._diagnosis()}")
        if failure:
            raise ProtocolError(
                f"writing to stdin failed ({failure[0]}); {self._diagnosis(ended=True)}"
            )

    def read_reply(self) -> Reply:
        """Read the next reply chunk, waiting at most `timeout` seconds."""
        deadline = time.monotonic() + self.timeout
        drain = self._stdout
        need = 0  # stdout bytes the reply needs, once its header is known
        with drain.changed:
            while True:
                parsed = None if len(drain.data) < need else _parse_frame(drain.data, self._pos)
                if parsed is None:
                    need = _frame_end(drain.data, self._pos)
                else:
                    start, end, metadata, body = parsed
                    self._pos = end
                    raw = bytes(drain.data[start:end])
                    return Reply(_decode_metadata(metadata), body, raw)
                if drain.eof:
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ProtocolError(f"no reply within {self.timeout} s; {self._diagnosis()}")
                drain.changed.wait(remaining)
        raise ProtocolError(f"stdout closed before a whole reply; {self._diagnosis(ended=True)}")

    def replay(self, recording: bytes) -> bytes:
        """Feed a recorded splunkd input stream chunk by chunk, reading one reply after
        each (splunkd waits for it) and asking again after a last chunk as `execute_all`
        does, then close stdin; return all the command's stdout."""
        previous = 0
        for _, end, metadata, _ in _frames(recording):
            reply = self.request(recording[previous:end])
            previous = end
            sent = _decode_metadata(metadata)
            if sent.get("action") == "execute":
                self.replies.append(reply)
                if sent.get("finished") is True and reply.finished is False:
                    self.execute_all(b"", finished=True)
        self.close()
        return self.stdout

    # -- the end --

    def close(self, timeout: float | None = None) -> int:
        """Close stdin (EOF: the command must exit) and return its exit code."""
        if self.returncode is not None:
            return self.returncode
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass  # already gone: its exit code tells
        try:
            self.returncode = self.proc.wait(self.timeout if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise ProtocolError(f"command did not exit at stdin EOF; {self._diagnosis()}") from None
        finally:
            self._stdout.join(self.timeout)
            self._stderr.join(self.timeout)
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None
        return self.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.close()

    def __enter__(self) -> Splunkd:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None:
            self.kill()
        else:
            self.close()
