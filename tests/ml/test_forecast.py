"""MLTK's forecasters against statsmodels called directly, and their refusals."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kepler.core.errors import BadParameter, DataError, InvalidSpec
from kepler.core.spec import ApplySpec, FitSpec, parse
from kepler.ml.forecast import unobserved_components_kwargs
from kepler.ml.outputs import predict_frame
from kepler.ml.partial import continue_training
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


def _seasonal(n: int, seed: int, period: int = 12) -> np.ndarray:
    """A season over a slight trend: MLTK's find_period sees the season (a steep trend's
    low frequencies outweigh it, and it finds none: see test_find_period_as_mltk_...)."""
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    return 50 + 0.02 * steps + 5 * np.sin(2 * np.pi * steps / period) + rng.normal(0, 1, n)


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
        FitSpec(
            "StateSpaceForecast",
            features=("count",),
            params={"period": 12, "forecast_k": 24, "output_fit": True},
        ),
    )
    assert trained.meta.features == ["_time", "count"]  # _time followed without being told
    model = UnobservedComponents(y, **unobserved_components_kwargs(12))
    assert trained.forecast is not None
    _compare(trained.forecast, _direct(model, len(y) + 23), "count")


def test_fit_state_space_forecast_several_fields_one_model_each() -> None:
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    a, b = _series(60, seed=1), _series(60, seed=2) * 3
    frame = pd.DataFrame({"CRM": a, "ERP": b})  # no _time: the rows are the series
    spec = FitSpec("StateSpaceForecast", features=("CRM", "ERP"), params={"output_fit": True})
    trained = train(frame, spec)
    assert trained.forecast is not None and "_time" not in trained.forecast
    period = trained.pipeline.named_steps["model"].period_  # detected over both fields
    for field, y in (("CRM", a), ("ERP", b)):
        model = UnobservedComponents(y, **unobserved_components_kwargs(period))
        _compare(trained.forecast, _direct(model, len(y) - 1), field)
    assert {"mae_CRM", "rmse_ERP"} <= set(trained.metrics)


def test_apply_reads_the_trained_forecast_at_times_only_events(
    tmp_path: Any, module_store: ModelStore
) -> None:
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
        ("fit StateSpaceForecast v period=0", "period"),
        ("fit ARIMA v conf_interval=100", "conf_interval"),
    ],
)
def test_parse_out_of_range_forecast_options_are_refused(line: str, fragment: str) -> None:
    with pytest.raises(BadParameter, match=fragment):
        parse(line)


# -- apply runs the model over the events' own series (MLTK's StateSpaceForecast.apply) -----


def _forecast_order(out: pd.DataFrame, events: int) -> pd.DataFrame:
    """apply's answer (events in their order, then the rows after them) sorted by _time,
    as the fit's forecast is."""
    head = out.iloc[:events].astype({"_time": float}).sort_values("_time", kind="stable")
    return pd.concat([head, out.iloc[events:]], ignore_index=True)


@pytest.mark.parametrize(
    "line",
    [
        "fit StateSpaceForecast count period=12 holdback=6 forecast_k=10 output_fit=true",
        "fit ARIMA _time count order=2-1-1 holdback=4 forecast_k=9 conf_interval=90",
        "fit StateSpaceForecast count output_fit=true",
    ],
    ids=["ssf-holdback", "arima", "ssf-plain"],
)
def test_apply_on_the_training_series_gives_the_fit_outputs(line: str) -> None:
    events = _events(_series())  # newest first, as Splunk sends them
    trained = train(events, parse(line))  # type: ignore[arg-type]
    est = trained.pipeline.named_steps["model"]
    options = {"holdback": est.holdback, "forecast_k": est.forecast_k}
    out = predict_frame(trained.pipeline, trained.meta, events, options=options)
    assert trained.forecast is not None and len(out) == len(trained.forecast)
    # every event keeps its place (newest first), the future rows follow
    np.testing.assert_allclose(out["_time"].iloc[: len(events)], events["_time"].astype(float))
    ours = _forecast_order(out, len(events))
    fitted = trained.forecast.drop(columns=["count"])
    np.testing.assert_allclose(ours.to_numpy(float), fitted.to_numpy(float), rtol=0, atol=0)


