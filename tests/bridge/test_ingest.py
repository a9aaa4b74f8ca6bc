"""Chunk ingest: request bodies (Splunk's CSV, Arrow streams) to Parquet parts, memory bounded."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from starlette.requests import ClientDisconnect

from kepler.core.errors import (
    Conflict,
    DataError,
    DatasetIncomplete,
    DatasetNotFound,
    PayloadTooLarge,
)
from kepler.server.datasets import DatasetStore
from kepler_bridge.ingest import ChunkResult, ingest_chunk

MiB = 1024 * 1024


@pytest.fixture
def store(dataset_store: DatasetStore) -> DatasetStore:
    return dataset_store


@pytest.fixture
def spool(tmp_path: Path) -> Path:
    path = tmp_path / "spool"
    path.mkdir()
    return path


async def blocks(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    """The body in small blocks, cut anywhere (inside \\r\\n, inside a UTF-8 character)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def cut_off(data: bytes, error: BaseException) -> AsyncIterator[bytes]:
    yield data[: len(data) // 2]
    raise error


def ingest(
    store: DatasetStore,
    dataset_id: str,
    seq: int,
    body: bytes | AsyncIterator[bytes],
    *,
    fmt: str = "csv",
    max_chunk_bytes: int = 64 * MiB,
    max_dataset_bytes: int = 1024 * MiB,
    spool_dir: Path | None = None,
) -> ChunkResult:
    stream = blocks(body) if isinstance(body, bytes) else body
    return asyncio.run(
        ingest_chunk(
            store,
            dataset_id,
            seq,
            stream,
            fmt=fmt,
            max_chunk_bytes=max_chunk_bytes,
            max_dataset_bytes=max_dataset_bytes,
            spool_dir=spool_dir,
        )
    )


def splunk_csv(rows: list[dict[str, Any]]) -> bytes:
    """Rows as splunklib writes them: plain columns, then ``__mv_`` columns, ``\\r\\n``,
    minimal quoting; a list is a multivalue field (``a\\nb`` and ``$a$;$b$``)."""
    fields: list[str] = []
    for row in rows:
        fields += [name for name in row if name not in fields]
    multi = [name for name in fields if any(isinstance(r.get(name), list) for r in rows)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(fields + [f"__mv_{name}" for name in multi])
    for row in rows:
        plain = ["\n".join(v) if isinstance(v, list) else v for v in map(row.get, fields)]
        mv = [
            "$" + "$;$".join(x.replace("$", "$$") for x in v) + "$" if isinstance(v, list) else ""
            for v in map(row.get, multi)
        ]
        writer.writerow([("" if v is None else v) for v in plain] + mv)
    return out.getvalue().encode()


def arrow_stream(*tables: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, tables[0].schema) as writer:
        for table in tables:
            writer.write_table(table)
    return sink.getvalue()


def part_files(store: DatasetStore, dataset_id: str) -> list[str]:
    """The dataset's files, but its lock file (present on a folder store only)."""
    found = (p.rsplit("/", 1)[-1] for p in store.fs.find(f"{store.root}/{dataset_id}"))
    return sorted(name for name in found if name != ".lock")


# -- CSV -------------------------------------------------------------------------------


def test_ingest_csv_splunk_chunk_round_trip(store: DatasetStore) -> None:
    rows: list[dict[str, Any]] = [
        {"_time": "1700000000.125", "host": "web-01", "_raw": 'GET /a?x=1,2 "quoted"', "n": "7"},
        {"_time": "1700000001", "host": "wéb-02 ✓", "_raw": "line one\r\nline two", "n": "007"},
        {"_time": "1700000002", "host": "", "_raw": "tab\there, 日本語", "n": "NaN"},
        {"_time": "1700000003", "host": "db", "_raw": "", "n": "null", "tag": ["a", "b,c"]},
        {"_time": "1700000004", "host": "db", "_raw": "$cost$", "n": "1e3", "tag": ["$x$"]},
    ]
    body = splunk_csv(rows)
    assert b"__mv_tag" in body and b"\r\n" in body
    dataset_id = store.create("csv", {"search": "index=main", "sid": "1.2"})
    result = ingest(store, dataset_id, 0, body)
    assert result.rows == 5 and result.bytes == len(body)
    assert result.columns == ("_time", "host", "_raw", "n", "tag", "__mv_tag")
    assert result.sha256 == hashlib.sha256(body).hexdigest()
    manifest = store.complete(dataset_id, expected_chunks=1, expected_rows=5)
    assert set(manifest.schema.values()) == {"string"}
    table = store.read_table(dataset_id)
    assert table.column("_raw").to_pylist() == [r["_raw"] for r in rows]
    assert table.column("host").to_pylist() == ["web-01", "wéb-02 ✓", "", "db", "db"]
    assert table.column("n").to_pylist() == ["7", "007", "NaN", "null", "1e3"]
    assert table.column("tag").to_pylist() == ["", "", "", "a\nb,c", "$x$"]
    assert table.column("__mv_tag").to_pylist() == ["", "", "", "$a$;$b,c$", "$$$x$$$"]
    assert table.column("_raw").null_count == 0


def test_ingest_csv_differing_columns_empty_and_header_only_chunks(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    chunks = [
        splunk_csv([{"a": "1", "b": "x"}]),
        b"",
        b"a,b,c\r\n",
        b"c,a",  # a lone header without its line ending
        splunk_csv([{"c": "3", "a": "2"}, {"c": "text", "a": "4"}]),
    ]
    results = [ingest(store, dataset_id, seq, body) for seq, body in enumerate(chunks)]
    assert [r.rows for r in results] == [1, 0, 0, 0, 2]
    assert results[1].columns == () and results[2].columns == ("a", "b", "c")
    assert results[3].columns == ("c", "a")
    store.complete(dataset_id, expected_chunks=5, expected_rows=3)
    assert store.read_table(dataset_id).to_pydict() == {
        "a": ["1", "2", "4"],
        "b": ["x", None, None],
        "c": [None, "3", "text"],
    }


def test_ingest_csv_numbers_then_text_never_breaks(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    numbers = b"x,y\r\n" + b"".join(b"%d,%d.5\r\n" % (i, i) for i in range(20_000))
    ingest(store, dataset_id, 0, numbers)
    ingest(store, dataset_id, 1, b"x,y\r\n12,oops\r\n")
    manifest = store.complete(dataset_id, 2, 20_001)
    assert manifest.schema == {"x": "string", "y": "string"}


def test_ingest_csv_row_longer_than_a_block(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    long_value = "é" * (600 * 1024)
    body = splunk_csv([{"a": "1", "b": "short"}, {"a": "2", "b": long_value}])
    result = ingest(store, dataset_id, 0, blocks(body, 64 * 1024))
    assert result.rows == 2
    store.complete(dataset_id)
    assert store.read_table(dataset_id).column("b").to_pylist() == ["short", long_value]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (
            b"a,b\r\n1,2\r\n3,4,5\r\n",
            r"not valid CSV: Row #3 \(row 1 is the header\): Expected 2 columns, got 3",
        ),
        (b"a,b\r\n1,\xff\xfe\r\n", "UTF8"),
        (b"a,b\xff\r\n1,2\r\n", "header line is not UTF-8"),
        (b"a,a\r\n1,2\r\n", "'a' more than once"),
    ],
)
def test_ingest_csv_malformed_data_error(
    store: DatasetStore, spool: Path, body: bytes, match: str
) -> None:
    dataset_id = store.create("csv")
    with pytest.raises(DataError, match=match) as err:
        ingest(store, dataset_id, 0, body, spool_dir=spool)
    if "Row" in match:
        assert "send CSV as Splunk writes it" in err.value.message
    assert store.received_chunks(dataset_id) == []
    assert part_files(store, dataset_id) == ["dataset.json"]
    assert list(spool.iterdir()) == []


# -- Arrow -----------------------------------------------------------------------------


def test_ingest_arrow_typed_columns_round_trip(store: DatasetStore) -> None:
    when = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    table = pa.table(
        {
            "i": pa.array([1, None, 3], pa.int64()),
            "f": pa.array([0.5, 1.5, None], pa.float64()),
            "b": pa.array([True, False, None]),
            "t": pa.array([when, when, None], pa.timestamp("us", tz="UTC")),
            "s": pa.array(["ü", "", None]),
            "l": pa.array([[1, 2], [], None], pa.list_(pa.int32())),
        }
    ).replace_schema_metadata({"pandas": "{}"})
    dataset_id = store.create("arrow")
    body = arrow_stream(table.slice(0, 2), table.slice(2))
    result = ingest(store, dataset_id, 0, body, fmt="arrow")
    assert (result.rows, result.columns) == (3, ("i", "f", "b", "t", "s", "l"))
    manifest = store.complete(dataset_id, 1, 3)
    assert manifest.schema["t"] == "timestamp[us, tz=UTC]"
    back = store.read_table(dataset_id)
    assert back.schema.field("l").type.value_type == pa.int32()  # Parquet names it "element"
    assert back.drop_columns("l").equals(table.drop_columns("l").replace_schema_metadata(None))
    assert back.to_pylist() == table.to_pylist()


def test_ingest_arrow_promotes_types_across_chunks(store: DatasetStore) -> None:
    dataset_id = store.create("arrow")
    first = pa.table({"x": [1, 2], "n": [None, None]})
    ingest(store, dataset_id, 0, arrow_stream(first), fmt="arrow")
    ingest(store, dataset_id, 1, arrow_stream(pa.table({"x": [2.5], "n": ["a"]})), fmt="arrow")
    ingest(store, dataset_id, 2, b"", fmt="arrow")
    manifest = store.complete(dataset_id, 3, 3)
    assert manifest.schema == {"x": "double", "n": "string"}
    expected = {"x": [1.0, 2.0, 2.5], "n": [None, None, "a"]}
    assert store.read_table(dataset_id).to_pydict() == expected


def test_ingest_arrow_incompatible_types_fail_at_complete(store: DatasetStore) -> None:
    dataset_id = store.create("arrow")
    ingest(store, dataset_id, 0, arrow_stream(pa.table({"x": [1]})), fmt="arrow")
    ingest(store, dataset_id, 1, arrow_stream(pa.table({"x": [True]})), fmt="arrow")
    with pytest.raises(DataError, match="'x' is int64 in chunk 0 but bool in chunk 1"):
        store.complete(dataset_id)


def arrow_file(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (arrow_file(pa.table({"x": [1]})), "an Arrow IPC file, not a stream"),
        (b"x,y\r\n1,2\r\n", "not a valid Arrow IPC stream"),
        (arrow_stream(pa.table({"x": list(range(1000))}))[:-700], "not a valid Arrow IPC stream"),
    ],
)
def test_ingest_arrow_malformed_data_error(
    store: DatasetStore, spool: Path, body: bytes, match: str
) -> None:
    dataset_id = store.create("arrow")
    with pytest.raises(DataError, match=match) as err:
        ingest(store, dataset_id, 0, body, fmt="arrow", spool_dir=spool)
    assert "pyarrow.ipc.new_stream" in err.value.message
    assert store.received_chunks(dataset_id) == [] and list(spool.iterdir()) == []


# -- the upload protocol ---------------------------------------------------------------


def test_ingest_resend_same_chunk_replaces_it(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    ingest(store, dataset_id, 0, b"a\r\nold\r\nold\r\n")
    ingest(store, dataset_id, 0, b"a\r\nnew\r\n")
    ingest(store, dataset_id, 0, b"a\r\nnew\r\n")
    assert part_files(store, dataset_id) == ["dataset.json", "part-000000.parquet"]
    manifest = store.complete(dataset_id, 1, 1)
    assert manifest.parts[0].sha256 == hashlib.sha256(b"a\r\nnew\r\n").hexdigest()
    assert store.read_table(dataset_id).to_pydict() == {"a": ["new"]}


@pytest.mark.parametrize("error", [ClientDisconnect(), RuntimeError("socket reset")])
def test_ingest_cut_off_stream_commits_nothing(
    store: DatasetStore, spool: Path, error: BaseException
) -> None:
    dataset_id = store.create("csv")
    body = splunk_csv([{"a": str(i), "b": "x" * 50} for i in range(2000)])
    ingest(store, dataset_id, 0, body)
    with pytest.raises(type(error)):
        ingest(store, dataset_id, 1, cut_off(body, error), spool_dir=spool)
    assert list(spool.iterdir()) == []
    assert store.received_chunks(dataset_id) == [0]
    assert part_files(store, dataset_id) == ["dataset.json", "part-000000.parquet"]
    with pytest.raises(DatasetIncomplete, match=r"missing chunk\(s\) 1 of 2.*re-sent"):
        store.complete(dataset_id, expected_chunks=2, expected_rows=4000)


def test_ingest_cut_off_resend_replaces_nothing(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    ingest(store, dataset_id, 0, b"a\r\ngood\r\n")
    with pytest.raises(ClientDisconnect):
        ingest(store, dataset_id, 0, cut_off(b"a\r\nbad\r\nbad\r\n", ClientDisconnect()))
    store.complete(dataset_id, 1, 1)
    assert store.read_table(dataset_id).to_pydict() == {"a": ["good"]}


def test_ingest_chunk_over_limit_payload_too_large(store: DatasetStore, spool: Path) -> None:
    dataset_id = store.create("csv")
    body = b"a\r\n" + b"1\r\n" * (MiB // 2)
    with pytest.raises(PayloadTooLarge, match=r"0\.5 MiB.*KEPLER_MAX_CHUNK_BYTES") as err:
        ingest(store, dataset_id, 0, body, max_chunk_bytes=MiB // 2, spool_dir=spool)
    assert err.value.detail["limit_bytes"] == MiB // 2
    assert store.received_chunks(dataset_id) == [] and list(spool.iterdir()) == []


def test_ingest_dataset_over_limit_payload_too_large(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    body = b"a,b\r\n" + b"".join(b"%d,%d\r\n" % (i, i * 7919 % 104729) for i in range(5000))
    first = ingest(store, dataset_id, 0, body, max_dataset_bytes=2 * len(body))
    limit = store.size_bytes(dataset_id) + len(body) + 1
    ingest(store, dataset_id, 0, body, max_dataset_bytes=limit)  # a re-send is not counted twice
    ingest(store, dataset_id, 1, body, max_dataset_bytes=limit)
    with pytest.raises(PayloadTooLarge, match=r"MiB.*KEPLER_MAX_DATASET_BYTES"):
        ingest(store, dataset_id, 2, body, max_dataset_bytes=limit)
    assert store.received_chunks(dataset_id) == [0, 1] and first.rows == 5000


def test_ingest_unknown_dataset_not_found_before_reading(store: DatasetStore) -> None:
    read: list[bytes] = []

    async def body() -> AsyncIterator[bytes]:
        read.append(b"a\r\n")
        yield b"a\r\n"

    with pytest.raises(DatasetNotFound):
        ingest(store, uuid.uuid4().hex, 0, body())
    assert read == []


def test_ingest_completed_dataset_conflict(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    ingest(store, dataset_id, 0, b"a\r\n1\r\n")
    store.complete(dataset_id)
    with pytest.raises(Conflict, match="already completed"):
        ingest(store, dataset_id, 1, b"a\r\n2\r\n")


def test_ingest_wrong_format_data_error(store: DatasetStore) -> None:
    dataset_id = store.create("arrow")
    with pytest.raises(DataError, match="takes arrow chunks, but chunk 0 was sent as csv"):
        ingest(store, dataset_id, 0, b"a\r\n1\r\n")
    with pytest.raises(DataError, match="chunk number"):
        ingest(store, dataset_id, -1, b"", fmt="arrow")


def test_ingest_fingerprint_same_content_same_hash(store: DatasetStore) -> None:
    def upload(*chunks: bytes) -> str:
        dataset_id = store.create("csv")
        for seq, body in enumerate(chunks):
            ingest(store, dataset_id, seq, body)
        return store.complete(dataset_id).content_hash

    one = splunk_csv([{"a": "1", "b": "ü"}])
    two = splunk_csv([{"a": "2", "b": "ü"}])
    assert upload(one, two) == upload(one, two)
    assert upload(one, two) != upload(two, one)
    assert upload(one, two) != upload(one, one)


def test_ingest_keeps_event_loop_responsive(tmp_path: Path) -> None:
    store = DatasetStore(str(tmp_path / "datasets"))
    dataset_id = store.create("csv")
    body = b"a,b\r\n" + b"".join(b"%d,%s\r\n" % (i, b"v" * 40) for i in range(400_000))

    async def main() -> float:
        gaps: list[float] = []
        done = asyncio.Event()

        async def tick() -> None:
            loop = asyncio.get_running_loop()
            last = loop.time()
            while not done.is_set():
                await asyncio.sleep(0.005)
                gaps.append(loop.time() - last)
                last = loop.time()

        ticker = asyncio.create_task(tick())
        await ingest_chunk(
            store,
            dataset_id,
            0,
            blocks(body, 64 * 1024),
            fmt="csv",
            max_chunk_bytes=64 * MiB,
            max_dataset_bytes=64 * MiB,
        )
        done.set()
        await ticker
        return max(gaps)

    assert asyncio.run(main()) < 0.25


# -- memory ----------------------------------------------------------------------------

# Peak RSS is the high-water mark of this process's own memory map (VmHWM, reset at exec;
# ru_maxrss is not: it keeps the forking parent's peak), cross-checked by sampling.
_BOUNDED_MEMORY_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys, threading
    import psutil
    from kepler.server.datasets import DatasetStore
    from kepler_bridge.ingest import ingest_chunk

    total = int(sys.argv[2])
    header = b"_time,host,_raw,tag,__mv_tag\\r\\n"
    row = ('17000000{i:02d}.5,web-{i:02d},"GET /a,b ""q"" {pad} ünï",'
           '"v{i}\\nw{i}",$v{i}$;$w{i}$\\r\\n')
    rows = "".join(row.format(i=i % 100, pad=str(i) * 20) for i in range(1000)).encode()

    def high_water():
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024

    async def body(size):
        yield header
        sent = len(header)
        while sent < size:
            for start in range(0, len(rows), 65536):
                yield rows[start : start + 65536]
            sent += len(rows)

    async def main():
        store = DatasetStore(sys.argv[1])
        dataset_id = store.create("csv")
        limits = dict(max_chunk_bytes=1 << 40, max_dataset_bytes=1 << 40)
        # Warm up: load the code of Arrow's CSV reader and Parquet writer.
        await ingest_chunk(store, dataset_id, 1, body(1), fmt="csv", **limits)
        process = psutil.Process()
        before = process.memory_info().rss
        sampled = [before]
        done = threading.Event()

        def sample():
            while not done.wait(0.005):
                sampled.append(process.memory_info().rss)

        sampler = threading.Thread(target=sample)
        sampler.start()
        result = await ingest_chunk(store, dataset_id, 0, body(total), fmt="csv", **limits)
        done.set()
        sampler.join()
        peak = max(high_water(), *sampled)
        print(json.dumps({"rows": result.rows, "bytes": result.bytes, "growth": peak - before}))

    asyncio.run(main())
    """
)


@pytest.mark.slow
def test_ingest_300mb_csv_chunk_bounded_memory(tmp_path: Path) -> None:
    total = 300 * 1000 * 1000
    proc = subprocess.run(
        [sys.executable, "-c", _BOUNDED_MEMORY_SCRIPT, str(tmp_path / "datasets"), str(total)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["bytes"] >= total and report["rows"] > 1_000_000
    assert report["growth"] < 150 * MiB, f"peak RSS grew {report['growth'] / MiB:.0f} MiB"
