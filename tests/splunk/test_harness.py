"""The splunkd-side harness plays splunkd faithfully: proven against real recordings."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.splunk.conftest import COMMANDS
from tests.splunk.harness import (
    ProtocolError,
    Reply,
    Splunkd,
    chunks,
    decode_mv,
    encode_mv,
    encode_records,
    encode_search,
    frame,
    header_only,
    split_chunks,
)

ASCII_WORD = re.compile(r"\w+", re.ASCII)
COUNTMATCHES_ARGS = ["fieldname=word_count", "pattern=\\w+", "text"]


def _recorded_execute(countmatches_input: bytes) -> tuple[dict, bytes]:
    (getinfo, _), (metadata, body) = split_chunks(countmatches_input)
    assert json.loads(getinfo)["action"] == "getinfo"
    return json.loads(metadata), body


def _tweets(countmatches_input: bytes) -> list[dict]:
    _, body = _recorded_execute(countmatches_input)
    return Reply({}, body, b"").records()


def _words(value: str | list[str]) -> int:
    values = value if isinstance(value, list) else [value]
    return sum(len(ASCII_WORD.findall(item)) for item in values)


# --- the recordings --------------------------------------------------------------------


def test_replay_countmatches_matches_recording(
    countmatches: Path, countmatches_input: bytes, countmatches_output: bytes
) -> None:
    splunkd = Splunkd(countmatches)
    assert splunkd.argv == [sys.executable, str(countmatches)]  # no arguments, as splunkd

    stdout = splunkd.replay(countmatches_input)

    assert splunkd.returncode == 0, splunkd.stderr
    assert splunkd.trailing == b""
    actual, expected = split_chunks(stdout), split_chunks(countmatches_output)
    assert len(actual) == len(expected) == 2
    assert json.loads(actual[0][0]) == json.loads(expected[0][0]) == {"type": "streaming"}
    assert actual[0][1] == expected[0][1] == b""
    assert actual[1][0] == expected[1][0] == b'{"finished":true}'
    assert actual[1][1] == expected[1][1]  # 49,651 bytes of CSV, byte for byte
    # The one raw difference: the 2015 SDK wrote "\n" after its getinfo reply; splunklib 3
    # writes chunks back to back, as the protocol says.
    assert stdout == frame(*actual[0]) + frame(*actual[1])
    assert countmatches_output == frame(*expected[0]) + b"\n" + frame(*expected[1])


def test_replay_sum_reduce_matches_recording(sum_command: Path, recordings: Path) -> None:
    recording = gzip.decompress((recordings / "sum.reduce.input.gz").read_bytes())
    expected = split_chunks((recordings / "sum.reduce.output").read_bytes())

    splunkd = Splunkd(sum_command)
    actual = split_chunks(splunkd.replay(recording))

    assert splunkd.returncode == 0, splunkd.stderr
    assert json.loads(actual[0][0]) == json.loads(expected[0][0])
    assert json.loads(actual[0][0])["streaming_preop"] == 'sum phase="map" total="total" value1'
    assert (
        actual[1]
        == expected[1]
        == (b'{"finished":true}', b"total,__mv_total\r\n2147943.07811,\r\n")
    )


def test_encode_records_writes_splunkd_csv_byte_for_byte(countmatches_input: bytes) -> None:
    (getinfo, _), (metadata, body) = split_chunks(countmatches_input)
    tweets = _tweets(countmatches_input)
    assert len(tweets) == 500

    assert encode_records(tweets, ["_serial", "_time", "text"]) == body
    assert (
        frame({"action": "execute", "finished": True}, body)
        == countmatches_input[countmatches_input.rindex(b"chunked 1.0,") :]
    )
    assert metadata == b'{"action":"execute","finished":true}'
    search = json.loads(getinfo)["searchinfo"]["search"]
    assert encode_search(unquote(search)) == search


# --- the CSV ---------------------------------------------------------------------------


def test_encode_records_multivalue_and_quoting() -> None:
    body = encode_records(
        [
            {"a": ["x$y", "z"], "b": "1", "_c": 'say "hi"'},
            {"a": ["only"], "b": None},
            {"a": "naïve", "b": 2.5},
        ]
    )
    assert body == (
        b'a,b,"_c","__mv_a","__mv_b","__mv__c"\n'
        b'"x$y\nz",1,"say ""hi""","$x$$y$;$z$",,\n'
        b"only,,,,,\n"
        b'"na\xc3\xafve","2.5",,,,\n'
    )
    assert encode_records([]) == b""
    assert header_only(["a", "b"]) == b'a,b,"__mv_a","__mv_b"\n'
    indexed = encode_records([{"a": "p"}, {"a": "q"}], chunked_idx=True)
    assert indexed == b'a,"_chunked_idx","__mv_a","__mv__chunked_idx"\np,0,,\nq,1,,\n'


