"""make_event: HEC's envelope, and bad events refused at send() with HEC's reason."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from kepler.hec import HecRejected, make_event
from kepler.hec._event import as_envelope, encode


def test_envelope_fields() -> None:
    event = make_event(
        {"a": 1},
        time=dt.datetime(2023, 11, 14, 22, 13, 20, 250000),
        host="h",
        source="s",
        sourcetype="st",
        index="i",
        fields={"model": "pump", "tags": ("x", "y")},
    )
    assert event == {
        "event": {"a": 1},
        "time": 1700000000.25,
        "host": "h",
        "source": "s",
        "sourcetype": "st",
        "index": "i",
        "fields": {"model": "pump", "tags": ["x", "y"]},
    }


def test_objects_become_json_payloads() -> None:
    @dataclasses.dataclass
    class Score:
        id: int
        when: dt.date

    assert make_event(Score(1, dt.date(2024, 1, 2)))["event"] == {
        "id": 1,
        "when": dt.date(2024, 1, 2),
    }
    data = encode(as_envelope(Score(1, dt.date(2024, 1, 2))), {"index": "main"})
    assert data == b'{"index":"main","event":{"id":1,"when":"2024-01-02"}}'
    assert encode({"event": {"x": float("inf")}}, {}) == b'{"event":{"x":null}}'


def test_an_envelope_shaped_dict_is_taken_as_an_envelope() -> None:
    assert as_envelope({"event": "x", "time": 5}) == {"event": "x", "time": 5.0}
    assert as_envelope({"event": "x", "other": 1}) == {"event": {"event": "x", "other": 1}}


@pytest.mark.parametrize(
    ("value", "kwargs", "needle"),
    [
        (None, {}, "code 12"),
        ("  ", {}, "code 13"),
        ({"a": 1}, {"fields": {"f": {"nested": 1}}}, "code 15"),
        ({"a": 1}, {"fields": {"f": [[1]]}}, "code 15"),
        ({"a": 1}, {"time": "soon"}, "epoch seconds"),
        ({"a": 1}, {"time": float("nan")}, "finite"),
    ],
)
def test_bad_events_are_refused_with_hecs_reason(value: object, kwargs: dict, needle: str) -> None:
    with pytest.raises(HecRejected, match=needle):
        make_event(value, **kwargs)


def test_encoding_equals_the_standard_encoder_and_takes_numpy_and_pandas_values() -> None:
    """The C encoder built once writes what ``json`` writes; arrays and series (which
    have ``item`` but only for one element) become lists, NaN inside them null."""
    import json
    from decimal import Decimal

    import numpy as np
    import pandas as pd

    plain = {"id": 7, "site": 'Köln 東京 "q"\n', "p": 0.1 + 0.2, "ok": True, "n": None}
    standard = json.dumps({"event": plain}, separators=(",", ":"), ensure_ascii=False)
    assert encode({"event": plain}, {}) == standard.encode()
    odd = {
        "f32": np.float32(1.5),
        "i64": np.int64(3),
        "when": dt.datetime(2024, 1, 2, 3, 4, 5),
        "money": Decimal("1.25"),
        "pair": (1, 2),
        "array": np.array([1.0, np.nan]),
        "series": pd.Series([1, 2]),
    }
    assert json.loads(encode({"event": odd}, {"host": "h"})) == {
        "host": "h",
        "event": {
            "f32": 1.5,
            "i64": 3,
            "when": "2024-01-02T03:04:05",
            "money": 1.25,
            "pair": [1, 2],
            "array": [1.0, None],
            "series": [1, 2],
        },
    }
