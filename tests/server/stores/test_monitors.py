"""The monitors table: options checked, names unique, one claim per slot."""

from __future__ import annotations

from pathlib import Path

import pytest

from kepler.core.errors import BadParameter, Conflict, InvalidSpec, MonitorNotFound
from kepler.server.db import Database
from kepler.server.stores.monitors import MonitorStore


def store(tmp_path: Path) -> MonitorStore:
    return MonitorStore(Database(f"sqlite:///{tmp_path / 'kepler.db'}"))


def test_create_get_list_delete(tmp_path: Path) -> None:
    monitors = store(tmp_path)
    mon = monitors.create(
        "pump-drift", search=" index=s ", model="pump@2", every="1h", method="PSI", threshold=0.3
    )
    assert (mon.search, mon.model, mon.every_s, mon.method, mon.threshold) == (
        "index=s",
        "pump@2",
        3600,
        "psi",
        0.3,
    )
    assert mon.window == ("-3600s", "now") and mon.to_dict()["every"] == "1h"
    assert store(tmp_path).get("pump-drift") == mon  # kept in the database
    assert store(tmp_path).get(mon.id) == mon
    assert [m.name for m in monitors.list()] == ["pump-drift"]
    with pytest.raises(Conflict, match="kepler monitor remove pump-drift"):
        monitors.create("pump-drift", search="index=s", model="pump", every="1h")
    assert monitors.delete("pump-drift").id == mon.id
    with pytest.raises(MonitorNotFound, match="kepler monitor list"):
        monitors.get("pump-drift")


@pytest.mark.parametrize(
    ("kw", "error", "says"),
    [
        ({"name": "bad name"}, InvalidSpec, "monitor name"),
        ({"search": "  "}, InvalidSpec, "needs a search"),
        ({"every": "soon"}, BadParameter, "every="),
        ({"method": "median"}, BadParameter, "not a drift method"),
        ({"threshold": -1.0}, BadParameter, "positive number"),
        ({"label": " "}, InvalidSpec, "label"),
        ({"model": "pump@x"}, InvalidSpec, "pump@x"),
    ],
)
def test_create_refuses_bad_input_naming_it(
    tmp_path: Path, kw: dict[str, object], error: type[Exception], says: str
) -> None:
    args: dict[str, object] = {"name": "m", "search": "index=s", "model": "pump", "every": "1h"}
    with pytest.raises(error, match=says):
        store(tmp_path).create(**{**args, **kw})  # type: ignore[arg-type]
    assert store(tmp_path).list() == []


def test_claim_moves_the_slot_once(tmp_path: Path) -> None:
    monitors = store(tmp_path)
    mon = monitors.create("m", search="index=s", model="pump", every="1m", start_now=True)
    now = mon.next_run_at + 1
    (due,) = monitors.due(now)
    assert monitors.claim(due, now) == mon.next_run_at + 60
    assert monitors.claim(due, now) is None  # the other beat lost
    assert monitors.due(now) == []