def test_decode_mv_round_trip_and_strictness() -> None:
    values = ["a$b", "", "$$", "x;y", "ü\nv"]
    assert decode_mv(encode_mv(values)) == values
    for bad in ("$a", "$a$$", "$a$;", "$a$b$", "a"):
        with pytest.raises(ValueError, match="malformed"):
            decode_mv(bad)


def test_reply_records_rebuild_multivalue_fields() -> None:
    body = b'n,__mv_n,t,__mv_t\r\n"1\n2",$1$;$2$,"x, ""y""",\r\n3,,,\r\n'
    reply = Reply({"finished": True}, body, b"")
    assert reply.fieldnames == ["n", "t"]
    assert reply.records() == [{"n": ["1", "2"], "t": 'x, "y"'}, {"n": "3", "t": ""}]
    assert Reply({"finished": False}, b"", b"").records() == []


def test_split_chunks_counts_utf8_bytes_and_tolerates_whitespace() -> None:
    one = frame({"finished": False, "note": "日本"}, "é\r\n".encode())
    assert one.startswith(b"chunked 1.0,34,4\n")
    assert split_chunks(b"\n" + one + b"\n \n" + one) == [(one[17:51], one[51:])] * 2
    with pytest.raises(ProtocolError, match="truncated"):
        split_chunks(one[:-1])
    with pytest.raises(ProtocolError, match="not a chunk header"):
        split_chunks(b"garbage\n" + one)


# --- driving a command -----------------------------------------------------------------


def test_countmatches_answers_every_chunk(countmatches: Path, countmatches_input: bytes) -> None:
    tweets = _tweets(countmatches_input)[:100]
    records: list[dict] = []
    for index, tweet in enumerate(tweets):
        record = {"_serial": tweet["_serial"], "_time": tweet["_time"], "text": tweet["text"]}
        if index % 3 == 0:
            record["tags"] = [f"#tag${index}", "ünï", "two words"]
        elif index % 3 == 1:
            record["tags"] = "$single"
        records.append(record)
    assert any("\n" in record["text"] for record in records)  # multi-line tweets
    fields = ["_serial", "_time", "text", "tags"]
    bodies = chunks(records, 30, fields, chunked_idx=True)
    # As splunkd may send them: data, an empty chunk, more data, a header-only last chunk.
    plan = [
        (bodies[0], records[0:30], False),
        (b"", [], False),
        (bodies[1], records[30:60], False),
        (bodies[2], records[60:90], False),
        (bodies[3], records[90:100], False),
        (header_only(fields), [], True),
    ]

    with Splunkd(countmatches) as splunkd:
        info = splunkd.getinfo(
            ["fieldname=word_count", "pattern=\\w+", "text", "tags"],
            raw_args=["fieldname=word_count", 'pattern="\\w+"', "text", "tags"],
        )
        assert info.metadata == {"type": "streaming"}
        assert info.body == b""
        replies = [splunkd.execute(body, finished=finished) for body, _, finished in plan]
        assert splunkd.close() == 0, splunkd.stderr
        assert splunkd.trailing == b""

    assert len(replies) == len(plan)
    for reply, (_, sent, finished) in zip(replies, plan, strict=True):
        assert reply.finished is finished
        assert reply.messages == []
        got = reply.records()
        assert len(got) == len(sent)
        if not sent:
            assert reply.body == b""
            continue
        assert reply.fieldnames == [*fields, "_chunked_idx", "word_count"]
        for index, (out, record) in enumerate(zip(got, sent, strict=True)):
            assert out["_chunked_idx"] == str(index)  # echoed, as splunkd requires
            assert out["text"] == record["text"]
            assert out["tags"] == record.get("tags", "")  # lists come back as lists
            expected = _words(record["text"]) + _words(record.get("tags", ""))
            assert out["word_count"] == str(expected)