def test_apply_on_a_continuation_equals_statsmodels_filter_with_the_fitted_params() -> None:
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    y = _series(160, seed=5)
    trained = train(_events(y[:96]), parse("fit StateSpaceForecast count period=12"))  # type: ignore[arg-type]
    params = trained.pipeline.named_steps["model"].params_[0]
    later = _events(y[96:])
    later["_time"] = [f"{START + HOUR * (96 + i):.3f}" for i in range(len(later))][::-1]
    out = predict_frame(trained.pipeline, trained.meta, later, options={"forecast_k": 5})
    direct = UnobservedComponents(y[96:], **unobserved_components_kwargs(12)).filter(params)
    prediction = direct.get_prediction(start=0, end=len(later) + 4)
    bounds = np.asarray(prediction.conf_int(alpha=0.05))
    ours = _forecast_order(out, len(later))
    np.testing.assert_allclose(ours["predicted(count)"], prediction.predicted_mean, **TOL)
    np.testing.assert_allclose(ours["lower95(predicted(count))"], bounds[:, 0], **TOL)
    np.testing.assert_allclose(ours["upper95(predicted(count))"], bounds[:, 1], **TOL)
    # the forecast starts after the applied events, not after the training series
    np.testing.assert_allclose(ours["_time"].iloc[-5:], START + HOUR * (160 + np.arange(5)))


def test_apply_holdback_withholds_the_last_events_and_forecasts_them() -> None:
    from statsmodels.tsa.arima.model import ARIMA

    y = _series(80, seed=6)
    trained = train(_events(y[:60]), parse("fit ARIMA count order=1-0-1"))  # type: ignore[arg-type]
    params = trained.pipeline.named_steps["model"].params_[0]
    later = _events(y)
    out = predict_frame(
        trained.pipeline, trained.meta, later, options={"holdback": 3, "forecast_k": 5}
    )
    # forecast_k counts from the last row run over: the 3 withheld, then 2 more rows
    assert len(out) == len(y) + 2
    direct = ARIMA(y[:-3], order=(1, 0, 1)).filter(params).get_prediction(start=0, end=len(y) + 1)
    ours = _forecast_order(out, len(y))
    np.testing.assert_allclose(ours["predicted(count)"], direct.predicted_mean, **TOL)


def test_apply_time_amounts_count_in_the_series_steps() -> None:
    events = _events(_series())
    trained = train(events, parse("fit ARIMA count order=1-0-0"))  # type: ignore[arg-type]
    rows = predict_frame(
        trained.pipeline, trained.meta, events, options={"holdback": 5, "forecast_k": 30}
    )
    amounts = predict_frame(
        trained.pipeline, trained.meta, events, options={"holdback": "5h", "forecast_k": "30hours"}
    )
    pd.testing.assert_frame_equal(amounts, rows)
    assert len(rows) == len(events) + 25


def test_apply_spl_takes_mltk_time_amounts() -> None:
    spec = parse("apply m forecast_k=2weeks holdback=3days conf_interval=90")
    assert isinstance(spec, ApplySpec)
    assert spec.options == {"forecast_k": "2weeks", "holdback": "3days", "conf_interval": 90}
    assert parse("apply m holdback=3 forecast_k=5").options == {"holdback": 3, "forecast_k": 5}  # type: ignore[union-attr]
    for bad in ("forecast_k=20000", "forecast_k=2fortnights", "holdback=-1"):
        with pytest.raises((BadParameter, InvalidSpec)):
            parse(f"apply m {bad}")


def test_apply_too_few_rows_says_how_many_are_needed() -> None:
    trained = train(_events(_series()), parse("fit StateSpaceForecast count period=12"))  # type: ignore[arg-type]
    few = _events(_series(30))
    with pytest.raises(DataError, match=r"needs at least 24 rows of the series.*give 20 after"):
        predict_frame(trained.pipeline, trained.meta, few, options={"holdback": 10})
    with pytest.raises(BadParameter, match="withholds every event"):
        predict_frame(trained.pipeline, trained.meta, few, options={"holdback": 30})


