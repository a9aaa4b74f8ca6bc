"""The SDK's frames: DataFrames to Arrow for upload, cut into bounded requests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from kepler import _frames
from kepler.core.errors import DataError


def test_to_arrow_keeps_timezone_aware_datetimes_without_pandas_deprecations() -> None:
    # pytest turns warnings into errors: pyarrow's own path warns under pandas 3.1.
    df = pd.DataFrame(
        {
            "a": [1, 2, 3],
            "when": pd.date_range("2026-03-29 00:30", periods=3, freq="h", tz="Europe/Paris"),
            "x": [1.0, np.nan, 3.0],
        }
    )
    table = _frames.to_arrow(df)
    assert table.column_names == ["a", "when", "x"]
    assert table.schema.field("when").type == pa.timestamp(df["when"].dtype.unit, tz="Europe/Paris")
    pd.testing.assert_frame_equal(table.to_pandas(), df)


def test_to_arrow_refuses_mixed_columns_with_a_fix() -> None:
    with pytest.raises(DataError, match="astype"):
        _frames.to_arrow(pd.DataFrame({"v": [1, "two", 3.0]}))


def test_slices_are_bounded_and_cover_every_row() -> None:
    table = pa.table({"x": np.arange(10_000, dtype=np.float64)})
    pieces = list(_frames.slices(table, 8_000))
    assert sum(p.num_rows for p in pieces) == 10_000
    assert max(p.nbytes for p in pieces) <= 8_000
