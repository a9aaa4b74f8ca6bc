"""Dtype decisions: Splunk's all-text CSV and typed Arrow data end up as the same types."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from kepler.core.errors import DataError
from kepler.ml import frames
from kepler.ml.frames import CATEGORICAL, NUMERIC


def test_text_columns_of_numbers_are_numeric_and_others_categorical() -> None:
    frame = pd.DataFrame(
        {
            "bytes": ["10", " 20 ", "", "1e3", "-4.5"],
            "host": ["web1", "web2", "", "web1", "db"],
            "code": ["200", "404", "200", "abc", "def"],  # 60% numbers: a category
        }
    )
    assert frames.infer_feature_types(frame, ["bytes", "host", "code"]) == {
        "bytes": NUMERIC,
        "host": CATEGORICAL,
        "code": CATEGORICAL,
    }


def test_mostly_numeric_column_with_stray_text_is_a_data_error_with_examples() -> None:
    values = [str(i) for i in range(95)] + ["n/a", "n/a", "12ms", "?", "none"]
    frame = pd.DataFrame({"latency": values})
    with pytest.raises(DataError) as info:
        frames.infer_feature_types(frame, ["latency"])
    message = str(info.value)
    assert "'latency'" in message
    assert "5 of 100" in message
    assert "'n/a', '12ms', '?'" in message and "'none'" not in message  # three examples
    assert "eval latency=tonumber(latency)" in message
    assert info.value.detail["fields"] == ["latency"]


def test_mixed_columns_are_all_reported_together() -> None:
    frame = pd.DataFrame({"a": ["1"] * 19 + ["x"], "b": ["2"] * 19 + ["y"]})
    with pytest.raises(DataError, match=r"'a'.*'b'") as info:
        frames.infer_feature_types(frame, ["a", "b"])
    assert info.value.detail["fields"] == ["a", "b"]


def test_empty_feature_columns_are_named_and_the_fix_is_to_drop_them() -> None:
    frame = pd.DataFrame(
        {"blank": ["", " ", ""], "null": [None, None, None], "ok": ["1", "2", "3"]}
    )
    frame["nan"] = np.nan
    with pytest.raises(DataError, match=r"'blank', 'null', 'nan'.*drop them") as info:
        frames.infer_feature_types(frame, ["blank", "null", "ok", "nan"])
    assert info.value.detail["fields"] == ["blank", "null", "nan"]


def test_typed_columns_keep_their_meaning() -> None:
    frame = pd.DataFrame(
        {
            "flag": [True, False, True],
            "count": pd.array([1, None, 3], dtype="Int64"),
            "when": pd.to_datetime(["2024-01-01", None, "2024-01-02"], utc=True),
            "took": pd.to_timedelta(["1s", "2s", None]),
            "kind": pd.Categorical(["a", "b", "a"]),
        }
    )
    types = frames.infer_feature_types(frame, list(frame.columns))
    assert types == {
        "flag": NUMERIC,
        "count": NUMERIC,
        "when": NUMERIC,
        "took": NUMERIC,
        "kind": CATEGORICAL,
    }
    out = frames.conform(frame, types)
    np.testing.assert_array_equal(out["flag"], [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(out["count"], [1.0, np.nan, 3.0])
    np.testing.assert_array_equal(out["when"], [1704067200.0, np.nan, 1704153600.0])
    np.testing.assert_array_equal(out["took"], [1.0, 2.0, np.nan])
    assert list(out["kind"]) == ["a", "b", "a"]


def test_pyarrow_backed_and_pandas_str_columns_are_read_alike() -> None:
    arrow = pd.DataFrame(
        {
            "n": pd.Series(pa.array(["1", None, "3"]), dtype=pd.ArrowDtype(pa.string())),
            "c": pd.Series(["a", None, ""], dtype="string[pyarrow]"),
            "d": pd.Series(pa.array([1.5, None, 2.5]), dtype=pd.ArrowDtype(pa.float64())),
            "b": pd.Series(pa.array([True, None, False]), dtype=pd.ArrowDtype(pa.bool_())),
        }
    )
    types = frames.infer_feature_types(arrow, ["n", "c", "d", "b"])
    assert types == {"n": NUMERIC, "c": CATEGORICAL, "d": NUMERIC, "b": NUMERIC}
    out = frames.conform(arrow, types)
    assert out["n"].dtype == np.float64
    np.testing.assert_array_equal(out["n"], [1.0, np.nan, 3.0])
    np.testing.assert_array_equal(out["b"], [1.0, np.nan, 0.0])
    assert out["c"].dtype == object
    assert out["c"].iloc[0] == "a" and out["c"].isna().tolist() == [False, True, True]


def test_object_columns_of_python_numbers_and_bools_are_numeric() -> None:
    frame = pd.DataFrame({"n": [1, None, 2.5], "b": [True, None, False]}, dtype=object)
    assert frames.infer_feature_types(frame, ["n", "b"]) == {"n": NUMERIC, "b": NUMERIC}


def test_conform_at_apply_time_imputes_nothing_but_marks_missing() -> None:
    types = {"bytes": NUMERIC, "host": CATEGORICAL}
    frame = pd.DataFrame(
        {"bytes": ["5", "oops", "", "inf"], "host": ["a", "", None, "b"], "extra": list("wxyz")},
        index=[10, 11, 12, 13],
    )
    out = frames.conform(frame, types)
    assert list(out.columns) == ["bytes", "host"]
    assert list(out.index) == [10, 11, 12, 13]
    np.testing.assert_array_equal(out["bytes"], [5.0, np.nan, np.nan, np.nan])
    assert out["host"].tolist()[0] == "a" and out["host"].isna().tolist() == [
        False,
        True,
        True,
        False,
    ]


def test_conform_treats_absent_fields_as_missing() -> None:
    frame = pd.DataFrame({"other": ["1", "2"]})
    out = frames.conform(frame, {"bytes": NUMERIC, "host": CATEGORICAL})
    assert out["bytes"].isna().all() and out["host"].isna().all()
    assert len(out) == 2


def test_numbers_applied_to_a_categorical_feature_become_its_strings() -> None:
    out = frames.conform(pd.DataFrame({"code": [200, 404]}), {"code": CATEGORICAL})
    assert out["code"].tolist() == ["200", "404"]


def test_class_labels_keep_text_as_text_and_numbers_as_numbers() -> None:
    present, labels = frames.class_labels(pd.Series(["yes", "", "no", None]))
    assert present.tolist() == [True, False, True, False]
    assert labels.tolist() == ["yes", "no"] and labels.dtype == object

    present, labels = frames.class_labels(pd.Series([1, None, 0], dtype="Int64"))
    assert present.tolist() == [True, False, True]
    assert labels.tolist() == [1, 0] and labels.dtype == np.int64

    present, labels = frames.class_labels(pd.Series([1.0, np.nan, np.inf, 2.0]))
    assert present.tolist() == [True, False, False, True]
    assert labels.tolist() == [1.0, 2.0]


def test_regression_target_parses_text_and_drops_missing() -> None:
    present, values = frames.regression_target(pd.Series(["1.5", "", "3", None]), "y")
    assert present.tolist() == [True, False, True, False]
    assert values.tolist() == [1.5, 3.0]


def test_regression_target_of_words_suggests_a_classifier() -> None:
    with pytest.raises(DataError, match=r"'status' is not numeric.*use a classifier"):
        frames.regression_target(pd.Series(["ok", "fail", "ok"]), "status")


def test_regression_target_with_stray_text_is_the_mixed_error() -> None:
    values = pd.Series([str(i) for i in range(30)] + ["err"])
    with pytest.raises(DataError, match=r"1 of 31 values are not \(e.g. 'err'\)"):
        frames.regression_target(values, "y")


def test_missing_count_counts_splunk_empty_strings() -> None:
    assert frames.missing_count(pd.Series(["a", "", " ", None])) == 3
    assert frames.missing_count(pd.Series([1.0, np.nan])) == 1


def test_conform_never_writes_into_the_callers_frame() -> None:
    frame = pd.DataFrame({"v": [1.0, np.inf, -np.inf, 2.0]})
    out = frames.conform(frame, {"v": NUMERIC})
    np.testing.assert_array_equal(out["v"], [1.0, np.nan, np.nan, 2.0])
    assert frame["v"].tolist() == [1.0, np.inf, -np.inf, 2.0]


def test_read_features_infers_and_converts_the_kept_rows_in_one_pass() -> None:
    frame = pd.DataFrame(
        {"n": ["1", "2", "x9", "4"], "c": ["a", "b", "", "a"], "v": ["1", "", "3", "4"]},
        index=[5, 6, 7, 8],
    )
    types, X = frames.read_features(frame, ["n", "c", "v"], rows=np.array([0, 1, 3]))
    assert types == {"n": NUMERIC, "c": CATEGORICAL, "v": NUMERIC}  # 'x9' was left out
    assert list(X.index) == [5, 6, 8]
    np.testing.assert_array_equal(X["n"], [1.0, 2.0, 4.0])
    np.testing.assert_array_equal(X["v"], [1.0, np.nan, 4.0])
    assert X["c"].tolist() == ["a", "b", "a"]
    pd.testing.assert_frame_equal(X, frames.conform(frame.iloc[[0, 1, 3]], types))


@pytest.mark.parametrize(
    "values",
    [
        ["1", " 2.5 ", "", None, "1e3", "-0", "nan"],  # clean: Arrow's vectorised cast
        ["1", "x", "", "3.25", "n/a"],  # dirty: pandas' per-value path
    ],
)
def test_numeric_text_parses_as_pandas_would(values: list) -> None:
    import numpy as np
    import pandas as pd

    from kepler.ml.frames import _arrow_parse, numeric_values

    col = pd.Series(values, dtype="str")
    expected = pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    np.testing.assert_array_equal(numeric_values(col), expected)
    assert (_arrow_parse(col) is None) == ("x" in values)  # which path ran


def test_arrow_floats_parses_clean_text_and_blanks_in_one_cast() -> None:
    import pyarrow as pa

    from kepler.ml.frames import arrow_floats

    out = arrow_floats(pa.chunked_array([["1.5", "", "-2e3"], ["inf", " 7 "]]))
    assert out is not None
    assert out.type == pa.float64()
    assert out.to_pylist() == [1.5, None, -2000.0, float("inf"), 7.0]


def test_arrow_floats_gives_up_on_non_numbers_and_non_text() -> None:
    import pyarrow as pa

    from kepler.ml.frames import arrow_floats

    assert arrow_floats(pa.array(["1", "n/a-ish", "3"])) is None
    assert arrow_floats(pa.array([1.0, 2.0])) is None