def test_apply_at_another_step_is_refused_naming_both() -> None:
    trained = train(_events(_series()), parse("fit StateSpaceForecast count"))  # type: ignore[arg-type]
    daily = pd.DataFrame(
        {"_time": START + 86_400.0 * np.arange(30), "count": _series(30).astype(str)}
    )
    with pytest.raises(DataError, match=r"step by 1d, the model's series by 1h"):
        predict_frame(trained.pipeline, trained.meta, daily)
    gappy = _events(_series()).drop(index=[10, 11, 12])
    with pytest.raises(DataError, match="irregular"):
        predict_frame(trained.pipeline, trained.meta, gappy)


def test_apply_with_empty_fields_falls_back_to_the_trained_forecast() -> None:
    trained = train(_events(_series()), parse("fit ARIMA count order=1-0-1"))  # type: ignore[arg-type]
    times = [START + HOUR * 10, START + HOUR * 100]
    empty = pd.DataFrame({"_time": times, "count": ["", ""]})
    out = predict_frame(trained.pipeline, trained.meta, empty)
    only = predict_frame(trained.pipeline, trained.meta, pd.DataFrame({"_time": times}))
    pd.testing.assert_frame_equal(out, only)
    assert trained.forecast is not None
    assert out["predicted(count)"].iloc[0] == trained.forecast["predicted(count)"].iloc[10]
    with pytest.raises(BadParameter, match="holdback= withholds"):
        predict_frame(trained.pipeline, trained.meta, empty, options={"holdback": 2})


# -- partial_fit=true (MLTK's StateSpaceForecast.partial_fit) -------------------------------


def _partial(**params: Any) -> FitSpec:
    return FitSpec(
        "StateSpaceForecast",
        features=("count",),
        params=params,
        into="ssf",
        holdout=0.0,
        partial_fit=True,
    )


def test_partial_fit_starts_from_the_previous_params(module_store: ModelStore) -> None:
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    y = _series(192, seed=7)
    first = train(_events(y[:96]), FitSpec("StateSpaceForecast", features=("count",), into="ssf"))
    v1 = module_store.register(first, "ssf-chain")
    pipeline, meta = module_store.load(v1.name, v1.version)
    previous = np.array(pipeline.named_steps["model"].params_[0])
    period = pipeline.named_steps["model"].period_  # detected at the first fit, kept
    new = _events(y[96:])
    new["_time"] = [f"{START + HOUR * (96 + i):.3f}" for i in range(96)][::-1]
    second = continue_training(new, _partial(forecast_k=4), pipeline, meta, v1.version)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        direct = UnobservedComponents(y[96:], **unobserved_components_kwargs(period)).fit(
            start_params=previous, disp=False, return_params=True
        )
    est = second.pipeline.named_steps["model"]
    assert est.period_ == period == 12
    np.testing.assert_allclose(est.params_[0], direct, **TOL)
    # the answer: the new version's series and forecast, as a fit's
    assert second.forecast is not None and len(second.forecast) == 96 + 4
    np.testing.assert_allclose(second.forecast["count"].iloc[:96], y[96:])
    assert second.meta.params["forecast_k"] == 4 and second.meta.n_train == 192
    # a version chain: v2 continues v1, v3 continues v2; none is overwritten
    v2 = module_store.register(second, "ssf-chain", lineage={"continued_from": v1.version})
    pipeline2, meta2 = module_store.load(v2.name, v2.version)
    third = continue_training(_events(y[96:]), _partial(), pipeline2, meta2, v2.version)
    v3 = module_store.register(third, "ssf-chain", lineage={"continued_from": v2.version})
    assert (v1.version, v2.version, v3.version) == (1, 2, 3)
    again, _ = module_store.load(v1.name, v1.version)
    np.testing.assert_array_equal(again.named_steps["model"].params_[0], previous)


def test_partial_fit_update_last_answers_the_previous_forecast_over_the_new_events() -> None:
    y = _series(150, seed=8)
    first = train(_events(y[:90]), FitSpec("StateSpaceForecast", features=("count",)))
    before = predict_frame(
        first.pipeline, first.meta, _events(y[90:], shuffle=False), options={"forecast_k": 6}
    )
    previous = first.pipeline.named_steps["model"].params_[0].copy()
    new = _events(y[90:])
    new["_time"] = [f"{START + HOUR * i:.3f}" for i in range(60)][::-1]
    continued = continue_training(
        new, _partial(update_last=True, forecast_k=6), first.pipeline, first.meta, 1
    )
    assert continued.forecast is not None and len(continued.forecast) == 66
    np.testing.assert_allclose(
        continued.forecast["predicted(count)"], before["predicted(count)"], **TOL
    )
    # and the model was updated afterwards: its parameters are the new fit's
    updated = continued.pipeline.named_steps["model"].params_[0]
    assert not np.allclose(updated, previous)
    assert "update_last" not in continued.meta.params  # one fit's option, not the model's


