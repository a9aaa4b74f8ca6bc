"""Bad input refused before any worker starts, from the target column and manifest alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kepler.core.automl import AutoMLSpec
from kepler.core.errors import BadParameter, DataError
from kepler.ml.automl.data import check, infer_task, prepare, time_features


def _spec(**kw: object) -> AutoMLSpec:
    return AutoMLSpec(**{"target": "y", "into": "m", "time_budget": 60.0, **kw})  # type: ignore[arg-type]


COLUMNS = ["x", "z", "y"]


def test_check_settles_task_metric_and_features() -> None:
    y = pd.Series(["yes", "no"] * 50)
    assert check(_spec(), y, COLUMNS, 100) == ("classification", "f1", ["x", "z"])
    reg = pd.Series(np.linspace(0, 1, 100).astype(str))  # Splunk's text numbers
    assert check(_spec(), reg, COLUMNS, 100)[:2] == ("regression", "r2")
    assert check(_spec(metric="mae"), reg, COLUMNS, 100)[1] == "mae"


@pytest.mark.parametrize(
    ("spec", "target", "error", "fragment"),
    [
        (_spec(target="nope"), None, DataError, "target field 'nope' is not in the data"),
        (_spec(), pd.Series(["a"] * 100), DataError, "constant"),
        (_spec(), pd.Series([""] * 100), DataError, "no values"),
        (_spec(), pd.Series(["yes", "no"] * 6), DataError, "too few for a 0.2 holdout"),
        (_spec(cv=5), pd.Series(["yes"] * 60 + ["no"] * 4), DataError, "class 'no'"),
        (_spec(metric="rmse"), pd.Series(["yes", "no"] * 50), BadParameter, "f1, precision"),
        (_spec(metric="f1"), pd.Series(np.arange(100.0) / 7), BadParameter, "rmse, mae, r2"),
        (_spec(time_budget=2.0), pd.Series(["yes", "no"] * 50), BadParameter, "at least 5s"),
    ],
)
def test_bad_input_is_a_clear_error(
    spec: AutoMLSpec, target: pd.Series | None, error: type, fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        check(spec, pd.Series(["yes", "no"] * 50) if target is None else target, COLUMNS, 100)


def test_budget_floor_grows_with_the_data() -> None:
    y = pd.Series(["yes", "no"] * 50)
    with pytest.raises(BadParameter, match="give at least") as caught:
        check(_spec(time_budget=10.0), y, [f"f{i}" for i in range(5000)] + ["y"], 10_000_000)
    assert caught.value.detail["minimum_s"] > 10


def test_infer_task_from_target_values() -> None:
    assert infer_task(pd.Series([0, 1, 1, 0])) == "classification"
    assert infer_task(pd.Series(["1", "2", "3"] * 5)) == "classification"
    assert infer_task(pd.Series(np.random.default_rng(0).normal(size=50))) == "regression"
    assert infer_task(pd.Series([True, False])) == "classification"


def test_prepare_splits_the_same_way_every_time_and_finds_time_fields() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "_time": (1_700_000_000 + np.arange(200) * 600).astype(str),
            "when": pd.date_range("2024-01-01", periods=200, freq="h"),
            "x": rng.normal(size=200),
            "y": rng.choice(["a", "b"], size=200),
        }
    )
    spec = _spec(features=("*", "_time"), seed=3)
    one = prepare(frame, spec, "classification", "f1")
    two = prepare(frame, spec, "classification", "f1")
    pd.testing.assert_frame_equal(one.X_holdout, two.X_holdout)
    assert len(one.X_holdout) == 40 and len(one.X_train) == 160
    assert sorted(one.time_features) == ["_time", "when"]
    assert time_features(frame, ["x"]) == []


def _trend(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "_time": (1_700_000_000 + np.arange(n) * 600).astype(str),
            "x": rng.normal(size=n),
            "y": np.arange(n) + rng.normal(size=n),
        }
    )
    return frame.sample(frac=1.0, random_state=2).reset_index(drop=True)


def test_prepare_holds_out_the_latest_rows_when_time_is_a_feature() -> None:
    from sklearn.model_selection import TimeSeriesSplit

    from kepler.ml.automl.trial import folds

    frame = _trend()
    prepared = prepare(frame, _spec(features=("x", "_time")), "regression", "r2")
    assert prepared.split == "time"
    train_times = prepared.X_train["_time"].to_numpy()
    assert (np.diff(train_times) > 0).all()  # training rows in time order
    assert train_times.max() < prepared.X_holdout["_time"].min()
    # Every trial's folds validate forward in time, as TimeSeriesSplit does.
    got = folds(prepared, 3, seed=0)
    want = TimeSeriesSplit(3).split(np.zeros(len(prepared.X_train)))
    for (train, test), (want_train, want_test) in zip(got, want, strict=True):
        np.testing.assert_array_equal(train, want_train)
        np.testing.assert_array_equal(test, want_test)


def test_prepare_split_random_shuffles_even_with_time() -> None:
    prepared = prepare(_trend(), _spec(features=("x", "_time"), split="random"), "regression", "r2")
    assert prepared.split == "random"
    assert prepared.X_train["_time"].max() > prepared.X_holdout["_time"].min()


def test_prepare_split_time_on_a_named_field_not_a_feature() -> None:
    frame = _trend().rename(columns={"_time": "ts"})
    prepared = prepare(frame, _spec(features=("x",), time_field="ts"), "regression", "r2")
    assert prepared.split == "time" and list(prepared.X_train.columns) == ["x"]
    holdout_y = prepared.y_holdout
    assert holdout_y is not None and holdout_y.min() > np.median(prepared.y_train) + 50
