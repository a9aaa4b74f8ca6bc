"""Scoring bytes: Splunk's CSV in, the model's fields out, with the input echoed as sent."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from kepler.core.errors import DataError
from kepler.core.spec import FitSpec
from kepler.ml.outputs import predict_frame
from kepler.ml.training import train
from kepler.server.scoring import (
    read_body,
    read_csv_for_model,
    rows_to_events,
    score_table,
    write_body,
)


def _model(algorithm: str = "LinearRegression") -> tuple[object, object]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    frame["y"] = 2 * frame["a"] - frame["b"]
    trained = train(frame, FitSpec(algorithm=algorithm, target="y", features=("a", "b")))
    return trained.pipeline, trained.meta


CSV = (
    b"a,b,_chunked_idx\r\n"
    b"1.50,2,0\r\n"  # "1.50" must come back as sent, not as 1.5
    b",3,1\r\n"  # blank: missing, imputed
    b"inf, 4 ,2\r\n"  # infinite: missing; padded: still a number
    b"oops,5,3\r\n"  # not a number: this column takes the per-value path
)


def test_score_csv_matches_the_model_on_the_parsed_frame() -> None:
    pipeline, meta = _model()
    scored = score_table(pipeline, meta, read_body("csv", CSV))
    expected = predict_frame(
        pipeline,
        meta,
        pd.DataFrame({"a": [1.5, np.nan, np.nan, np.nan], "b": [2.0, 3.0, 4.0, 5.0]}),
    )
    got = scored.column("predicted(y)").to_numpy()
    np.testing.assert_allclose(got, expected["predicted(y)"].to_numpy())


def test_score_csv_echoes_the_input_text_unchanged() -> None:
    pipeline, meta = _model()
    out = write_body("csv", score_table(pipeline, meta, read_body("csv", CSV)))
    lines = out.decode().splitlines()
    assert lines[0] == '"a","b","_chunked_idx","predicted(y)"'
    assert lines[1].startswith('"1.50","2","0",')
    assert lines[3].startswith('"inf"," 4 ","2",')


def test_score_csv_echoes_only_the_named_input_columns() -> None:
    """What the Splunk command asks for: ``_chunked_idx`` and the outputs, nothing else
    (splunkd merges the answer back into its events by ``_chunked_idx``)."""
    pipeline, meta = _model()
    table = read_body("csv", CSV)
    scored = score_table(pipeline, meta, table, include_input=False, echo=["_chunked_idx", "nope"])
    assert scored.column_names == ["_chunked_idx", "predicted(y)"]
    assert scored.column("_chunked_idx").to_pylist() == ["0", "1", "2", "3"]
    full = score_table(pipeline, meta, table)
    assert scored.column("predicted(y)").equals(full.column("predicted(y)"))


@pytest.mark.parametrize(
    "body",
    [
        CSV,  # blanks, inf, padding, a non-number: read as text, converted by score_table
        b'"a","b","_raw","_chunked_idx","__mv_a"\n'  # Splunk's chunk: typed floats
        b'"1.5","2","x=1\nsecond line",0,\n'
        b'"","3","y",1,\n'
        b'"-2e3","4","z",2,\n',
    ],
)
def test_reading_only_the_models_fields_scores_the_same(body: bytes) -> None:
    pipeline, meta = _model()
    slim = read_csv_for_model(body, meta, ["_chunked_idx"])
    assert slim.column_names == ["a", "b", "_chunked_idx"]  # _raw and __mv_ left unread
    full = read_body("csv", body)
    got = score_table(pipeline, meta, slim, include_input=False, echo=["_chunked_idx"])
    want = score_table(pipeline, meta, full, include_input=False, echo=["_chunked_idx"])
    assert got.equals(want)
    typed = body is not CSV
    assert (slim.schema.field("a").type == pa.float64()) is typed


def test_header_without_the_models_fields_reads_every_column() -> None:
    _, meta = _model()
    table = read_csv_for_model(b"x,y\n1,2\n", meta, ["_chunked_idx"])
    assert table.column_names == ["x", "y"] and table.num_rows == 1


def test_score_header_only_chunk_answers_with_the_header() -> None:
    pipeline, meta = _model()
    table = read_body("csv", b"a,b\r\n")
    assert score_table(pipeline, meta, table).num_rows == 0


def test_score_table_of_typed_arrow_columns() -> None:
    pipeline, meta = _model()
    table = pa.table({"a": [1.0, None], "b": [2.0, 3.0]})
    out = score_table(pipeline, meta, table, include_input=False)
    assert out.column_names == ["predicted(y)"]
    assert out.num_rows == 2


def test_score_without_any_of_the_model_fields_names_them() -> None:
    pipeline, meta = _model()
    table = read_body("csv", b"host,bytes\r\nweb1,10\r\nweb2,20\r\n")
    with pytest.raises(DataError) as err:
        score_table(pipeline, meta, table)
    message = err.value.message
    assert "none of the model's fields" in message
    assert "needs a, b" in message and "has host, bytes" in message
    assert err.value.detail["missing_fields"] == ["a", "b"]
    # one field of two is enough to score (the other is imputed, as a blank value is)
    assert score_table(pipeline, meta, read_body("csv", b"a\r\n1\r\n")).num_rows == 1


def test_rows_to_events_takes_host_and_default_time_and_drops_missing_values() -> None:
    import pandas as pd

    from kepler.server.scoring import rows_to_events

    rows = [
        {"_time": pd.Timestamp("2026-01-01T00:00:01Z"), "host": "web1", "x": 1, "y": None},
        {"_time": pd.NaT, "host": 7, "x": float("inf"), "s": "", "z": "ok"},
        {"_time": "not a time", "x": 2.5},
    ]
    first, second, third = rows_to_events(
        rows, index="i", sourcetype="st", source="s", host_field="host", default_time=5.0
    )
    assert first["time"] == 1767225601.0 and first["host"] == "web1"
    assert first["event"] == {"host": "web1", "x": 1}
    assert second["time"] == 5.0 and "host" not in second
    assert second["event"] == {"host": 7, "z": "ok"}
    assert third["time"] == 5.0 and third["event"] == {"x": 2.5}


def test_rows_become_events_with_their_time_and_no_splunk_internals() -> None:
    rows = [
        {"_time": "1700000000.5", "_raw": "x", "temp": "12.5", "predicted(failure)": "no"},
        {"_time": "", "temp": None, "predicted(failure)": "yes", "score": float("nan")},
    ]
    first, second = rows_to_events(rows, index="scores", sourcetype=None, source="kepler:apply:p@1")
    assert first == {
        "event": {"temp": "12.5", "predicted(failure)": "no"},
        "time": 1700000000.5,
        "index": "scores",
        "sourcetype": "kepler:score",
        "source": "kepler:apply:p@1",
    }
    assert second["event"] == {"predicted(failure)": "yes"} and "time" not in second