def test_partial_fit_keeps_the_model_params() -> None:
    first = train(_events(_series()), FitSpec("StateSpaceForecast", features=("count",)))
    with pytest.raises(BadParameter, match="its own parameters"):
        continue_training(_events(_series()), _partial(period=12), first.pipeline, first.meta, 1)
    with pytest.raises(BadParameter, match="not supported by ARIMA"):
        FitSpec("ARIMA", features=("count",), into="a", partial_fit=True)


# -- MLTK's remaining StateSpaceForecast options (output_fit, output_metadata, specialdays,
# the detected period, apply's target=): MLTK's bin/algos/StateSpaceForecast.py ------------


def _model(trained: Any) -> Any:
    return trained.pipeline.named_steps["model"]


def test_fit_interval_starts_at_the_first_held_back_row_unless_output_fit() -> None:
    y = _series()
    line = "fit StateSpaceForecast count period=12 holdback=6 forecast_k=10"
    default = train(_events(y), parse(line)).forecast  # type: ignore[arg-type]
    full = train(_events(y), parse(f"{line} output_fit=true")).forecast  # type: ignore[arg-type]
    assert default is not None and full is not None
    lower, upper = "lower95(predicted(count))", "upper95(predicted(count))"
    # MLTK's conf_start: the 90 rows fitted get no interval; predicted(count) is on every row
    assert default[[lower, upper]].iloc[:90].isna().all().all()
    assert default[[lower, upper]].iloc[90:].notna().all().all()
    assert default["predicted(count)"].notna().all()
    pd.testing.assert_frame_equal(default.iloc[90:], full.iloc[90:])
    np.testing.assert_allclose(default["predicted(count)"], full["predicted(count)"], rtol=0)
    assert full[[lower, upper]].notna().all().all()


@pytest.mark.parametrize(
    ("holdback", "k", "marks"),
    [
        (5, 10, ["hf"] * 5 + ["f"] * 5),  # held back and forecast, then forecast only
        (5, 3, ["hf"] * 3 + ["h"] * 2),  # forecast_k ends inside the held-back rows
        (0, 4, ["f"] * 4),
    ],
    ids=["hb5-k10", "hb5-k3", "hb0-k4"],
)
def test_output_metadata_marks_held_back_and_forecast_rows(
    holdback: int, k: int, marks: list[str]
) -> None:
    y = _series()
    line = f"fit StateSpaceForecast count period=12 holdback={holdback} forecast_k={k}"
    forecast = train(_events(y), parse(f"{line} output_metadata=true")).forecast  # type: ignore[arg-type]
    assert forecast is not None and forecast.columns[-1] == "_forecastMetadata"
    start = len(y) - holdback
    assert forecast["_forecastMetadata"].iloc[:start].isna().all()
    assert forecast["_forecastMetadata"].iloc[start:].tolist() == marks
    plain = train(_events(y), parse(line)).forecast  # type: ignore[arg-type]
    assert plain is not None and "_forecastMetadata" not in plain


def test_apply_output_metadata_marks_the_events_and_the_rows_after() -> None:
    events = _events(_series())  # newest first
    trained = train(events, parse("fit StateSpaceForecast count period=12"))  # type: ignore[arg-type]
    options = {"holdback": 4, "forecast_k": 7, "output_metadata": True}
    out = predict_frame(trained.pipeline, trained.meta, events, options=options)
    assert len(out) == len(events) + 3
    ordered = _forecast_order(out, len(events))
    assert ordered["_forecastMetadata"].iloc[:92].isna().all()
    assert ordered["_forecastMetadata"].iloc[92:].tolist() == ["hf"] * 4 + ["f"] * 3
    # the events keep their order: the newest (first) is the last held-back row
    assert out["_forecastMetadata"].iloc[0] == "hf"
    # times-only events read the trained forecast: after the series' end, f
    times = pd.DataFrame({"_time": [START + HOUR * 5, START + HOUR * 100]})
    only = predict_frame(trained.pipeline, trained.meta, times, options={"output_metadata": True})
    assert only["_forecastMetadata"].isna().tolist() == [True, False]
    assert only["_forecastMetadata"].iloc[1] == "f"