def test_getinfo_sends_every_searchinfo_key(countmatches: Path) -> None:
    with Splunkd(countmatches, sid="1700000000.42") as splunkd:
        splunkd.getinfo(COUNTMATCHES_ARGS, searchinfo={"app": "search"})
        request = splunkd.requests[0]
        splunkd.kill()
    ((metadata, body),) = split_chunks(request)
    sent = json.loads(metadata)
    assert body == b""
    assert list(sent) == ["action", "preview", "streaming_command_will_restart", "searchinfo"]
    assert (sent["action"], sent["preview"], sent["streaming_command_will_restart"]) == (
        "getinfo",
        False,
        False,
    )
    info = sent["searchinfo"]
    assert list(info) == [
        "args", "raw_args", "dispatch_dir", "sid", "app", "owner", "username", "session_key",
        "splunkd_uri", "splunk_version", "search", "command", "maxresultrows", "earliest_time",
        "latest_time",
    ]  # fmt: skip
    assert info["sid"] == "1700000000.42"
    assert info["dispatch_dir"].endswith("/dispatch/1700000000.42")
    assert info["app"] == "search"
    assert info["maxresultrows"] == 50000
    assert info["command"] == "countmatches"
    assert unquote(info["search"]) == "| makeresults | countmatches " + " ".join(COUNTMATCHES_ARGS)


def test_countmatches_missing_option_errors_at_getinfo(countmatches: Path) -> None:
    with Splunkd(countmatches) as splunkd:
        reply = splunkd.getinfo(["fieldname=word_count", "text"])
        assert splunkd.close() == 1
    assert reply.messages == [("ERROR", 'A value for "pattern" is required')]


def test_countmatches_runs_under_bare_python(
    countmatches: Path, countmatches_input: bytes, countmatches_output: bytes
) -> None:
    """Splunk's Python has no site-packages: `python -S` sees only the vendored lib/."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    bare = subprocess.run(
        [sys.executable, "-S", "-c", "import pydantic"], env=env, capture_output=True, check=False
    )
    assert bare.returncode == 1 and b"No module named 'pydantic'" in bare.stderr

    splunkd = Splunkd(countmatches, python_args=["-S"], env=env)
    assert splunkd.argv == [sys.executable, "-S", str(countmatches)]
    stdout = splunkd.replay(countmatches_input)

    assert splunkd.returncode == 0, splunkd.stderr
    assert split_chunks(stdout)[1] == split_chunks(countmatches_output)[1]


def test_harness_reports_a_dead_or_silent_command(tmp_path: Path) -> None:
    dies = tmp_path / "dies.py"
    dies.write_text("import sys\nsys.stdin.buffer.readline()\nsys.exit('boom')\n")
    with Splunkd(dies) as splunkd, pytest.raises(ProtocolError, match=r"(?s)exited with 1.*boom"):
        splunkd.getinfo(COUNTMATCHES_ARGS)

    silent = tmp_path / "silent.py"
    silent.write_text("import sys\nsys.stdin.buffer.read()\n")
    with Splunkd(silent, timeout=0.5) as splunkd:
        with pytest.raises(ProtocolError, match=r"no reply within 0\.5 s"):
            splunkd.getinfo(COUNTMATCHES_ARGS)
        assert splunkd.close() == 0


# --- asked again after the last chunk ---------------------------------------------------


def test_generating_command_is_asked_again_until_finished(vendor_lib: Path) -> None:
    """splunklib's GeneratingCommand answers at most `maxresultrows` events per chunk and
    `finished: false` while more remain; the harness asks again, as splunkd does."""
    with Splunkd(COMMANDS / "generatehello.py") as splunkd:
        info = splunkd.getinfo(["count=10"], maxresultrows=4)
        assert info.metadata == {"type": "stateful", "generating": True}
        answers = splunkd.execute_all(b"", finished=True)
        assert splunkd.close() == 0, splunkd.stderr
        assert splunkd.trailing == b""

    assert [a.finished for a in answers] == [False, False, True]
    assert [len(a.records()) for a in answers] == [4, 4, 2]
    events = [r["_raw"] for a in answers for r in a.records()]
    assert events == [f"{i}. Hello World!" for i in range(1, 11)]
    assert splunkd.replies == answers
    follow_up = frame({"action": "execute", "finished": True})
    assert splunkd.requests[1:] == [follow_up] * 3  # the first execute is empty too


def test_one_answer_when_the_command_finishes_at_once(vendor_lib: Path) -> None:
    with Splunkd(COMMANDS / "generatehello.py") as splunkd:
        splunkd.getinfo(["count=3"], maxresultrows=4)
        reply = splunkd.execute(b"", finished=True)
        assert splunkd.close() == 0
    assert reply.finished is True and len(reply.records()) == 3
    assert splunkd.replies == [reply] and len(splunkd.requests) == 2


def test_not_finished_to_a_middle_chunk_is_not_asked_again(
    countmatches: Path, countmatches_input: bytes
) -> None:
    tweets = _tweets(countmatches_input)[:4]
    with Splunkd(countmatches) as splunkd:
        splunkd.getinfo(COUNTMATCHES_ARGS)
        answers = splunkd.execute_all(encode_records(tweets[:2]), finished=False)
        last = splunkd.execute_all(encode_records(tweets[2:]), finished=True)
        assert splunkd.close() == 0
    assert [a.finished for a in answers + last] == [False, True]
    assert len(splunkd.requests) == 3


def test_a_command_never_finishing_is_a_protocol_error(tmp_path: Path) -> None:
    endless = tmp_path / "endless.py"
    endless.write_text(
        "import sys\n"
        "from kepler.searchcommand.protocol import read_chunk, write_chunk\n"
        "while read_chunk(sys.stdin.buffer) is not None:\n"
        "    write_chunk(sys.stdout.buffer, {'finished': False})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with Splunkd(endless, env=env, max_follow_ups=5) as splunkd:
        splunkd.request(frame({"action": "getinfo"}))
        with pytest.raises(ProtocolError, match="6 answers to the last chunk"):
            splunkd.execute_all(b"", finished=True)
        assert len(splunkd.replies) == 6
        splunkd.kill()


REQUIRED_FIELDS_COMMAND = r"""
import csv, io, json, os, re, sys
HEADER = re.compile(rb"chunked\s+1.0\s*,\s*(\d+)\s*,\s*(\d+)\s*\n")
echo = os.environ.get("ECHO_IDX") == "1"
def read():
    line = sys.stdin.buffer.readline()
    if not line:
        return None
    m, b = map(int, HEADER.match(line).groups())
    return json.loads(sys.stdin.buffer.read(m)), sys.stdin.buffer.read(b)
