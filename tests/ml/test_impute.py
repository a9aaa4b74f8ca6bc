"""Imputer against scikit-learn's SimpleImputer, through train/apply."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kepler.core.errors import BadParameter, DataError
from kepler.core.spec import FitSpec
from kepler.ml.outputs import predict_frame
from kepler.ml.training import train

TRAIN = pd.DataFrame(
    {"a": ["1", "", "3", "3", "10"], "b": ["0", "5", "", "0", "7"], "c": ["x", "y", "x", "", "y"]}
)
NEW = pd.DataFrame({"a": ["", "2"], "b": ["", "0"]})


def numbers(frame: pd.DataFrame) -> np.ndarray:
    return frame[["a", "b"]].replace("", np.nan).astype(float).to_numpy()


@pytest.mark.parametrize("strategy", ["mean", "median", "most_frequent"])
def test_strategies_follow_simple_imputer(strategy: str) -> None:
    from sklearn.impute import SimpleImputer

    spec = FitSpec("Imputer", features=("a", "b"), params={"strategy": strategy})
    trained = train(TRAIN, spec)
    out = predict_frame(trained.pipeline, trained.meta, NEW)
    assert list(out.columns) == ["Imputed_a", "Imputed_b"]
    expected = SimpleImputer(strategy=strategy).fit(numbers(TRAIN)).transform(numbers(NEW))
    np.testing.assert_allclose(out.to_numpy(), expected)


def test_missing_values_marks_a_number_as_missing() -> None:
    spec = FitSpec("Imputer", features=("b",), params={"missing_values": 0, "strategy": "mean"})
    trained = train(TRAIN, spec)
    out = predict_frame(trained.pipeline, trained.meta, NEW)
    assert list(out["Imputed_b"]) == [6.0, 6.0]  # the mean of 5 and 7; 0 and gaps filled


def test_strategy_field_fills_from_the_other_field() -> None:
    spec = FitSpec("Imputer", features=("a", "b"), params={"strategy": "field", "field": "b"})
    trained = train(TRAIN, spec)
    out = predict_frame(
        trained.pipeline, trained.meta, pd.DataFrame({"a": ["", "2"], "b": ["9", ""]})
    )
    # every listed field is imputed, the filling one too, as MLTK's Imputer outputs them
    assert list(out.columns) == ["Imputed_a", "Imputed_b"]
    assert list(out["Imputed_a"]) == [9.0, 2.0]
    assert out["Imputed_b"].iloc[0] == 9.0 and np.isnan(out["Imputed_b"].iloc[1])


def test_strategy_field_reads_an_unlisted_field_without_imputing_it() -> None:
    spec = FitSpec("Imputer", features=("a",), params={"strategy": "field", "field": "b"})
    trained = train(TRAIN, spec)
    assert trained.meta.features == ["a", "b"]  # apply sends the filling field too
    out = predict_frame(
        trained.pipeline, trained.meta, pd.DataFrame({"a": ["", "2"], "b": ["9", "9"]})
    )
    assert list(out.columns) == ["Imputed_a"] and list(out["Imputed_a"]) == [9.0, 2.0]


def test_strategy_field_needs_a_field() -> None:
    with pytest.raises(BadParameter, match="field=<name>"):
        train(TRAIN, FitSpec("Imputer", features=("a",), params={"strategy": "field"}))


def test_field_goes_with_strategy_field_only() -> None:
    spec = FitSpec("Imputer", features=("a",), params={"strategy": "median", "field": "b"})
    with pytest.raises(BadParameter, match="field=b goes with strategy=field"):
        train(TRAIN, spec)


def test_strategy_field_from_a_field_not_in_the_data() -> None:
    spec = FitSpec("Imputer", features=("a",), params={"strategy": "field", "field": "zz"})
    with pytest.raises(DataError, match="'zz'"):
        train(TRAIN, spec)


def test_all_missing_field_is_refused() -> None:
    with pytest.raises(DataError, match="no values"):
        train(TRAIN.assign(a=""), FitSpec("Imputer", features=("a", "b")))


def test_all_missing_values_marker_is_refused() -> None:
    frame = pd.DataFrame({"a": ["0", "0", "0"]})
    spec = FitSpec("Imputer", features=("a",), params={"missing_values": 0})
    with pytest.raises(DataError, match="no event has a value"):
        train(frame, spec)


def test_text_field_is_refused() -> None:
    with pytest.raises(DataError, match="numeric fields"):
        train(TRAIN, FitSpec("Imputer", features=("a", "c")))
