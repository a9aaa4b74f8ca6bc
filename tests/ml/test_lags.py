"""lags= and rolling=: the step against pandas' shift and rolling on time-sorted rows, and
a model that needs its fields' past, fitted and applied to raw events in any order."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from kepler.core.errors import DataError, InvalidSpec
from kepler.core.spec import FitSpec, parse
from kepler.ml.lags import LagFeatures
from kepler.ml.outputs import predict_frame
from kepler.ml.training import train


def _series(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Load follows temperature three hours later; rows shuffled, as searches return them."""
    rng = np.random.default_rng(seed)
    temp = 15 + 8 * np.sin(np.arange(n) / 5) + rng.normal(size=n)
    load = np.r_[np.full(3, np.nan), 2.0 * temp[:-3]] + rng.normal(scale=0.3, size=n)
    frame = pd.DataFrame({"_time": 1.7e9 + 3600.0 * np.arange(n), "temp": temp, "load": load})
    return frame.iloc[3:].sample(frac=1.0, random_state=seed).reset_index(drop=True)


def test_lags_and_rolling_are_pandas_on_the_rows_in_time_order() -> None:
    frame = _series(50)
    out = LagFeatures(("temp",), lags=(1, 3), rolling=("mean:4", "max:2")).fit_transform(frame)
    ordered = frame.sort_values("_time")
    want = pd.DataFrame(
        {
            "temp_lag1": ordered["temp"].shift(1),
            "temp_lag3": ordered["temp"].shift(3),
            "temp_rolling_mean4": ordered["temp"].rolling(4, min_periods=1).mean(),
            "temp_rolling_max2": ordered["temp"].rolling(2, min_periods=1).max(),
        }
    ).loc[frame.index]
    pd.testing.assert_frame_equal(out[list(want.columns)], want)
    pd.testing.assert_frame_equal(out[list(frame.columns)], frame)  # rows and fields kept


def test_lags_within_each_group() -> None:
    frame = pd.DataFrame(
        {
            "_time": [3, 1, 2, 1, 2, 3],
            "host": ["a", "a", "a", "b", "b", "b"],
            "v": [30.0, 10.0, 20.0, 1.0, 2.0, 3.0],
        }
    )
    out = LagFeatures(("v",), lags=(1,), rolling=("sum:2",), by=("host",)).fit_transform(frame)
    np.testing.assert_array_equal(out["v_lag1"].to_numpy(), [20.0, np.nan, 10.0, np.nan, 1, 2])
    np.testing.assert_array_equal(out["v_rolling_sum2"].to_numpy(), [50.0, 10, 30, 1, 3, 5])


def test_a_model_that_needs_the_past_learns_it_from_lags() -> None:
    frame = _series()
    spec = FitSpec("LinearRegression", target="load", features=("temp",))
    without = train(frame, spec)
    with_lags = train(frame, replace(spec, lags=(1, 2, 3)))
    assert with_lags.metrics["r2"] > 0.95 > without.metrics["r2"] + 0.3
    assert with_lags.meta.features == ["temp", "_time"]  # what apply is given
    assert with_lags.meta.lags == [1, 2, 3]
    names = {i["feature"] for i in with_lags.importances}
    assert {"temp_lag1", "temp_lag3"} <= names and "_time" not in names


def test_apply_recomputes_the_lags_on_raw_events_in_any_order() -> None:
    frame = _series(seed=1)
    spec = FitSpec("LinearRegression", target="load", features=("temp",), lags=(3,))
    trained = train(frame, spec)
    events = _series(120, seed=2).drop(columns="load").astype(str)  # Splunk's text, shuffled
    got = predict_frame(trained.pipeline, trained.meta, events)["predicted(load)"]
    ordered = events.astype(float).sort_values("_time")
    lagged = ordered["temp"].shift(3)
    model = trained.pipeline.named_steps["model"]
    imputed = lagged.fillna(trained.pipeline.named_steps["prep"].statistics_[1])
    want = model.intercept_ + model.coef_[0] * ordered["temp"] + model.coef_[1] * imputed
    np.testing.assert_allclose(got.loc[ordered.index], want, rtol=1e-9)


def test_lags_need_a_time_field() -> None:
    frame = _series(40).drop(columns="_time")
    with pytest.raises(DataError, match="time field '_time' is not in the data"):
        train(frame, FitSpec("LinearRegression", target="load", features=("temp",), lags=(1,)))


def test_lags_spelling_and_bounds() -> None:
    spec = parse("fit LinearRegression load from temp lags=24,1,2 rolling=mean:12,MAX:3")
    assert isinstance(spec, FitSpec)
    assert spec.lags == (1, 2, 24) and spec.rolling == ("mean:12", "max:3")
    with pytest.raises(Exception, match="lags"):
        parse("fit LinearRegression load from temp lags=5000")
    with pytest.raises(InvalidSpec, match="rolling='median:3' is not"):
        parse("fit LinearRegression load from temp rolling=median:3")
    with pytest.raises(InvalidSpec, match="1 to 24 comma-separated"):
        parse("fit LinearRegression load from temp lags=" + ",".join(map(str, range(1, 30))))


def test_lags_with_by_never_reach_into_another_group() -> None:
    X = pd.DataFrame(
        {
            "_time": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            "site": ["a", "b", "a", "b", "a", None],
            "v": [10.0, 20.0, 11.0, 21.0, 12.0, 99.0],
        }
    ).iloc[::-1]
    out = LagFeatures(fields=("v",), lags=(1,), rolling=("sum:2",), by=("site",)).transform(X)
    assert list(out.index) == list(X.index)
    lagged = dict(zip(out["_time"], out["v_lag1"], strict=True))
    assert lagged[3.0] == 10.0 and lagged[5.0] == 11.0 and lagged[4.0] == 20.0
    assert np.isnan(lagged[1.0]) and np.isnan(lagged[2.0]) and np.isnan(lagged[6.0])
    assert dict(zip(out["_time"], out["v_rolling_sum2"], strict=True))[5.0] == 23.0


def test_lags_with_by_fit_one_model_per_group_on_its_own_past() -> None:
    a, b = _series(200, seed=1), _series(200, seed=2)
    frame = pd.concat([a.assign(site="a"), b.assign(site="b", temp=b["temp"] + 40)])
    frame = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    spec = FitSpec("LinearRegression", target="load", features=("temp",), by=("site",), lags=(3,))
    trained = train(frame, spec)
    assert trained.pipeline.named_steps["lags"].by == ("site",)
    assert trained.pipeline.named_steps["lags"].fields == ("temp",)  # `by` is not lagged
    assert trained.metrics["r2"] > 0.95  # temp_lag3 within the site is the load's cause
    assert trained.meta.features == ["temp", "site", "_time"]
    out = predict_frame(trained.pipeline, trained.meta, frame.iloc[::-1])
    err = out["predicted(load)"].to_numpy() - frame.iloc[::-1]["load"].to_numpy()
    assert np.nanmedian(np.abs(err)) < 1.0