def write(meta, body=b""):
    meta = json.dumps(meta).encode()
    sys.stdout.buffer.write(b"chunked 1.0,%d,%d\n" % (len(meta), len(body)) + meta + body)
    sys.stdout.buffer.flush()
read()
write({"type": "streaming", "required_fields": ["n"]})
while (chunk := read()) is not None:
    meta, body = chunk
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    out = io.StringIO()
    names = ["_chunked_idx", "double"] if echo else ["double"]
    writer = csv.DictWriter(out, names, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    for row in reversed(rows):  # answered out of order: splunkd merges by _chunked_idx
        writer.writerow({**row, "double": 2 * int(row["n"]), "seen": sorted(row)})
    write({"finished": meta["finished"]}, out.getvalue().encode())
"""


def test_required_fields_send_only_those_and_merge_back_by_chunked_idx(tmp_path: Path) -> None:
    script = tmp_path / "doubler.py"
    script.write_text(REQUIRED_FIELDS_COMMAND)
    events = [{"_raw": f"line {i} with, commas", "n": i, "tags": ["a", "b"]} for i in range(5)]
    with Splunkd(script, env={**os.environ, "ECHO_IDX": "1"}) as splunkd:
        info = splunkd.getinfo([])
        assert info.metadata["required_fields"] == ["n"] == splunkd.required_fields
        reply, results = splunkd.send(events, finished=True)
        assert splunkd.close() == 0
    ((_, body),) = split_chunks(splunkd.requests[-1])
    assert body.split(b"\n")[0] == b'n,"_chunked_idx","__mv_n","__mv__chunked_idx"'
    assert b"line" not in body  # _raw stayed with splunkd
    assert [r["double"] for r in reply.records()] == ["8", "6", "4", "2", "0"]
    assert [(r["n"], r["double"], r["_raw"], r["tags"]) for r in results] == [
        (str(i), str(2 * i), f"line {i} with, commas", ["a", "b"]) for i in (4, 3, 2, 1, 0)
    ]

    with Splunkd(script) as splunkd:  # a command that forgets to echo _chunked_idx
        splunkd.getinfo([])
        with pytest.raises(ProtocolError, match="_chunked_idx"):
            splunkd.send(events, finished=True)
