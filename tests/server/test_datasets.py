"""The dataset store: parts, completion, manifests and reads, on a folder and on memory://."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from kepler.core.errors import Conflict, DataError, DatasetIncomplete, DatasetNotFound
from kepler.server.datasets import DatasetStore, Manifest, check_seq


@pytest.fixture
def store(dataset_store: DatasetStore) -> DatasetStore:
    return dataset_store


def put(store: DatasetStore, dataset_id: str, seq: int, table: pa.Table) -> None:
    raw = f"{seq}:{table.to_pydict()}".encode()
    store.write_part(
        dataset_id,
        seq,
        table.schema,
        table.to_batches(),
        sha256=hashlib.sha256(raw).hexdigest(),
        raw_bytes=len(raw),
    )


def strings(**columns: list[str]) -> pa.Table:
    return pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})


def files_under(store: DatasetStore, dataset_id: str) -> list[str]:
    return sorted(path.rsplit("/", 1)[-1] for path in store.fs.find(f"{store.root}/{dataset_id}"))


def test_create_dataset_unknown_format_data_error(store: DatasetStore) -> None:
    with pytest.raises(DataError, match=r"'xml'.*csv, arrow"):
        store.create("xml")


def test_create_dataset_unknown_source_key_data_error(store: DatasetStore) -> None:
    with pytest.raises(DataError, match="index"):
        store.create("csv", {"search": "index=main", "index": "main"})


def test_create_dataset_layout_on_a_folder(tmp_path: Path) -> None:
    store = DatasetStore(str(tmp_path / "datasets"))
    dataset_id = store.create("csv", {"search": "index=main | head 5", "sid": "17.3"})
    put(store, dataset_id, 0, strings(a=["1"]))
    root = tmp_path / "datasets" / dataset_id
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == [
        ".lock",  # the dataset's lock file: renames and completion take turns
        "dataset.json",
        "parts",
        "parts/part-000000.parquet",
    ]
    state = json.loads((root / "dataset.json").read_text())
    assert state["format"] == "csv" and state["completed"] is False
    assert state["source"] == {"search": "index=main | head 5", "sid": "17.3"}


def test_round_trip_unifies_columns_across_chunks(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    put(store, dataset_id, 0, strings(a=["1", "2"], b=["x", ""]))
    put(store, dataset_id, 1, pa.table({}))
    put(store, dataset_id, 2, strings(c=["ü"], a=["3"]))
    manifest = store.complete(dataset_id, expected_chunks=3, expected_rows=3)
    assert manifest.columns == ("a", "b", "c")
    assert manifest.schema == {"a": "string", "b": "string", "c": "string"}
    assert store.read_table(dataset_id).to_pydict() == {
        "a": ["1", "2", "3"],
        "b": ["x", "", None],
        "c": [None, None, "ü"],
    }


def test_read_table_columns_subset(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    put(store, dataset_id, 0, strings(a=["1", "2"]))
    put(store, dataset_id, 1, strings(b=["y"]))
    store.complete(dataset_id)
    assert store.read_table(dataset_id, columns=["b"]).to_pydict() == {"b": [None, None, "y"]}
    with pytest.raises(DataError, match=r"'nope'.*a, b"):
        store.read_table(dataset_id, columns=["nope"])


def test_iter_batches_matches_read_table(store: DatasetStore) -> None:
    dataset_id = store.create("arrow")
    put(store, dataset_id, 0, pa.table({"x": list(range(250)), "s": ["a"] * 250}))
    put(store, dataset_id, 1, pa.table({"s": ["b"] * 10}))
    store.complete(dataset_id)
    batches = list(store.iter_batches(dataset_id, batch_size=100))
    assert max(b.num_rows for b in batches) <= 100
    assert all(b.schema == store.schema(dataset_id) for b in batches)
    assert pa.Table.from_batches(batches).equals(store.read_table(dataset_id))
    only_x = pa.Table.from_batches(list(store.iter_batches(dataset_id, ["x"], batch_size=100)))
    assert only_x.num_rows == 260 and only_x.column("x").null_count == 10


def test_complete_promotes_int_and_double_to_double(store: DatasetStore) -> None:
    dataset_id = store.create("arrow")
    put(store, dataset_id, 0, pa.table({"x": pa.array([1, 2], pa.int64())}))
    put(store, dataset_id, 1, pa.table({"x": pa.array([0.5], pa.float64())}))
    assert store.complete(dataset_id).schema == {"x": "double"}
    assert store.read_table(dataset_id).column("x").to_pylist() == [1.0, 2.0, 0.5]


def test_complete_categorical_and_plain_values_unify(store: DatasetStore) -> None:
    dataset_id = store.create("arrow")
    put(store, dataset_id, 0, pa.table({"c": pa.array(["a", "b"]).dictionary_encode()}))
    put(store, dataset_id, 1, pa.table({"c": pa.array(["c"], pa.large_string())}))
    assert store.complete(dataset_id).schema == {"c": "large_string"}
    assert store.read_table(dataset_id).column("c").to_pylist() == ["a", "b", "c"]


def test_complete_incompatible_types_data_error(store: DatasetStore) -> None:
    dataset_id = store.create("arrow")
    put(store, dataset_id, 0, pa.table({"x": pa.array([1], pa.int64())}))
    put(store, dataset_id, 1, pa.table({"x": pa.array(["one"])}))
    with pytest.raises(DataError, match="'x' is int64 in chunk 0 but string in chunk 1"):
        store.complete(dataset_id)


def test_complete_missing_chunks_incomplete(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    for seq in (0, 1, 4):
        put(store, dataset_id, seq, strings(a=["1"]))
    with pytest.raises(DatasetIncomplete, match=r"missing chunk\(s\) 2-3, 5 of 6") as err:
        store.complete(dataset_id, expected_chunks=6)
    assert "re-sent" in err.value.message and "0-1, 4" in err.value.message
    assert err.value.detail["missing_chunks"] == [2, 3, 5]
    with pytest.raises(DatasetIncomplete, match=r"missing chunk\(s\) 2-3 of 5"):
        store.complete(dataset_id)


def test_complete_row_count_mismatch_incomplete(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    put(store, dataset_id, 0, strings(a=["1", "2"]))
    with pytest.raises(DatasetIncomplete, match=r"holds 2 rows .* declared 3.*re-sent") as err:
        store.complete(dataset_id, expected_chunks=1, expected_rows=3)
    assert err.value.detail["chunk_rows"] == [2]


def test_complete_chunks_beyond_declared_conflict(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    put(store, dataset_id, 0, strings(a=["1"]))
    put(store, dataset_id, 1, strings(a=["2"]))
    with pytest.raises(Conflict, match=r"chunk\(s\) 1 beyond the 1 declared"):
        store.complete(dataset_id, expected_chunks=1)


def test_complete_again_same_manifest_other_counts_conflict(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    put(store, dataset_id, 0, strings(a=["1"]))
    first = store.complete(dataset_id, 1, 1)
    assert store.complete(dataset_id, 1, 1) == first == store.complete(dataset_id)
    with pytest.raises(Conflict, match="already completed with 1 chunks and 1 rows"):
        store.complete(dataset_id, 2, 1)


def test_write_part_after_complete_conflict(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    put(store, dataset_id, 0, strings(a=["1"]))
    store.complete(dataset_id)
    with pytest.raises(Conflict, match="already completed"):
        put(store, dataset_id, 0, strings(a=["2"]))


def test_manifest_never_completed_incomplete(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    put(store, dataset_id, 0, strings(a=["1"]))
    put(store, dataset_id, 2, strings(a=["1"]))
    message = r"never completed \(chunks received: 0, 2\); a half-uploaded dataset is never"
    with pytest.raises(DatasetIncomplete, match=message):
        store.manifest(dataset_id)
    with pytest.raises(DatasetIncomplete, match=r"chunks received: 0, 2\)"):
        store.read_table(dataset_id)
    with pytest.raises(DatasetIncomplete):
        next(store.iter_batches(dataset_id))


@pytest.mark.parametrize(
    "dataset_id", ["0f3b9c2d7e8a41f5a6b7c8d9e0f1a2b3", "nope", "../../etc", ""]
)
def test_unknown_dataset_not_found(store: DatasetStore, dataset_id: str) -> None:
    for call in (
        store.manifest,
        store.read_table,
        store.info,
        store.delete,
        store.size_bytes,
        store.complete,
    ):
        with pytest.raises(DatasetNotFound):
            call(dataset_id)
    with pytest.raises(DatasetNotFound):
        put(store, dataset_id, 0, strings(a=["1"]))


def test_write_part_resend_replaces_it(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    put(store, dataset_id, 0, strings(a=["old", "old"]))
    put(store, dataset_id, 0, strings(a=["new"]))
    assert store.received_chunks(dataset_id) == [0]
    assert store.complete(dataset_id, 1, 1).rows == 1
    assert store.read_table(dataset_id).to_pydict() == {"a": ["new"]}


def test_stale_temporary_file_is_not_a_part(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    put(store, dataset_id, 0, strings(a=["1"]))
    stale = f"{store.root}/{dataset_id}/parts/.tmp-part-000001.parquet-0123"
    store.fs.pipe_file(stale, b"half a part")
    assert store.received_chunks(dataset_id) == [0]
    assert store.complete(dataset_id).chunks == 1


def test_write_part_cut_off_commits_nothing(store: DatasetStore) -> None:
    dataset_id = store.create("csv")

    def batches() -> Iterator[pa.RecordBatch]:
        yield from strings(a=["1"]).to_batches()
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        store.write_part(dataset_id, 0, strings(a=[]).schema, batches(), sha256="0", raw_bytes=1)
    assert store.received_chunks(dataset_id) == []
    assert files_under(store, dataset_id) == ["dataset.json"]
    with pytest.raises(DatasetIncomplete):
        store.complete(dataset_id, 1)


@pytest.mark.parametrize("seq", [-1, 1_000_000, True, "0"])
def test_write_part_bad_seq_data_error(store: DatasetStore, seq: Any) -> None:
    dataset_id = store.create("csv")
    with pytest.raises(DataError, match="chunk number"):
        put(store, dataset_id, seq, strings(a=["1"]))
    assert check_seq(999_999) == 999_999


def test_write_part_concurrent_threads(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    threads = [
        threading.Thread(target=put, args=(store, dataset_id, seq, strings(a=[str(seq)] * 50)))
        for seq in range(12)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    manifest = store.complete(dataset_id, 12, 600)
    assert store.read_table(dataset_id).column("a").to_pylist()[::50] == [str(i) for i in range(12)]
    assert manifest.chunks == 12


def test_fingerprint_same_content_same_hash(store: DatasetStore) -> None:
    manifests = []
    for content in ("a", "a", "b"):
        dataset_id = store.create("csv")
        put(store, dataset_id, 0, strings(a=["1"]))
        put(store, dataset_id, 1, strings(a=[content]))
        manifests.append(store.complete(dataset_id))
    same, again, other = manifests
    assert same.content_hash == again.content_hash != other.content_hash
    expected = "".join(f"{p.sha256}\n" for p in same.parts)
    assert same.content_hash == hashlib.sha256(expected.encode()).hexdigest()
    assert same.dataset_id != again.dataset_id


def test_manifest_to_dict_round_trips_through_json(store: DatasetStore) -> None:
    dataset_id = store.create("csv", {"search": "index=main", "earliest": "-24h", "latest": 0})
    put(store, dataset_id, 0, strings(a=["1"], b=["2"]))
    manifest = store.complete(dataset_id)
    body = json.loads(json.dumps(manifest.to_dict()))
    assert Manifest.from_dict(body) == manifest == store.manifest(dataset_id)
    assert body["columns"] == ["a", "b"] and body["rows"] == 1 and body["chunks"] == 1
    assert body["source"]["search"] == "index=main"
    assert body["bytes"] == manifest.parts[0].bytes and body["stored_bytes"] > 0


def test_second_store_on_same_url_reads_dataset(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    put(store, dataset_id, 0, strings(a=["1"]))
    store.complete(dataset_id)
    worker_side = DatasetStore(store.url)
    assert worker_side.read_table(dataset_id).to_pydict() == {"a": ["1"]}


def test_delete_dataset_and_size_bytes(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    assert store.size_bytes(dataset_id) == 0
    put(store, dataset_id, 0, strings(a=["1"] * 100))
    put(store, dataset_id, 1, strings(a=["2"] * 100))
    total = store.size_bytes(dataset_id)
    assert 0 < store.size_bytes(dataset_id, excluding_seq=1) < total
    store.delete(dataset_id)
    with pytest.raises(DatasetNotFound):
        store.info(dataset_id)
    assert not store.fs.exists(f"{store.root}/{dataset_id}")


def test_complete_empty_dataset_zero_rows(store: DatasetStore) -> None:
    dataset_id = store.create("csv")
    manifest = store.complete(dataset_id, 0, 0)
    assert (manifest.chunks, manifest.rows, manifest.columns) == (0, 0, ())
    assert store.read_table(dataset_id).num_rows == 0


def test_numbers_stored_lz4_text_zstd_with_dictionary(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    store = DatasetStore(str(tmp_path))
    dataset_id = store.create("arrow")
    put(store, dataset_id, 0, pa.table({"x": [1.5, 2.5, 1.5], "host": ["a", "b", "a"]}))
    column = pq.ParquetFile(store._part_path(dataset_id, 0)).metadata.row_group(0).column
    x, host = column(0), column(1)
    assert x.compression.startswith("LZ4") and host.compression == "ZSTD"
    assert not any("DICTIONARY" in e for e in x.encodings)
    assert any("DICTIONARY" in e for e in host.encodings)


def test_folder_store_reads_parts_written_with_earlier_settings(tmp_path: Path) -> None:
    """Parts from before LZ4 (snappy numbers, dictionary-encoded everything) read as ever,
    next to new ones, through both the memory-mapped table and the batch readers."""
    import pyarrow.parquet as pq

    store = DatasetStore(str(tmp_path))
    dataset_id = store.create("arrow")
    put(store, dataset_id, 0, pa.table({"x": [1.0, 2.0], "host": ["a", "b"]}))
    old = pa.table({"x": [3.0, None, 5.0], "host": ["c", "c", None]})
    parts = tmp_path / dataset_id / "parts"
    footer = {b"kepler.sha256": b"0" * 64, b"kepler.raw_bytes": b"10", b"kepler.seq": b"1"}
    pq.write_table(
        old.replace_schema_metadata(footer), parts / "part-000001.parquet", compression="snappy"
    )
    assert (
        pq.ParquetFile(parts / "part-000001.parquet").metadata.row_group(0).column(0).compression
        == "SNAPPY"
    )
    manifest = store.complete(dataset_id, 2, 5)
    assert manifest.parts[1].sha256 == "0" * 64
    expected = {"x": [1.0, 2.0, 3.0, None, 5.0], "host": ["a", "b", "c", "c", None]}
    assert store.read_table(dataset_id).to_pydict() == expected
    batches = pa.Table.from_batches(list(store.iter_batches(dataset_id, batch_size=2)))
    assert batches.to_pydict() == expected
    assert store.read_table(dataset_id, columns=["host"]).to_pydict() == {"host": expected["host"]}


@pytest.mark.parametrize("where", ["memory", "folder"])
@pytest.mark.parametrize("columns", [None, ["x", "n"], ["host"], ["y", "x"]])
def test_read_frame_is_read_table_to_pandas(
    store: DatasetStore, tmp_path: Path, where: str, columns: list[str] | None
) -> None:
    if where == "folder":
        store = DatasetStore(str(tmp_path))
    dataset_id = store.create("arrow")
    put(store, dataset_id, 0, pa.table({"x": [1.5, None], "n": [1, 2], "host": ["a", "b"]}))
    put(store, dataset_id, 1, pa.table({"host": ["c"], "y": [0.25]}))  # no x, no n
    put(
        store,
        dataset_id,
        2,
        pa.table(
            {"x": [2.5, 3.5], "y": [1.0, None], "host": pa.array(["d", "d"]).dictionary_encode()}
        ),
    )
    store.complete(dataset_id, 3, 5)
    frame = store.read_frame(dataset_id, columns)
    expected = store.read_table(dataset_id, columns).to_pandas(split_blocks=True)
    pd.testing.assert_frame_equal(frame, expected)
    if columns is None or "x" in columns:
        np.testing.assert_array_equal(frame["x"].to_numpy(), [1.5, np.nan, np.nan, 2.5, 3.5])


def test_read_frame_empty_dataset(store: DatasetStore) -> None:
    dataset_id = store.create("arrow")
    store.complete(dataset_id, 0, 0)
    assert store.read_frame(dataset_id).shape == (0, 0)


class _CountingName(str):
    """A column name that counts how often it is compared."""

    comparisons = 0

    def __eq__(self, other: object) -> bool:
        type(self).comparisons += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_parquet_encoding_of_a_wide_chunk_is_linear_in_its_columns() -> None:
    from types import SimpleNamespace

    from kepler.server.datasets.schema import encoding

    n = 3000
    fields = [
        SimpleNamespace(name=_CountingName(f"c{i}"), type=pa.string() if i % 2 else pa.float64())
        for i in range(n)
    ]
    _CountingName.comparisons = 0
    chosen = encoding(fields)  # type: ignore[arg-type]
    assert _CountingName.comparisons <= n  # a list lookup per column: n * n / 4
    assert chosen["use_dictionary"] == [f"c{i}" for i in range(1, n, 2)]
    assert chosen["compression"] == {f"c{i}": "zstd" if i % 2 else "lz4" for i in range(n)}


def test_a_wide_chunk_keeps_its_columns_and_their_encoding(store: DatasetStore) -> None:
    n = 5_000
    table = pa.table(
        {f"c{i}": pa.array(["v"], pa.string()) if i % 2 else pa.array([1.0]) for i in range(n)}
    )
    dataset_id = store.create("arrow")
    put(store, dataset_id, 0, table)
    manifest = store.complete(dataset_id, expected_chunks=1)
    assert manifest.rows == 1 and manifest.columns == tuple(table.column_names)


class SlowSeal(DatasetStore):
    """The store as it is, with completion held up while it reads the parts' footers: the
    window in which a re-sent chunk used to replace a part the manifest already named."""

    def __init__(self, url: str, reading: threading.Event, go_on: threading.Event) -> None:
        super().__init__(url)
        self.reading, self.go_on = reading, go_on

    def _read_footer(self, seq, path):  # type: ignore[no-untyped-def]
        found = super()._read_footer(seq, path)
        self.reading.set()
        self.go_on.wait(10)
        return found


@pytest.mark.parametrize("where", ["folder", "memory"])
def test_a_resend_racing_complete_never_leaves_a_stale_manifest(tmp_path: Path, where: str) -> None:
    """The documented re-send/complete race: the manifest names the part that is there,
    or the re-send is refused as arriving after completion."""
    reading, go_on = threading.Event(), threading.Event()
    url = str(tmp_path / "ds") if where == "folder" else f"memory://race-{uuid.uuid4().hex}"
    store = SlowSeal(url, reading, go_on)
    dataset_id = store.create("csv")
    put(store, dataset_id, 0, strings(a=["1"]))
    outcome: dict[str, object] = {}

    def seal() -> None:
        outcome["manifest"] = store.complete(dataset_id, expected_chunks=1)

    def resend() -> None:
        try:
            put(store, dataset_id, 0, strings(a=["2"]))
            outcome["resend"] = "stored"
        except Exception as exc:  # refused after completion: also a right answer
            outcome["resend"] = type(exc).__name__

    sealer = threading.Thread(target=seal)
    sealer.start()
    assert reading.wait(10)
    writer = threading.Thread(target=resend)
    writer.start()
    writer.join(0.5 if where == "folder" else 10)  # on a folder it waits for the lock
    go_on.set()
    sealer.join(10)
    writer.join(10)
    manifest = outcome["manifest"]
    assert isinstance(manifest, Manifest)
    (part,) = manifest.parts
    ((path, _),) = store._list_parts(dataset_id).values()
    assert part.sha256 == store._read_footer(0, path)[0].sha256
    assert outcome["resend"] in ("stored", "Conflict")
    if where == "folder":
        assert outcome["resend"] == "Conflict"  # the lock kept it out of the seal


def test_sweep_removes_what_dead_writers_left_and_nothing_live(tmp_path: Path) -> None:
    import subprocess
    import sys

    from kepler.server.datasets import owner_tag

    store = DatasetStore(str(tmp_path / "ds"))
    dataset_id = store.create("csv")
    parts = tmp_path / "ds" / dataset_id / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    host = owner_tag().partition("~")[0]
    gone_pid = int(dead.stdout)
    left = parts / f".tmp-part-000000.parquet~{host}~{gone_pid}~{uuid.uuid4().hex}"
    left.write_bytes(b"half a part")
    live = parts / f".tmp-part-000001.parquet~{owner_tag()}"
    live.write_bytes(b"being written")
    other_host = parts / f".tmp-part-000002.parquet~elsewhere~{gone_pid}~{uuid.uuid4().hex}"
    other_host.write_bytes(b"another host's")
    removed = store.sweep()
    assert [Path(p).name for p in removed] == [left.name]
    assert not left.exists() and live.exists() and other_host.exists()
    assert store.sweep(max_age_s=-1)  # past the age bound, whoever wrote it
    assert not other_host.exists()