def _holidays(n: int, future: int, seed: int = 11) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """A series with a weekly special day that lifts it by 8, and ``future`` rows after it
    that carry only _time and the special days (MLTK's way to give the future ones)."""
    days = (np.arange(n + future) % 7 == 3).astype(float)
    y = _series(n, seed=seed) + 8 * days[:n]
    frame = pd.DataFrame(
        {
            "_time": [f"{START + HOUR * i:.3f}" for i in range(n + future)],
            "count": [repr(float(v)) for v in y] + [""] * future,
            "holiday": [str(int(d)) if d else "" for d in days],  # empty is 0, as MLTK
        }
    )
    return frame.iloc[::-1].reset_index(drop=True), y, days


def test_specialdays_equals_unobserved_components_with_exog() -> None:
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    frame, y, days = _holidays(96, future=14)
    line = (
        "fit StateSpaceForecast count specialdays=holiday period=12 forecast_k=14 output_fit=true"
    )
    trained = train(frame, parse(line))  # type: ignore[arg-type]
    assert trained.meta.features == ["_time", "count", "holiday"]
    assert not trained.warnings  # 14 future special days: enough for forecast_k=14
    model = UnobservedComponents(y, exog=days[:96], **unobserved_components_kwargs(12))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = model.fit(disp=False)
    prediction = fitted.get_prediction(start=0, end=96 + 13, exog=days[96:].reshape(-1, 1))
    bounds = np.asarray(prediction.conf_int(alpha=0.05))
    direct = pd.DataFrame(
        {"mean": prediction.predicted_mean, "lower": bounds[:, 0], "upper": bounds[:, 1]}
    )
    assert trained.forecast is not None and len(trained.forecast) == 96 + 14
    _compare(trained.forecast, direct, "count")
    np.testing.assert_allclose(_model(trained).params_[0], fitted.params, **TOL)
    assert _model(trained).params_[0][-1] == pytest.approx(8, abs=1)  # the lift, learnt
    np.testing.assert_allclose(trained.forecast["holiday"], days)
    # apply on the same events (the future rows included) gives the fit's numbers
    out = predict_frame(trained.pipeline, trained.meta, frame, options={"forecast_k": 14})
    assert len(out) == len(frame)
    ours = _forecast_order(out, len(frame))
    np.testing.assert_allclose(ours["predicted(count)"], direct["mean"], **TOL)


def test_specialdays_too_few_future_values_are_0_with_mltk_warning() -> None:
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    frame, y, days = _holidays(96, future=3)
    line = "fit StateSpaceForecast count specialdays=holiday period=12 forecast_k=8"
    trained = train(frame, parse(line))  # type: ignore[arg-type]
    assert any("does not have enough values to forecast" in w for w in trained.warnings)
    future = np.concatenate([days[96:], np.zeros(5)])
    model = UnobservedComponents(y, exog=days[:96], **unobserved_components_kwargs(12))
    direct = model.filter(_model(trained).params_[0]).get_prediction(
        start=0, end=96 + 7, exog=future.reshape(-1, 1)
    )
    assert trained.forecast is not None
    np.testing.assert_allclose(trained.forecast["predicted(count)"], direct.predicted_mean, **TOL)
    np.testing.assert_allclose(trained.forecast["holiday"].iloc[96:], future)


