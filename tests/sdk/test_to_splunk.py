"""kp.to_splunk: a DataFrame's rows as HEC events in the loopback receiver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import kepler as kp
from kepler.hec import HecSettings
from tests.hec.receiver import HecReceiver

TOKEN = "99999999-8888-7777-6666-555555555555"


@pytest.fixture
def rx() -> Iterator[HecReceiver]:
    with HecReceiver(token=TOKEN, ack=True, indexes={"main", "sdk"}) as receiver:
        yield receiver


def settings(rx: HecReceiver, tmp_path: Path, **kw: Any) -> HecSettings:
    return HecSettings(
        url=rx.url,
        token=TOKEN,
        ack=True,
        ack_poll_interval=0.02,
        linger=0.02,
        queue_dir=tmp_path / "q",
        **kw,
    )


def test_to_splunk_sends_each_row_with_its_time(rx: HecReceiver, tmp_path: Path) -> None:
    df = pd.DataFrame(
        {
            "when": pd.to_datetime(
                ["2023-11-14 22:13:20", "2023-11-14 22:13:21.500", None], format="ISO8601"
            ),
            "pump": ["a", "b", "c"],
            "score": [0.5, float("nan"), 2.0],
            "n": [1, 2, 3],
        }
    )
    report = kp.to_splunk(
        df, index="sdk", sourcetype="pump:score", time_field="when", settings=settings(rx, tmp_path)
    )
    assert report.delivered == 3 and report.rejected == 0 and report.spooled == 0
    first, second, third = sorted(rx.events, key=lambda e: e["event"]["n"])
    assert first["time"] == 1700000000.0 and second["time"] == 1700000001.5
    assert "time" not in third  # no time: Splunk stamps it on arrival
    assert first["event"] == {"pump": "a", "score": 0.5, "n": 1}
    assert second["event"] == {"pump": "b", "n": 2}  # a missing value is left out
    assert {e["index"] for e in rx.events} == {"sdk"}
    assert {e["sourcetype"] for e in rx.events} == {"pump:score"}


def test_to_splunk_epoch_seconds_and_many_rows(rx: HecReceiver, tmp_path: Path) -> None:
    df = pd.DataFrame({"t": [1700000000 + i for i in range(25_000)], "id": range(25_000)})
    report = kp.to_splunk(df, time_field="t", settings=settings(rx, tmp_path))
    assert report.delivered == 25_000
    assert sorted(e["event"]["id"] for e in rx.events) == list(range(25_000))
    assert rx.events[0]["time"] == 1700000000 + rx.events[0]["event"]["id"]


def test_to_splunk_reports_the_rows_hec_refused(rx: HecReceiver, tmp_path: Path) -> None:
    df = pd.DataFrame({"id": range(10)})
    report = kp.to_splunk(df, index="forbidden", settings=settings(rx, tmp_path))
    assert report.rejected == 10 and report.delivered == 0
    assert report.rejected_events[0].code == 7


def test_to_splunk_bad_time_field_and_missing_settings(tmp_path: Path) -> None:
    df = pd.DataFrame({"id": [1]})
    with pytest.raises(kp.DataError, match="time_field='nope'"):
        kp.to_splunk(df, time_field="nope", settings=HecSettings(url="http://x", token="t"))
    with pytest.raises(kp.HecNotConfigured, match="KEPLER_HEC_URL"):
        kp.to_splunk(df, settings=HecSettings(url="", token=None, queue_dir=tmp_path))
