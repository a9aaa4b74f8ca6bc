"""The frame builder's typing rules, across batch boundaries."""

from __future__ import annotations

import math

import pandas as pd

from kepler.splunk.results import FrameBuilder


def build(rows: list[dict[str, object]], batch_rows: int = 2, **kw: object) -> pd.DataFrame:
    builder = FrameBuilder(batch_rows)
    for row in rows:
        builder.add(row)
    return builder.frame(**kw)


def test_multivalue_in_a_later_batch_makes_the_whole_column_lists() -> None:
    df = build([{"t": "a"}, {"t": "b"}, {}, {"t": ["c", "d"]}])
    assert df["t"].tolist() == [["a"], ["b"], None, ["c", "d"]]


def test_multivalue_items_are_typed_too() -> None:
    df = build([{"ports": ["80", "443"]}, {"ports": "22"}])
    assert df["ports"].tolist() == [[80, 443], [22]]


def test_columns_first_seen_late_are_missing_before() -> None:
    df = build([{"a": "1"}, {"a": "2"}, {"a": "3", "b": "x"}])
    assert list(df.columns) == ["a", "b"]
    assert df["b"].isna().tolist() == [True, True, False]


def test_empty_text_is_missing_for_numbers_but_kept_for_text() -> None:
    df = build([{"n": "1", "s": ""}, {"n": "", "s": "x"}, {"n": "2.5", "s": "y"}])
    assert df["n"].dtype == "float64" and math.isnan(df["n"][1]) and df["n"][2] == 2.5
    assert df["s"].tolist() == ["", "x", "y"]


def test_epoch_time_and_non_string_values() -> None:
    df = build([{"_time": "1700000000", "obj": {"k": 1}}, {"_time": "1700000001.5", "obj": 3}])
    assert df["_time"][0] == pd.Timestamp(1700000000, unit="s", tz="UTC")
    assert df["obj"].tolist() == ['{"k": 1}', "3"]


def test_no_rows_is_an_empty_frame() -> None:
    df = FrameBuilder().frame()
    assert df.empty and list(df.columns) == []