def test_specialdays_must_be_in_the_events_at_fit_and_apply() -> None:
    frame, _, _ = _holidays(96, future=0)
    with pytest.raises(DataError, match="reads 'nope'"):
        train(frame, parse("fit StateSpaceForecast count specialdays=nope"))  # type: ignore[arg-type]
    trained = train(frame, parse("fit StateSpaceForecast count specialdays=holiday"))  # type: ignore[arg-type]
    with pytest.raises(DataError, match="Field holiday not present"):
        predict_frame(trained.pipeline, trained.meta, frame.drop(columns=["holiday"]))
    # MLTK's apply takes specialdays= too: the fitted field, or MLTK's error
    same = parse("apply m specialdays=holiday").options  # type: ignore[union-attr]
    out = predict_frame(trained.pipeline, trained.meta, frame, options=same)
    pd.testing.assert_frame_equal(out, predict_frame(trained.pipeline, trained.meta, frame))
    other = parse("apply m specialdays=promo").options  # type: ignore[union-attr]
    with pytest.raises(BadParameter, match="forgot to specify specialdays=promo during fit"):
        predict_frame(trained.pipeline, trained.meta, frame, options=other)
    bad = frame.assign(holiday="yes")
    with pytest.raises(DataError, match="'holiday' must be numeric"):
        train(bad, parse("fit StateSpaceForecast count specialdays=holiday"))  # type: ignore[arg-type]


def test_period_is_detected_and_used_as_statsmodels_seasonal() -> None:
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    y = _seasonal(144, seed=2)
    line = "fit StateSpaceForecast count forecast_k=24 output_fit=true"
    trained = train(_events(y), parse(line))  # type: ignore[arg-type]
    est = _model(trained)
    assert est.period_ == 12 and est.period is None
    summary = [row["StateSpaceForecast Summary"] for row in trained.importances]
    assert summary == [
        "time series used for training: ['count']",
        "specialdays field: None",
        "periodicity: 12",
    ]
    model = UnobservedComponents(y, **unobserved_components_kwargs(est.period_))
    assert trained.forecast is not None
    _compare(trained.forecast, _direct(model, len(y) + 23), "count")
    # apply runs with the detected period: the training series gives the fit's outputs
    options = {"forecast_k": 24}
    out = predict_frame(trained.pipeline, trained.meta, _events(y), options=options)
    ours = _forecast_order(out, len(y)).drop(columns=["_time"])
    fitted = trained.forecast.drop(columns=["_time", "count"])
    np.testing.assert_allclose(ours.to_numpy(float), fitted.to_numpy(float), rtol=0, atol=0)
    # apply's period= (MLTK's): the detected one goes through, another is MLTK's error
    same = parse("apply m period=12 forecast_k=24").options  # type: ignore[union-attr]
    again = predict_frame(trained.pipeline, trained.meta, _events(y), options=same)
    pd.testing.assert_frame_equal(again, out)
    other = parse("apply m period=7").options  # type: ignore[union-attr]
    with pytest.raises(BadParameter, match=r"period 7 is different .* \|fit \(12\)"):
        predict_frame(trained.pipeline, trained.meta, _events(y), options=other)
    arima = train(_events(y), parse("fit ARIMA _time count order=1-0-0"))  # type: ignore[arg-type]
    with pytest.raises(BadParameter, match="period= applies to StateSpaceForecast"):
        predict_frame(arima.pipeline, arima.meta, _events(y), options={"period": 12})
    with pytest.raises(BadParameter, match="period"):
        parse("apply m period=0")


def test_find_period_as_mltk_on_known_shapes() -> None:
    from kepler.ml.forecast import find_common_period, find_period

    steps = np.arange(200)
    assert find_period(np.full(50, 3.0)) == 1  # constant: MLTK's 1
    assert find_period(10 + np.sin(2 * np.pi * steps / 7)) == 7
    assert find_period(_seasonal(200, seed=1, period=24)) == 24
    # a steep trend's low frequencies outweigh the season: MLTK finds none (0)
    assert find_period(_series(120, seed=12)) == 0
    # twice the season can peak higher (MLTK keeps the highest autocorrelation peak)
    assert find_period(_seasonal(120, seed=12)) == 24
    with_gaps = _seasonal(144, seed=2)
    with_gaps[[0, 1, 50, 143]] = np.nan  # interpolated, the ends too
    assert find_period(with_gaps) == 12
    both = np.column_stack([_seasonal(144, seed=2), _seasonal(144, seed=3) * 2])
    assert find_common_period(both) == 12
    # periods that disagree (noise peaks at 15 here): no common one
    noise = np.random.default_rng(0).normal(size=144)
    assert find_period(noise) == 15
    assert find_common_period(np.column_stack([noise, _seasonal(144, seed=2)])) == 0
    # multiples of the smallest period are dropped: a constant's 1 divides every period
    assert find_common_period(np.column_stack([_seasonal(144, seed=2), np.ones(144)])) == 1
    # a field with none (0): MLTK answers the last field's period, whatever it is
    none_then_12 = np.column_stack([_series(120, seed=12), _seasonal(120, seed=1)])
    assert find_common_period(none_then_12) == find_period(_seasonal(120, seed=1))


