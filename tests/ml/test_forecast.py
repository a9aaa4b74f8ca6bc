"""MLTK's forecasters against statsmodels called directly, and their refusals."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kepler.core.errors import BadParameter, DataError
from kepler.core.spec import FitSpec, parse
from kepler.ml.forecast import unobserved_components_kwargs
from kepler.ml.outputs import predict_frame
from kepler.ml.registry import all_algorithms
from kepler.ml.store import ModelStore
from kepler.ml.training import train

pytest.importorskip("statsmodels")

HOUR = 3600.0
START = 1_700_000_000.0
TOL = {"rtol": 1e-9, "atol": 1e-9}


def _series(n: int = 96, seed: int = 0, period: int = 12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    return 50 + 0.2 * steps + 5 * np.sin(2 * np.pi * steps / period) + rng.normal(0, 1, n)


def _events(values: np.ndarray, *, shuffle: bool = True) -> pd.DataFrame:
    """Splunk-style text rows, newest first as a search returns them."""
    frame = pd.DataFrame(
        {
            "_time": [f"{START + HOUR * i:.3f}" for i in range(len(values))],
            "count": [repr(float(v)) for v in values],
        }
    )
    return frame.iloc[::-1].reset_index(drop=True) if shuffle else frame


def _direct(model: Any, end: int, ci: float = 95) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = model.fit(**({"disp": False} if hasattr(model, "level") else {}))
    prediction = fitted.get_prediction(start=0, end=end)
    bounds = np.asarray(prediction.conf_int(alpha=1 - ci / 100))
    return pd.DataFrame(
        {"mean": prediction.predicted_mean, "lower": bounds[:, 0], "upper": bounds[:, 1]}
    )


def _compare(forecast: pd.DataFrame, direct: pd.DataFrame, field: str, ci: str = "95") -> None:
    np.testing.assert_allclose(forecast[f"predicted({field})"], direct["mean"], **TOL)
    np.testing.assert_allclose(forecast[f"lower{ci}(predicted({field}))"], direct["lower"], **TOL)
    np.testing.assert_allclose(forecast[f"upper{ci}(predicted({field}))"], direct["upper"], **TOL)


def test_fit_arima_equals_statsmodels_with_holdback_and_forecast() -> None:
    from statsmodels.tsa.arima.model import ARIMA

    y = _series()
    spec = parse("fit ARIMA _time count order=2-1-1 holdback=6 forecast_k=10 conf_interval=90")
    assert isinstance(spec, FitSpec)
    trained = train(_events(y), spec)
    forecast = trained.forecast
    # MLTK counts forecast_k from the last row fitted: the 6 held back, then 4 more rows
    assert forecast is not None and len(forecast) == len(y) + 4
    _compare(forecast, _direct(ARIMA(y[:-6], order=(2, 1, 1)), len(y) + 3, 90), "count", "90")
    # sorted by _time, the future rows at the series' step, with no observed value
    np.testing.assert_allclose(forecast["_time"], START + HOUR * np.arange(len(y) + 4))
    assert forecast["count"].iloc[-4:].isna().all()
    np.testing.assert_allclose(forecast["count"].iloc[: len(y)], y)
    # holdback: the metrics are the held-back rows' forecast errors
    errors = forecast["predicted(count)"].iloc[len(y) - 6 : len(y)] - y[-6:]
    assert trained.metrics["mae"] == pytest.approx(np.abs(errors).mean())
    assert trained.metrics["rmse"] == pytest.approx(np.sqrt((errors**2).mean()))
    assert trained.meta.task == "forecaster" and trained.meta.n_train == len(y)


def test_fit_state_space_forecast_equals_unobserved_components() -> None:
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    y = _series(seed=3)
    trained = train(
        _events(y),
        FitSpec("StateSpaceForecast", features=("count",), params={"period": 12, "forecast_k": 24}),
    )
    assert trained.meta.features == ["_time", "count"]  # _time followed without being told
    model = UnobservedComponents(y, **unobserved_components_kwargs(12))
    assert trained.forecast is not None
    _compare(trained.forecast, _direct(model, len(y) + 23), "count")


def test_fit_state_space_forecast_several_fields_one_model_each() -> None:
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    a, b = _series(60, seed=1), _series(60, seed=2) * 3
    frame = pd.DataFrame({"CRM": a, "ERP": b})  # no _time: the rows are the series
    trained = train(frame, FitSpec("StateSpaceForecast", features=("CRM", "ERP")))
    assert trained.forecast is not None and "_time" not in trained.forecast
    for field, y in (("CRM", a), ("ERP", b)):
        model = UnobservedComponents(y, **unobserved_components_kwargs(None))
        _compare(trained.forecast, _direct(model, len(y) - 1), field)
    assert {"mae_CRM", "rmse_ERP"} <= set(trained.metrics)


def test_apply_forecasts_from_the_trained_state(tmp_path: Any, module_store: ModelStore) -> None:
    y = _series()
    trained = train(_events(y), parse("fit ARIMA _time count order=1-0-1 forecast_k=5"))
    saved = module_store.register(trained, "forecast-apply")
    pipeline, meta = module_store.load(saved.name, saved.version)
    assert trained.forecast is not None
    # a training timestamp, the step after the end, and 3 steps after it, in any order
    times = [START + HOUR * 10, START + HOUR * (len(y) + 2), START + HOUR * len(y), START - HOUR]
    out = predict_frame(pipeline, meta, pd.DataFrame({"_time": times}))
    expected = trained.forecast.set_index("_time").reindex(times).iloc[:, 1:]
    np.testing.assert_allclose(out.to_numpy(), expected.to_numpy(), **TOL)
    assert out.iloc[3].isna().all()  # before the series' start: no prediction
    # forecast_k: the rows, then 4 more after the later of the series' end and the rows
    more = predict_frame(pipeline, meta, pd.DataFrame({"_time": times}), options={"forecast_k": 4})
    assert list(more.columns[:2]) == ["_time", "predicted(count)"] and len(more) == 8
    np.testing.assert_allclose(more["_time"].iloc[4:], START + HOUR * (len(y) + np.arange(3, 7)))


def test_apply_conf_interval_gives_another_interval_than_the_fitted_one() -> None:
    from statsmodels.tsa.arima.model import ARIMA

    y = _series()
    trained = train(_events(y), parse("fit ARIMA _time count order=1-0-1"))
    times = pd.DataFrame({"_time": [START + HOUR * 10, START + HOUR * (len(y) + 1)]})
    out = predict_frame(
        trained.pipeline, trained.meta, times, options={"conf_interval": 80, "forecast_k": 1}
    )
    assert list(out.columns) == [
        "_time",
        "predicted(count)",
        "lower80(predicted(count))",
        "upper80(predicted(count))",
    ]
    direct = _direct(ARIMA(y, order=(1, 0, 1)), len(y) + 2, 80)
    want = direct.iloc[[10, len(y) + 1, len(y) + 2]]
    np.testing.assert_allclose(out.iloc[:, 1:].to_numpy(), want.to_numpy(), **TOL)


def test_mltk_time_amounts_count_in_the_series_steps() -> None:
    y = _series(120)
    rows = train(_events(y), parse("fit ARIMA _time count order=1-0-0 holdback=5 forecast_k=30"))
    amounts = train(
        _events(y), parse("fit ARIMA _time count order=1-0-0 holdback=5h forecast_k=30hours")
    )
    assert rows.forecast is not None and amounts.forecast is not None
    pd.testing.assert_frame_equal(amounts.forecast, rows.forecast)
    assert amounts.metrics == rows.metrics


def test_time_amount_without_time_is_refused() -> None:
    frame = pd.DataFrame({"count": [float(v) for v in _series(40)]})
    with pytest.raises(BadParameter, match="no _time to count it in"):
        train(frame, parse("fit ARIMA count order=1-0-0 holdback=2days"))


def test_as_names_the_prediction() -> None:
    trained = train(
        _events(_series(40)), parse("fit ARIMA _time count order=1-0-0 forecast_k=2 as pred")
    )
    assert trained.forecast is not None
    assert list(trained.forecast.columns) == [
        "_time",
        "count",
        "pred",
        "lower95(pred)",
        "upper95(pred)",
    ]


@pytest.mark.parametrize(
    ("frame", "line", "message"),
    [
        (pd.DataFrame({"count": ["1", "2", "x", "4", "5", "6"]}), "order=0-0-0", "numeric"),
        (
            pd.DataFrame({"_time": [0, 60, 60, 120, 180, 240], "count": range(6)}),
            "order=0-0-0",
            "duplicated",
        ),
        (
            pd.DataFrame({"_time": [0, 60, 120, 600, 660, 720], "count": range(6)}),
            "order=0-0-0",
            "irregular",
        ),
        (pd.DataFrame({"count": range(6)}), "order=3-1-2", "at least 9 rows"),
        (pd.DataFrame({"count": range(6)}), "order=0-0-0 holdback=6", "holdback"),
        (pd.DataFrame({"count": range(6)}), "order=1-x-1", "three whole numbers"),
        (pd.DataFrame({"count": range(6)}), "", "needs order"),
    ],
)
def test_fit_arima_bad_input_says_what_to_change(
    frame: pd.DataFrame, line: str, message: str
) -> None:
    spec = parse(f"fit ARIMA count {line}")
    assert isinstance(spec, FitSpec)
    with pytest.raises((DataError, BadParameter), match=message):
        train(frame, spec)


def test_fit_forecaster_rejects_by_and_several_arima_fields() -> None:
    frame = pd.DataFrame({"a": range(20), "b": range(20), "host": ["x"] * 20})
    with pytest.raises(Exception, match="`by` is not supported for StateSpaceForecast"):
        train(frame, parse("fit StateSpaceForecast a by host"))  # type: ignore[arg-type]
    with pytest.raises(DataError, match="one field"):
        train(frame, parse("fit ARIMA a b order=1-0-0"))  # type: ignore[arg-type]


def test_apply_refuses_options_a_model_does_not_take() -> None:
    trained = train(_events(_series(30)), parse("fit ARIMA _time count order=1-0-0"))  # type: ignore[arg-type]
    with pytest.raises(BadParameter, match="DensityFunction"):
        predict_frame(
            trained.pipeline,
            trained.meta,
            pd.DataFrame({"_time": [START]}),
            options={"threshold": 0.1},
        )


def test_catalog_lists_both_forecasters() -> None:
    names = {a.name: a for a in all_algorithms()}
    assert names["ARIMA"].task == names["StateSpaceForecast"].task == "forecaster"
    assert names["StateSpaceForecast"].params.lookup("period") is not None


@pytest.mark.parametrize(
    ("line", "features", "params"),
    [
        (
            "fit ARIMA _time value order=1-0-1 forecast_k=10 into m",
            ("_time", "value"),
            {"order": "1-0-1", "forecast_k": 10},
        ),
        (
            "| fit StateSpaceForecast CRM ERP Expenses holdback=12 period=12 conf_interval=90",
            ("CRM", "ERP", "Expenses"),
            {"holdback": 12, "period": 12, "conf_interval": 90},
        ),
    ],
)
def test_parse_mltk_forecast_lines(line: str, features: tuple, params: dict) -> None:
    spec = parse(line)
    assert isinstance(spec, FitSpec)
    assert spec.features == features and spec.params == params


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("fit ARIMA v forecast_k=20000", "forecast_k"),
        ("fit StateSpaceForecast v period=1", "period"),
        ("fit ARIMA v conf_interval=100", "conf_interval"),
    ],
)
def test_parse_out_of_range_forecast_options_are_refused(line: str, fragment: str) -> None:
    with pytest.raises(BadParameter, match=fragment):
        parse(line)
