"""The schedules table: intervals, names, persistence, and one claim per slot."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from kepler.core.errors import BadParameter, Conflict, InvalidSpec, ScheduleNotFound
from kepler.server.db import Database
from kepler.server.stores.schedules import ScheduleStore, format_every, parse_every


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("5m", 300), ("5", 300), ("1.5h", 5400), ("1d", 86400), (2, 120)],
)
def test_parse_every(text: str | int, seconds: float) -> None:
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["soon", "5 weeks", "0s", "400d", "-5m", ""])
def test_parse_every_refuses_what_is_not_an_interval(text: str) -> None:
    with pytest.raises(BadParameter, match="every="):
        parse_every(text)


def test_format_every_round_trips() -> None:
    assert [format_every(parse_every(t)) for t in ("30s", "5m", "2h", "1d", "90s")] == [
        "30s",
        "5m",
        "2h",
        "1d",
        "90s",
    ]


def store(tmp_path: Path) -> ScheduleStore:
    return ScheduleStore(Database(f"sqlite:///{tmp_path / 'kepler.db'}"))


def test_schedules_persist_and_window_defaults_to_the_interval(tmp_path: Path) -> None:
    s = store(tmp_path).create("pump", search="index=sensors", model="pump@2", every="10m")
    again = store(tmp_path).get("pump")  # a new store on the same database
    assert again == s and again.model == "pump@2"
    assert again.window == ("-600s", "now")
    assert again.next_run_at == pytest.approx(s.created_at + 600)


def test_create_refuses_duplicates_and_bad_input(tmp_path: Path) -> None:
    st = store(tmp_path)
    st.create("a", search="index=x", model="m", every="1m")
    with pytest.raises(Conflict, match="remove it first"):
        st.create("a", search="index=y", model="m", every="1m")
    with pytest.raises(InvalidSpec, match="search"):
        st.create("b", search="  ", model="m", every="1m")
    with pytest.raises(InvalidSpec, match="model version"):
        st.create("b", search="index=x", model="m@zero", every="1m")
    with pytest.raises(InvalidSpec, match="schedule name"):
        st.create("no spaces", search="index=x", model="m", every="1m")
    st.delete("a")
    with pytest.raises(ScheduleNotFound, match="kepler schedule list"):
        st.get("a")


def test_due_schedule_is_claimed_once_by_racing_beats(tmp_path: Path) -> None:
    s = store(tmp_path).create("pump", search="index=x", model="m", every="1m", start_now=True)
    now = s.next_run_at + 1
    stores = [store(tmp_path) for _ in range(4)]
    claims: list[float | None] = []
    barrier = threading.Barrier(len(stores))

    def beat(st: ScheduleStore) -> None:
        (due,) = st.due(now)
        barrier.wait()
        claims.append(st.claim(due, now))

    threads = [threading.Thread(target=beat, args=(st,)) for st in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(c is not None for c in claims) == 1
    assert store(tmp_path).due(now) == []


def test_missed_slots_fire_once_not_in_a_burst(tmp_path: Path) -> None:
    st = store(tmp_path)
    s = st.create("pump", search="index=x", model="m", every="1m", start_now=True)
    later = s.next_run_at + 3600  # the beat was down for an hour: 60 slots passed
    (due,) = st.due(later)
    nxt = st.claim(due, later)
    assert nxt == pytest.approx(later + 60)
    assert st.due(later + 59) == []


def test_a_retraining_schedule_keeps_its_gate_alias_and_spec(tmp_path: Path) -> None:
    spec = {"algorithm": "LogisticRegression", "target": "failure", "features": ["temp"]}
    s = store(tmp_path).create(
        "retrain", search="index=x", model="pump", every="1d", retrain=True,
        gate=" f1 >= production.f1 - 0.01 ", fit_spec=spec,
    )  # fmt: skip
    again = store(tmp_path).get("retrain")
    assert again == s and again.retrain is True
    assert again.gate == "f1>=production.f1-0.01"  # as the gate reads it
    assert again.alias == "production"  # the alias the gate compares with
    assert again.fit_spec == spec
    plain = store(tmp_path).create("plain", search="index=x", model="pump", every="1d")
    assert (plain.retrain, plain.gate, plain.alias, plain.fit_spec) == (False, None, None, None)
    assert store(tmp_path).get("plain").retrain is False
    named = store(tmp_path).create(
        "staged", search="index=x", model="pump", every="1d", retrain=True, alias="staging"
    )
    assert named.alias == "staging" and named.gate is None


def test_a_malformed_gate_or_a_gate_without_retrain_is_refused(tmp_path: Path) -> None:
    st = store(tmp_path)
    with pytest.raises(InvalidSpec, match="gate 'f1 >= production' is not valid") as err:
        st.create(
            "r", search="index=x", model="m", every="1h", retrain=True, gate="f1 >= production"
        )
    assert "operand is a number" in err.value.message  # the grammar comes with it
    with pytest.raises(InvalidSpec, match="add --retrain"):
        st.create("r", search="index=x", model="m", every="1h", gate="f1>=0.5")
    with pytest.raises(InvalidSpec, match="alias"):
        st.create("r", search="index=x", model="m", every="1h", retrain=True, alias="no good")
    assert st.list() == []


def test_an_older_schedules_table_gains_the_retraining_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "kepler.db"
    with sqlite3.connect(path) as conn:  # the table as a Kepler before retraining made it
        conn.execute(
            "CREATE TABLE kepler_schedules (id VARCHAR(32) PRIMARY KEY, name VARCHAR(128) "
            "NOT NULL UNIQUE, search TEXT NOT NULL, model VARCHAR(200) NOT NULL, every_s FLOAT "
            "NOT NULL, earliest VARCHAR(64), latest VARCHAR(64), hec_index VARCHAR(128), "
            "sourcetype VARCHAR(128), enabled BOOLEAN NOT NULL, created_at FLOAT NOT NULL, "
            "next_run_at FLOAT NOT NULL, last_run_at FLOAT, last_job_id VARCHAR(32))"
        )
        conn.execute(
            "INSERT INTO kepler_schedules VALUES ('a1', 'old', 'index=x', 'pump', 60, NULL, "
            "NULL, NULL, NULL, 1, 0, 60, NULL, NULL)"
        )
    st = ScheduleStore(Database(f"sqlite:///{path}"))
    old = st.get("old")
    assert old.retrain is False and old.gate is None and old.every_s == 60
    assert st.create("new", search="index=x", model="m", every="1h", retrain=True).retrain


def test_a_schedules_table_made_before_shadow_gets_the_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the table as Kepler made it before shadow=
        conn.execute(
            "CREATE TABLE kepler_schedules (id VARCHAR(32) PRIMARY KEY, name VARCHAR(128) "
            "NOT NULL UNIQUE, search TEXT NOT NULL, model VARCHAR(200) NOT NULL, every_s FLOAT "
            "NOT NULL, earliest VARCHAR(64), latest VARCHAR(64), hec_index VARCHAR(128), "
            "sourcetype VARCHAR(128), enabled BOOLEAN NOT NULL, created_at FLOAT NOT NULL, "
            "next_run_at FLOAT NOT NULL, last_run_at FLOAT, last_job_id VARCHAR(32))"
        )
        conn.execute(
            "INSERT INTO kepler_schedules VALUES ('a', 'old', 'index=s', 'm', 60, NULL, NULL, "
            "NULL, NULL, 1, 0, 0, NULL, NULL)"
        )
    store = ScheduleStore(Database(f"sqlite:///{path}"))
    assert store.get("old").shadow is None
    made = store.create("new", search="index=s", model="m", every="1m", shadow="m@2")
    assert store.get("new").shadow == "m@2" == made.shadow