def test_period_1_means_no_seasonality() -> None:
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    y = _series()
    trained = train(_events(y), parse("fit StateSpaceForecast count period=1 output_fit=true"))  # type: ignore[arg-type]
    assert _model(trained).period_ == 1
    assert trained.importances[-1]["StateSpaceForecast Summary"] == "periodicity: 1"
    model = UnobservedComponents(y, **unobserved_components_kwargs(None))
    assert trained.forecast is not None
    _compare(trained.forecast, _direct(model, len(y) - 1), "count")


def test_apply_target_forecasts_only_those_fields() -> None:
    a, b = _series(72, seed=1), _series(72, seed=2) * 3
    frame = pd.DataFrame(
        {"_time": START + HOUR * np.arange(72), "CRM": a.astype(str), "ERP": b.astype(str)}
    )
    trained = train(frame, parse("fit StateSpaceForecast CRM ERP period=12"))  # type: ignore[arg-type]
    both = predict_frame(trained.pipeline, trained.meta, frame, options={"forecast_k": 4})
    spec = parse("apply m forecast_k=4 target=ERP")
    assert isinstance(spec, ApplySpec) and spec.options["target"] == "ERP"
    out = predict_frame(trained.pipeline, trained.meta, frame, options=spec.options)
    erp = ["predicted(ERP)", "lower95(predicted(ERP))", "upper95(predicted(ERP))"]
    assert list(out.columns) == ["_time", *erp]
    pd.testing.assert_frame_equal(out, both[["_time", *erp]])
    # only the target needs values: CRM may be absent (Kepler's models are one per field)
    alone = predict_frame(
        trained.pipeline, trained.meta, frame.drop(columns=["CRM"]), options=spec.options
    )
    pd.testing.assert_frame_equal(alone, out)
    with pytest.raises(BadParameter, match=r"Did you include it during \|fit\?"):
        predict_frame(trained.pipeline, trained.meta, frame, options={"target": "Expenses"})


def test_apply_spl_takes_output_metadata_and_target() -> None:
    spec = parse("apply m forecast_k=7 output_metadata=true target=a,b")
    assert isinstance(spec, ApplySpec)
    assert spec.options == {"forecast_k": 7, "output_metadata": True, "target": "a,b"}
    with pytest.raises((BadParameter, InvalidSpec)):
        parse("apply m output_metadata=maybe")


def test_partial_fit_keeps_the_detected_period() -> None:
    from kepler.ml.forecast import find_period

    y = _seasonal(192, seed=9)
    first = train(_events(y[:96]), FitSpec("StateSpaceForecast", features=("count",)))
    new = _events(y[96:])
    new["_time"] = [f"{START + HOUR * (96 + i):.3f}" for i in range(96)][::-1]
    continued = continue_training(new, _partial(), first.pipeline, first.meta, 1)
    # the first fit's period, though the new rows alone would detect another (MLTK's
    # partial_fit reuses its estimator, MasterKf, and its period)
    assert _model(first).period_ == _model(continued).period_ == 24
    assert find_period(y[96:]) == 12


def test_detected_period_too_costly_for_statsmodels_is_dropped_with_a_warning() -> None:
    steps = np.arange(10_000)
    y = 10 * np.sin(2 * np.pi * steps / 200) + np.random.default_rng(4).normal(size=10_000)
    frame = pd.DataFrame({"x": y})  # no _time: the rows are the series
    trained = train(frame, FitSpec("StateSpaceForecast", features=("x",)))
    assert any("detected period (200 rows) is too long" in w for w in trained.warnings)
    assert _model(trained).period_ == 0
    assert trained.importances[-1]["StateSpaceForecast Summary"] == "periodicity: None"
