"""Data versions end to end over real processes (bridge, worker, beat): listing with the
versions trained on each dataset, reading back, names, retention, model deletion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kepler._stack import LocalStack, wait_until
from kepler.core import wire
from kepler.core.errors import Conflict, DataError, DatasetNotFound, Forbidden

pytestmark = pytest.mark.system

RETENTION_S = 5


def _start(home: Path, **env: str) -> LocalStack:
    return LocalStack(home, extra_env=env).start()


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Retention of a few seconds, a beat that applies it every second, and model
    deletion that removes the model's datasets."""
    stack = _start(
        tmp_path_factory.mktemp("short"),
        KEPLER_DATASET_RETENTION_UNREFERENCED_S=str(RETENTION_S),
        KEPLER_DATASET_RETENTION_INCOMPLETE_S=str(RETENTION_S),
        KEPLER_DATASET_RETENTION_EVERY_S="1",
        KEPLER_DATASET_DELETE_WITH_MODEL="true",
    )
    yield stack
    stack.stop()


@pytest.fixture
def sensors() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 300
    frame = pd.DataFrame(
        {
            "temp": rng.normal(20, 3, n),
            "count": rng.integers(0, 1000, n),
            "site": rng.choice(["north", "south", "east"], n),
            "ok": rng.random(n) > 0.3,
        }
    )
    frame["load"] = 2 * frame["temp"] + 0.01 * frame["count"] + rng.normal(0, 0.1, n)
    return frame


def _fit(stack: LocalStack, df: pd.DataFrame, into: str, **kw: object) -> object:
    return stack.client().fit(
        df, "LinearRegression", target="load", features=["temp", "count"], into=into,
        progress=False, **kw,
    )  # fmt: skip


def _listed(stack: LocalStack) -> dict[str, dict[str, object]]:
    return {r["id"]: r for r in stack.client()._json("GET", wire.DATASETS)}


def test_list_datasets_shows_version_and_read_back_equals_upload(short, sensors) -> None:  # type: ignore[no-untyped-def]
    client = short.client()
    result = _fit(short, sensors, "sensors_lr", dataset_name="sensors-2026-w48")
    listing = client.datasets()
    row = listing[listing["name"] == "sensors-2026-w48"].iloc[0]
    assert row["versions"] == [f"sensors_lr@{result.version}"]
    assert row["rows"] == len(sensors) and row["complete"]
    assert len(row["schema_hash"]) == 64 and row["bytes"] > 0

    back = client.dataset("sensors-2026-w48")  # by name
    pd.testing.assert_frame_equal(back, sensors)  # values and dtypes
    assert list(back.dtypes) == list(sensors.dtypes)
    by_id = client.dataset(row["id"])
    pd.testing.assert_frame_equal(by_id, sensors)


def test_upload_named_dataset_clash_is_refused(short, sensors) -> None:  # type: ignore[no-untyped-def]
    client = short.client()
    _fit(short, sensors, "clash_lr", dataset_name="pumps-w1")
    with pytest.raises(Conflict, match="already named 'pumps-w1'"):
        client.upload(sensors, name="pumps-w1")
    with pytest.raises(DataError, match="is not allowed"):
        client.upload(sensors, name="no spaces")
    with pytest.raises(DatasetNotFound, match=r"kp\.datasets"):
        client.dataset("never-named")


def test_delete_dataset_needs_admin_and_no_version(short, sensors) -> None:  # type: ignore[no-untyped-def]
    _fit(short, sensors, "kept_lr", dataset_name="kept-w2")
    with pytest.raises(Forbidden, match="kepler_admin"):
        short.user_client().delete_dataset("kept-w2")
    with pytest.raises(Conflict, match="kept_lr@1"):
        short.client().delete_dataset("kept-w2")


def test_retention_removes_old_unreferenced_and_incomplete_keeps_referenced(short, sensors) -> None:  # type: ignore[no-untyped-def]
    client = short.client()
    referenced = _fit(short, sensors, "retained_lr", dataset_name="retained-w3")
    scratch = client.upload(sensors)
    started = client._json("POST", wire.DATASETS, json={"format": "csv"})["id"]
    client._request(
        "PUT", wire.chunk(started, 0), content=b"a,b\n1,2\n", headers={"Content-Type": "text/csv"}
    )
    assert {scratch, started} <= set(_listed(short))

    wait_until(
        lambda: not {scratch, started} & set(_listed(short)),
        timeout=RETENTION_S + 30,
        what="retention to remove the old datasets",
    )
    listed = {r["name"]: r for r in _listed(short).values()}
    assert listed["retained-w3"]["versions"] == [f"retained_lr@{referenced.version}"]
    why = {
        d["detail"]["dataset_id"]: d["detail"]["why"]
        for d in client._json("GET", wire.AUDIT_DELETIONS)
        if d["kind"] == "dataset"
    }
    assert why[scratch] == why[started] == "retention"


def test_delete_model_removes_its_datasets_when_set(short, sensors) -> None:  # type: ignore[no-untyped-def]
    client = short.client()
    _fit(short, sensors, "gone_lr", dataset_name="gone-w4")
    dataset_id = client.datasets().set_index("name").loc["gone-w4", "id"]
    answer = client._json("DELETE", wire.model("gone_lr"))
    assert answer["datasets"] == [dataset_id]
    assert dataset_id not in _listed(short)
    (record,) = [d for d in client._json("GET", wire.AUDIT_DELETIONS) if d["name"] == "gone-w4"]
    assert record["detail"]["why"] == "model deleted"


def test_delete_model_keeps_its_datasets_by_default(tmp_path: Path, sensors) -> None:  # type: ignore[no-untyped-def]
    stack = _start(tmp_path / "home")
    try:
        _fit(stack, sensors, "stays_lr", dataset_name="stays-w5")
        stack.client().delete_model("stays_lr")
        (row,) = [r for r in _listed(stack).values() if r["name"] == "stays-w5"]
        assert row["versions"] == [] and row["complete"]
        pd.testing.assert_frame_equal(stack.client().dataset("stays-w5"), sensors)
    finally:
        stack.stop()
