"""MLTK's StateSpaceForecast and ARIMA SPL lines as splunkd runs them, against a real bridge
and worker: fit answers with the series and its forecast, apply runs the saved model over
the applied events' series (or reads the trained forecast at times-only events),
partial_fit continues StateSpaceForecast, the SDK's kp.forecast gives the same numbers,
bad series are one ERROR."""

from __future__ import annotations

import math
import random
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kepler._stack import LocalStack
from tests.splunk.harness import chunks
from tests.splunk.kepler_command import run_fit, splunkd

pytestmark = pytest.mark.system
DAY = 86_400
START = 1_700_000_000  # a day boundary is not needed: the series' step is what counts


def exchange(n: int = 120, seed: int = 0) -> list[dict]:
    """Daily rates shaped like MLTK's exchange.csv: _time, rate (a slow random walk)."""
    rng = random.Random(seed)
    rate, rows = 1.30, []
    for i in range(n):
        rate += rng.gauss(0, 0.004)
        rows.append({"_time": START + DAY * i, "rate": f"{rate:.5f}"})
    return rows


def logins(n: int = 90, seed: int = 1) -> list[dict]:
    """Daily logins shaped like MLTK's logins.csv: a weekly cycle around a level."""
    rng = random.Random(seed)
    return [
        {
            "_time": START + DAY * i,
            "logins": str(round(200 + 40 * math.sin(2 * math.pi * i / 7) + rng.gauss(0, 8))),
        }
        for i in range(n)
    ]


def app_usage(months: int = 48, seed: int = 2) -> list[dict]:
    """Monthly usage shaped like MLTK's app_usage.csv: _time (month starts), CRM, ERP,
    Expenses, each with a yearly season and a trend."""
    import pandas as pd

    rng = random.Random(seed)
    starts = pd.date_range("2019-01-01", periods=months, freq="MS", tz="UTC")
    rows = []
    for i, month in enumerate(starts):
        season = math.sin(2 * math.pi * i / 12)
        rows.append(
            {
                "_time": int(month.timestamp()),
                "CRM": f"{300 + 3 * i + 50 * season + rng.gauss(0, 10):.1f}",
                "ERP": f"{800 + 5 * i - 80 * season + rng.gauss(0, 20):.1f}",
                "Expenses": f"{150 + i + 20 * season + rng.gauss(0, 5):.1f}",
            }
        )
    return rows


def field_x(n: int = 60, seed: int = 3) -> list[dict]:
    """A daily series named as MLTK's docstring names it: _time, field_X."""
    rng = random.Random(seed)
    return [
        {"_time": START + DAY * i, "field_X": f"{50 + 0.2 * i + rng.gauss(0, 1):.3f}"}
        for i in range(n)
    ]


DATA = {"exchange": exchange, "logins": logins, "app_usage": app_usage, "field_x": field_x}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("forecast-stack")) as s:
        yield s


def fit_rows(stack: LocalStack, script: Path, args: list[str], events: list[dict]) -> list:
    """Run `fit ...` on the events, newest first as a search returns them."""
    cmd = splunkd(script, stack.url, stack.token)
    fields = list(events[0])
    _, replies = run_fit(cmd, args, chunks(list(reversed(events)), 50, fields))
    assert not [m for m in replies[-1].messages if m[0] == "ERROR"], replies[-1].messages
    assert cmd.close() == 0
    return replies[-1].records()


# MLTK's documented lines (the MLTK algorithm pages and the Forecast Time Series
# Assistant's searches), on data shaped like the lookups they use.
MLTK_LINES = [
    (
        "exchange",
        "fit ARIMA _time rate holdback=5 conf_interval=95 order=1-0-0 forecast_k=10 as prediction",
        ["rate"],
        10,
    ),
    (
        "logins",
        "fit ARIMA _time logins holdback=0 conf_interval=95 order=0-0-0 forecast_k=5 as AR",
        ["logins"],
        5,
    ),
    ("exchange", "fit ARIMA _time rate order=1-0-1 forecast_k=10 into rate_arima", ["rate"], 10),
    (
        "logins",
        "fit ARIMA logins order=2-1-1 holdback=7 forecast_k=7 conf_interval=80",
        ["logins"],
        7,
    ),
    (
        "app_usage",
        "fit StateSpaceForecast CRM ERP Expenses holdback=12 into SF",
        ["CRM", "ERP", "Expenses"],
        0,
    ),
    (
        "app_usage",
        "fit StateSpaceForecast CRM period=12 forecast_k=12 conf_interval=90",
        ["CRM"],
        12,
    ),
    (
        "logins",
        "fit StateSpaceForecast logins holdback=0 forecast_k=14 conf_interval=95 into logins_ssf",
        ["logins"],
        14,
    ),
    ("exchange", "fit StateSpaceForecast rate forecast_k=10 holdback=5", ["rate"], 10),
    # MLTK's own source, the docstring of its util/time_util.py (HumanTime), verbatim:
    #   ... | fit StateSpaceForecast field_X holdback=3 forecast_k=14
    # (a copy of MLTK's bin/: https://github.com/multimodal-uol/multimodal-datagen/tree/
    # 291c5e9dfc971e6335df492844f511e2c6c41f64/bin); "holdback and forecast_k specify 3 and
    # 14 events": the forecast covers the 3 held back, then 11 more rows.
    ("field_x", "fit StateSpaceForecast field_X holdback=3 forecast_k=14", ["field_X"], 14),
]


def test_fit_with_mltk_time_amounts_counts_them_in_the_series_steps(
    stack: LocalStack, script: Path
) -> None:
    # The same docstring (MLTK's util/time_util.py, HumanTime), verbatim:
    #   ... | fit StateSpaceForecast field_X holdback=3days forecast_k=2weeks
    # "The goal of HumanTime is to convert such quantities into event numbers": on daily
    # rows, 3 and 14, the line above's.
    events = field_x()
    line = ["fit", "StateSpaceForecast", "field_X"]
    amounts = fit_rows(stack, script, [*line, "holdback=3days", "forecast_k=2weeks"], events)
    rows = fit_rows(stack, script, [*line, "holdback=3", "forecast_k=14"], events)
    assert len(amounts) == len(rows) == len(events) + 11
    for a, r in zip(amounts, rows, strict=True):
        assert a == r


@pytest.mark.parametrize(("data", "line", "fields", "k"), MLTK_LINES, ids=lambda v: str(v)[:40])
def test_fit_mltk_line_answers_series_and_forecast(
    stack: LocalStack, script: Path, data: str, line: str, fields: list[str], k: int
) -> None:
    events = DATA[data]()
    rows = fit_rows(stack, script, line.split(), events)
    # MLTK counts forecast_k from the last row fitted: the held-back rows come first
    holdback = int(next((w.split("=")[1] for w in line.split() if "holdback=" in w), "0"))
    after = max(0, k - holdback)
    assert len(rows) == len(events) + after
    times = [float(r["_time"]) for r in rows]
    assert times == sorted(times) and len(set(times)) == len(times)
    ci = next((w.split("=")[1] for w in line.split() if w.startswith("conf_interval=")), "95")
    out = line.split(" as ")[1].split()[0] if " as " in line else None
    for field in fields:
        predicted = out or f"predicted({field})"
        lower, upper = f"lower{ci}({predicted})", f"upper{ci}({predicted})"
        assert {field, predicted, lower, upper} <= set(rows[0]), rows[0].keys()
        assert all(r[field] == "" for r in rows[len(events) :])  # future: no value yet
        for r in rows[len(events) - min(k, holdback) :]:  # every forecast step
            assert float(r[lower]) < float(r[predicted]) < float(r[upper])
    if after:
        step = times[-1] - times[-2]
        assert times[len(events)] - times[len(events) - 1] == pytest.approx(step)


def test_fit_arima_equals_statsmodels(stack: LocalStack, script: Path) -> None:
    from statsmodels.tsa.arima.model import ARIMA

    events = exchange()
    rows = fit_rows(
        stack,
        script,
        ["fit", "ARIMA", "_time", "rate", "order=1-1-1", "holdback=5", "forecast_k=10"],
        events,
    )
    y = np.array([float(e["rate"]) for e in events])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = ARIMA(y[:-5], order=(1, 1, 1)).fit()
    # forecast_k=10 steps after the 115 rows fitted: the 5 held back, then 5 more rows
    assert len(rows) == len(y) + 5
    direct = fitted.get_prediction(start=0, end=len(y) + 4)
    bounds = np.asarray(direct.conf_int(alpha=0.05))
    ours = np.array(
        [
            [
                float(r[f"{c}(rate)" if c == "predicted" else f"{c}95(predicted(rate))"])
                for r in rows
            ]
            for c in ("predicted", "lower", "upper")
        ]
    )
    # Splunk's CSV carries the numbers as text: equal to the digits it writes
    np.testing.assert_allclose(ours[0], direct.predicted_mean, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours[1:].T, bounds, rtol=1e-9, atol=1e-9)


@pytest.fixture(scope="module")
def rate_model(stack: LocalStack, script: Path) -> tuple[str, list]:
    rows = fit_rows(
        stack,
        script,
        ["fit", "ARIMA", "_time", "rate", "order=1-0-1", "forecast_k=10", "into", "rate_m"],
        exchange(),
    )
    return "rate_m", rows


def test_apply_forecasts_each_event_at_its_time(
    stack: LocalStack, script: Path, rate_model: tuple[str, list]
) -> None:
    name, fitted = rate_model
    # a training day, and the 3rd and 10th forecast days (MLTK: | apply <model>)
    wanted = [fitted[40], fitted[122], fitted[129]]
    events = [{"_time": r["_time"], "host": "h1"} for r in wanted]
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["apply", name])
    assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
    _, rows = cmd.send(events, finished=True)
    assert cmd.close() == 0
    for row, want in zip(rows, wanted, strict=True):
        for field in ("predicted(rate)", "lower95(predicted(rate))", "upper95(predicted(rate))"):
            assert float(row[field]) == pytest.approx(float(want[field]), rel=1e-9)


# MLTK's StateSpaceForecast.apply reads forecast_k=, holdback= and conf_interval= from the
# apply line (algos/StateSpaceForecast.py: `convert_params(..., strs=[..., 'forecast_k',
# 'holdback'], ints=['period', 'conf_interval'])`; forecast_k and holdback through
# `compute_forecast_k`/`compute_holdback`, rows or time amounts), and `_apply` runs the saved
# model over the applied events, the last `holdback` withheld, in the copy of MLTK's bin/ at
MLTK_SSF = (
    "https://github.com/multimodal-uol/multimodal-datagen/blob/"
    "291c5e9dfc971e6335df492844f511e2c6c41f64/bin/algos/StateSpaceForecast.py"
)


def _arima_direct(train: np.ndarray, series: np.ndarray, end: int, ci: float = 95) -> np.ndarray:
    """statsmodels' ARIMA(1,0,1) fitted on ``train``, its parameters run over ``series``
    (``filter``, no new estimate): mean, lower, upper for positions 0..``end``."""
    from statsmodels.tsa.arima.model import ARIMA

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params = ARIMA(train, order=(1, 0, 1)).fit().params
        prediction = ARIMA(series, order=(1, 0, 1)).filter(params).get_prediction(0, end)
    bounds = np.asarray(prediction.conf_int(alpha=1 - ci / 100))
    return np.column_stack([prediction.predicted_mean, bounds])


def _outputs(rows: list, ci: str = "95") -> np.ndarray:
    names = ("predicted(rate)", f"lower{ci}(predicted(rate))", f"upper{ci}(predicted(rate))")
    return np.array([[float(r[n]) for n in names] for r in rows])


def _by_time(rows: list) -> list:
    return sorted(rows, key=lambda r: float(r["_time"]))


def test_apply_forecast_k_2weeks_runs_the_model_over_the_new_events(
    stack: LocalStack, script: Path, rate_model: tuple[str, list]
) -> None:
    # MLTK_SSF, StateSpaceForecast.apply: | apply rate_m forecast_k=2weeks
    name, _ = rate_model  # fitted on days 0..119
    history = exchange(170)  # the same walk, 50 days further
    new = [{**e, "host": "h1"} for e in history[120:]]
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["apply", name, "forecast_k=2weeks"])
    assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
    newest_first = list(reversed(new))
    _, first = cmd.send(newest_first[:30], finished=False)
    _, last = cmd.send(newest_first[30:], finished=True)
    assert cmd.close() == 0
    # the series is scored whole at the end: the earlier chunk is answered with no rows
    assert first == [] and len(last) == 50 + 14
    assert [r["_time"] for r in last[:50]] == [str(e["_time"]) for e in newest_first]
    assert all(r["host"] == "h1" and r["rate"] for r in last[:50])
    future = last[50:]
    end = float(new[-1]["_time"])
    assert [float(r["_time"]) for r in future] == [end + DAY * i for i in range(1, 15)]
    assert all(not r.get("host") and not r.get("rate") for r in future)
    y = np.array([float(e["rate"]) for e in history])
    direct = _arima_direct(y[:120], y[120:], 50 + 13)
    ours = _outputs(_by_time(last[:50]) + future)
    np.testing.assert_allclose(ours, direct, rtol=1e-9, atol=1e-9)


def test_apply_holdback_3_forecast_k_5_withholds_the_last_events(
    stack: LocalStack, script: Path, rate_model: tuple[str, list]
) -> None:
    # MLTK_SSF, StateSpaceForecast.apply: | apply rate_m holdback=3 forecast_k=5
    name, _ = rate_model
    events = exchange()
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["apply", name, "holdback=3", "forecast_k=5"])
    assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
    _, rows = cmd.send(list(reversed(events)), finished=True)
    assert cmd.close() == 0
    # forecast_k counts from the last event run over: the 3 withheld, then 2 more rows
    assert len(rows) == 120 + 2
    y = np.array([float(e["rate"]) for e in events])
    direct = _arima_direct(y, y[:-3], 116 + 5)
    np.testing.assert_allclose(
        _outputs(_by_time(rows[:120]) + rows[120:]), direct, rtol=1e-9, atol=1e-9
    )


def test_apply_conf_interval_90_forecast_k_10_on_the_training_series_is_the_fit(
    stack: LocalStack, script: Path, rate_model: tuple[str, list]
) -> None:
    # MLTK_SSF, StateSpaceForecast.apply: | apply rate_m conf_interval=90 forecast_k=10
    name, fitted = rate_model  # the fit's answer: 120 days and 10 forecast rows
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["apply", name, "conf_interval=90", "forecast_k=10"])
    assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
    bodies = chunks(list(reversed(exchange())), 40, ["_time", "rate"])
    for i, body in enumerate(bodies):
        (reply,) = cmd.execute_all(body, finished=i == len(bodies) - 1)
    assert cmd.close() == 0
    rows = _by_time(reply.records()[:120]) + reply.records()[120:]
    assert len(rows) == len(fitted) == 130
    for row, want in zip(rows, fitted, strict=True):
        assert row["_time"] == want["_time"] or float(row["_time"]) == float(want["_time"])
        assert float(row["predicted(rate)"]) == float(want["predicted(rate)"])
    y = np.array([float(e["rate"]) for e in exchange()])
    np.testing.assert_allclose(
        _outputs(rows, "90"), _arima_direct(y, y, 129, 90), rtol=1e-9, atol=1e-9
    )


def apply_rows(stack: LocalStack, script: Path, args: list[str], events: list[dict]) -> list:
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["apply", *args])
    assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
    _, rows = cmd.send(list(reversed(events)), finished=True)
    assert cmd.close() == 0
    return rows


def fit_version(stack: LocalStack, script: Path, args: list[str], events: list[dict]):  # type: ignore[no-untyped-def]
    """The rows `fit ...` answers and the version it registered (from its INFO line)."""
    cmd = splunkd(script, stack.url, stack.token)
    _, replies = run_fit(cmd, args, chunks(list(reversed(events)), 50, list(events[0])))
    assert not [m for m in replies[-1].messages if m[0] == "ERROR"], replies[-1].messages
    assert cmd.close() == 0
    (line,) = [t for _, t in replies[-1].messages if "version=" in t]
    version = int(line.split("version=")[1].split(",")[0])
    return replies[-1].records(), version


def _ssf_params(y: np.ndarray, period: int, start: np.ndarray | None = None) -> np.ndarray:
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    from kepler.ml.forecast import unobserved_components_kwargs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = UnobservedComponents(y, **unobserved_components_kwargs(period))
        return np.asarray(model.fit(start_params=start, disp=False, return_params=True))


def summary_period(stack: LocalStack, script: Path, model: str) -> int:
    """The model's period_ as `| kepler summary <model>` shows it (MLTK's "periodicity")."""
    cmd = splunkd(script, stack.url, stack.token)
    cmd.getinfo(["summary", model])
    rows = cmd.execute(b"", finished=True).records()
    assert cmd.close() == 0
    lines = [r["StateSpaceForecast Summary"] for r in rows]
    (line,) = [text for text in lines if text.startswith("periodicity: ")]
    shown = line.split(": ")[1]
    return 0 if shown == "None" else int(shown)


def test_partial_fit_continues_state_space_forecast_from_its_params(
    stack: LocalStack, script: Path
) -> None:
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    from kepler.ml.forecast import unobserved_components_kwargs

    data = logins(150)
    y = np.array([float(e["logins"]) for e in data])
    line = ["fit", "StateSpaceForecast", "logins", "into", "logins_pf"]
    _, v1 = fit_version(stack, script, line, data[:90])
    # MLTK_SSF, StateSpaceForecast.partial_fit (MLTK's partial_fit then fit(df) with the
    # saved estimator): | fit StateSpaceForecast logins into logins_pf partial_fit=true
    rows, v2 = fit_version(stack, script, [*line, "partial_fit=true", "forecast_k=7"], data[90:])
    assert (v1, v2) == (1, 2)  # a new version; version 1 stays as it was
    assert len(rows) == 60 + 7
    assert [float(r["_time"]) for r in rows[:60]] == [e["_time"] for e in data[90:]]
    # MLTK's MasterKf detects the period at the first fit; partial_fit keeps it
    period = summary_period(stack, script, "logins_pf")
    assert period % 7 == 0  # the weekly cycle (MLTK's highest autocorrelation peak: 21)
    params = _ssf_params(y[90:], period, start=_ssf_params(y[:90], period))
    model = UnobservedComponents(y[90:], **unobserved_components_kwargs(period))
    direct = model.filter(params).get_prediction(start=0, end=66).predicted_mean
    ours = [float(r["predicted(logins)"]) for r in rows]
    np.testing.assert_allclose(ours, direct, rtol=1e-6)


def test_partial_fit_update_last_answers_the_previous_versions_forecast(
    stack: LocalStack, script: Path
) -> None:
    data = logins(140, seed=4)
    line = ["fit", "StateSpaceForecast", "logins", "into", "logins_ul"]
    fit_version(stack, script, line, data[:100])
    new = data[100:]
    before = apply_rows(stack, script, ["logins_ul", "forecast_k=5"], new)
    # MLTK_SSF, StateSpaceForecast.partial_fit's update_last ("forecast on the new data,
    # and then update the model"):
    #   | fit StateSpaceForecast logins into logins_ul partial_fit=true update_last=t
    args = [*line, "partial_fit=true", "update_last=t", "forecast_k=5"]
    rows, version = fit_version(stack, script, args, new)
    assert version == 2 and len(rows) == len(before) == 40 + 5
    for row, want in zip(rows, _by_time(before[:40]) + before[40:], strict=True):
        assert float(row["_time"]) == float(want["_time"])
        assert float(row["predicted(logins)"]) == pytest.approx(
            float(want["predicted(logins)"]), rel=1e-12
        )
    after = apply_rows(stack, script, ["logins_ul", "forecast_k=5"], new)
    moved = [
        float(a["predicted(logins)"]) != float(b["predicted(logins)"])
        for a, b in zip(after, before, strict=True)
    ]
    assert any(moved)  # the model was updated after answering


def test_apply_forecast_k_with_no_events_forecasts_after_the_trained_series(
    stack: LocalStack, script: Path, rate_model: tuple[str, list]
) -> None:
    name, fitted = rate_model  # fitted with forecast_k=10: rows 120..129 are its forecast
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["apply", name, "forecast_k=3"])
    assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
    (reply,) = cmd.execute_all(b"_time,rate\r\n", finished=True)  # a header-only chunk
    assert cmd.close() == 0
    rows = reply.records()
    assert [float(r["_time"]) for r in rows] == [float(r["_time"]) for r in fitted[120:123]]
    for row, want in zip(rows, fitted[120:123], strict=True):
        assert float(row["predicted(rate)"]) == pytest.approx(float(want["predicted(rate)"]))


def test_apply_forecaster_past_the_series_cap_is_one_error(
    stack: LocalStack, script: Path, rate_model: tuple[str, list]
) -> None:
    events = [{"_time": START + 60 * i, "rate": "1.3"} for i in range(50_001)]
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["apply", rate_model[0]])
    assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
    bodies = chunks(events, 50_000, ["_time", "rate"])
    (first,) = cmd.execute_all(bodies[0], finished=False)
    assert first.records() == [] and not first.messages
    (last,) = cmd.execute_all(bodies[1], finished=True)
    errors = [text for level, text in last.messages if level == "ERROR"]
    assert len(errors) == 1 and "at most 50,000 events" in errors[0], last.messages
    assert "timechart" in errors[0]
    cmd.close()
    assert "Traceback" not in cmd.stderr


def test_apply_forecaster_async_is_refused_before_data_moves(
    stack: LocalStack, script: Path, rate_model: tuple[str, list]
) -> None:
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["apply", rate_model[0], "async=t", "index=scores"])
    errors = [text for level, text in info.messages if level == "ERROR"]
    assert len(errors) == 1 and "runs over the whole series at once" in errors[0], errors
    cmd.close()


def test_apply_conf_interval_gives_that_interval(
    stack: LocalStack, script: Path, rate_model: tuple[str, list]
) -> None:
    from statistics import NormalDist

    name, fitted = rate_model
    events = [{"_time": r["_time"]} for r in (fitted[60], fitted[125])]
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["apply", name, "conf_interval=80", "forecast_k=2"])
    assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
    _, rows = cmd.send(events, finished=True)
    assert cmd.close() == 0
    assert len(rows) == 2 + 2
    assert not [k for k in rows[0] if "95(" in k]
    ratio = NormalDist().inv_cdf(0.9) / NormalDist().inv_cdf(0.975)
    for row, want in zip(rows, fitted[60:61] + fitted[125:126], strict=False):
        assert float(row["predicted(rate)"]) == pytest.approx(float(want["predicted(rate)"]))
        wide = float(want["upper95(predicted(rate))"]) - float(want["lower95(predicted(rate))"])
        narrow = float(row["upper80(predicted(rate))"]) - float(row["lower80(predicted(rate))"])
        assert narrow == pytest.approx(wide * ratio, rel=1e-6)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["forecast_k=3", "index=scores"], "does not go with index="),
        (["forecast_k=-1"], "forecast_k"),
        (["conf_interval=100"], "conf_interval"),
    ],
    ids=["with-index", "negative", "interval"],
)
def test_apply_forecast_options_refused_before_data_moves(
    stack: LocalStack, script: Path, rate_model: tuple[str, list], args: list[str], fragment: str
) -> None:
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["apply", rate_model[0], *args])
    errors = [text for level, text in info.messages if level == "ERROR"]
    assert len(errors) == 1 and fragment in errors[0], info.messages
    cmd.close()
    assert "Traceback" not in cmd.stderr


def test_apply_forecast_k_on_another_model_names_the_forecasters(
    stack: LocalStack, script: Path
) -> None:
    line = ["fit", "LinearRegression", "rate", "from", "_time", "into", "lr"]
    fit_rows(stack, script, line, exchange())
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["apply", "lr", "forecast_k=3"])
    errors = [text for level, text in info.messages if level == "ERROR"]
    assert len(errors) == 1 and "forecasters (StateSpaceForecast, ARIMA)" in errors[0], errors
    cmd.close()


def test_sdk_forecast_matches_the_fit(stack: LocalStack, rate_model: tuple[str, list]) -> None:
    import pandas as pd

    name, fitted = rate_model
    history = pd.DataFrame(exchange())
    history["_time"] = pd.to_datetime(history["_time"], unit="s")
    forecast = stack.client().forecast(history.iloc[::-1], name, k=10)
    assert list(forecast.columns) == [
        "_time",
        "rate",
        "predicted(rate)",
        "lower95(predicted(rate))",
        "upper95(predicted(rate))",
    ]
    assert len(forecast) == len(fitted) and forecast["_time"].is_monotonic_increasing
    assert forecast["_time"].iloc[-1] == pd.Timestamp(float(fitted[-1]["_time"]), unit="s")
    np.testing.assert_allclose(
        forecast["predicted(rate)"], [float(r["predicted(rate)"]) for r in fitted], rtol=1e-9
    )
    assert forecast["rate"].iloc[-10:].isna().all()


@pytest.mark.parametrize(
    ("args", "events", "fragment"),
    [
        (
            ["fit", "ARIMA", "_time", "rate", "order=1-0-0"],
            [{"_time": START + DAY * (i // 2), "rate": str(i)} for i in range(40)],
            "duplicated timestamps",
        ),
        (
            ["fit", "StateSpaceForecast", "rate"],
            [{"_time": START + DAY * i * (1 if i < 20 else 3), "rate": str(i)} for i in range(40)],
            "irregular",
        ),
        (
            ["fit", "ARIMA", "_time", "rate", "order=5-1-5"],
            [{"_time": START + DAY * i, "rate": str(i)} for i in range(10)],
            "needs at least 14 rows",
        ),
        (
            ["fit", "StateSpaceForecast", "rate", "period=12"],
            [{"_time": START + DAY * i, "rate": str(i)} for i in range(20)],
            "needs at least 24 rows",
        ),
        (
            ["fit", "ARIMA", "_time", "rate"],
            exchange(30),
            "needs order=<p>-<d>-<q>",
        ),
    ],
    ids=["duplicated", "irregular", "too-few-arima", "too-few-period", "no-order"],
)
def test_bad_series_is_one_error(
    stack: LocalStack, script: Path, args: list[str], events: list[dict], fragment: str
) -> None:
    cmd = splunkd(script, stack.url, stack.token)
    _, replies = run_fit(cmd, args, chunks(events, 100, list(events[0])))
    errors = [text for level, text in replies[-1].messages if level == "ERROR"]
    assert len(errors) == 1 and fragment in errors[0], replies[-1].messages
    assert cmd.close() == 1
    assert "Traceback" not in cmd.stderr


# -- MLTK's remaining StateSpaceForecast options, as MLTK_SSF reads them:
# `convert_params(..., strs=['specialdays', ...], bools=['update_last', 'output_fit',
# 'output_metadata'], ints=['period', ...])` at fit, `strs=[..., 'target', ...]` at apply,
# MasterKf's find_common_period when period= is not given; documented at
# https://aitk-portal.pages.dev/algorithms/state-space-forecast/ --------------------------

HOLIDAYS = {3, 11, 26, 30, 45, 52, 61, 70, 79, 88, 93}  # no weekly rhythm


def sales(n: int = 84, future: int = 14, seed: int = 5) -> list[dict]:
    """Daily sales lifted on special days (holiday=1, else empty), then ``future`` days
    with only _time and holiday: MLTK's way to give the special days ahead."""
    rng = random.Random(seed)
    rows = []
    for i in range(n + future):
        day = 1 if i in HOLIDAYS else 0
        value = 100 + 0.5 * i + 30 * day + rng.gauss(0, 3)
        rows.append(
            {
                "_time": START + DAY * i,
                "sales": f"{value:.3f}" if i < n else "",
                "holiday": "1" if day else "",
            }
        )
    return rows


@pytest.fixture(scope="module")
def sales_model(stack: LocalStack, script: Path) -> tuple[str, list]:
    # MLTK_SSF, StateSpaceForecast._fit with specialdays (MasterKf(target, exog=holiday)):
    #   | fit StateSpaceForecast sales specialdays=holiday forecast_k=14 into sales_m
    line = "fit StateSpaceForecast sales specialdays=holiday forecast_k=14 into sales_m"
    return "sales_m", fit_rows(stack, script, line.split(), sales())


def test_fit_specialdays_equals_statsmodels_with_exog(
    stack: LocalStack, script: Path, sales_model: tuple[str, list]
) -> None:
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    from kepler.ml.forecast import unobserved_components_kwargs

    name, rows = sales_model
    events = sales()
    y = np.array([float(e["sales"]) for e in events[:84]])
    days = np.array([1.0 if e["holiday"] else 0.0 for e in events])
    # the series ends at the last sales value; the 14 days after it are the forecast
    assert len(rows) == 84 + 14
    assert [float(r["_time"]) for r in rows] == [float(e["_time"]) for e in events]
    period = summary_period(stack, script, name)
    model = UnobservedComponents(y, exog=days[:84], **unobserved_components_kwargs(period))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = model.fit(disp=False)
    direct = fitted.get_prediction(start=0, end=84 + 13, exog=days[84:].reshape(-1, 1))
    ours = [float(r["predicted(sales)"]) for r in rows]
    np.testing.assert_allclose(ours, direct.predicted_mean, rtol=1e-9, atol=1e-9)
    bounds = np.asarray(direct.conf_int(alpha=0.05))[84:]
    lower = [float(r["lower95(predicted(sales))"]) for r in rows[84:]]
    np.testing.assert_allclose(lower, bounds[:, 0], rtol=1e-9, atol=1e-9)
    # MLTK's default (output_fit=false): no interval on the fitted rows
    assert all(r["lower95(predicted(sales))"] == "" for r in rows[:84])
    assert [float(r["holiday"]) for r in rows] == days.tolist()  # empty read as 0


def test_sdk_forecast_takes_mltks_apply_options_as_the_command_does(
    stack: LocalStack, script: Path, sales_model: tuple[str, list]
) -> None:
    import pandas as pd

    name, _ = sales_model
    events = sales(84, future=0)
    args = [name, "holdback=3", "forecast_k=7", "output_metadata=true", "specialdays=holiday"]
    rows = _by_time(apply_rows(stack, script, args, events))
    frame = pd.DataFrame(events).apply(pd.to_numeric)  # empty holiday: no special day
    got = stack.client().forecast(
        frame, name, k=7, holdback=3, output_metadata=True, specialdays="holiday"
    )
    assert len(got) == len(rows) == 84 + 4
    assert got["_forecastMetadata"].fillna("").tolist() == [r["_forecastMetadata"] for r in rows]
    assert got["_forecastMetadata"].iloc[81:84].tolist() == ["hf"] * 3
    np.testing.assert_allclose(
        got["predicted(sales)"], [float(r["predicted(sales)"]) for r in rows], rtol=1e-9
    )


def test_sdk_apply_runs_a_forecaster_over_the_whole_series_in_one_request(
    stack: LocalStack, rate_model: tuple[str, list]
) -> None:
    import pandas as pd

    from kepler._client import Client
    from kepler._settings import ClientSettings

    name, _ = rate_model
    frame = pd.DataFrame(exchange()).apply(pd.to_numeric)
    whole = stack.client().apply(frame, name)
    # pieces of about 1 KiB would cut the series into many runs of the model
    small = Client(stack.url, stack.token, settings=ClientSettings(chunk_bytes=1024))
    pieced = small.apply(frame, name)
    pd.testing.assert_frame_equal(pieced, whole)
    assert whole["predicted(rate)"].notna().all()


def test_apply_forecast_k_7_output_metadata_marks_the_forecast(
    stack: LocalStack, script: Path, sales_model: tuple[str, list]
) -> None:
    # MLTK_SSF, StateSpaceForecast.apply (add_output_metadata after _apply):
    #   | apply sales_m forecast_k=7 output_metadata=true
    name, _ = sales_model
    events = sales(84, future=0)
    rows = apply_rows(stack, script, [name, "forecast_k=7", "output_metadata=true"], events)
    assert len(rows) == 84 + 7
    assert all(r["_forecastMetadata"] == "" for r in rows[:84])
    assert [r["_forecastMetadata"] for r in rows[84:]] == ["f"] * 7
    assert all(r["predicted(sales)"] for r in rows)
    # MLTK's apply takes specialdays= too (the fitted field):
    #   | apply sales_m forecast_k=7 output_metadata=true specialdays=holiday
    args = [name, "forecast_k=7", "output_metadata=true", "specialdays=holiday"]
    assert apply_rows(stack, script, args, events) == rows
    # the special days are read from the events; without the field, MLTK's error
    cmd = splunkd(script, stack.url, stack.token)
    cmd.getinfo(["apply", name, "forecast_k=7"])
    bare = [{"_time": e["_time"], "sales": e["sales"]} for e in events]
    bodies = chunks(bare, 100, ["_time", "sales"])
    (reply,) = cmd.execute_all(bodies[0], finished=True)
    errors = [text for level, text in reply.messages if level == "ERROR"]
    assert len(errors) == 1 and "Field holiday not present" in errors[0], reply.messages
    cmd.close()
    assert "Traceback" not in cmd.stderr


def test_fit_output_fit_output_metadata_holdback_5_forecast_k_10(
    stack: LocalStack, script: Path
) -> None:
    # MLTK_SSF, StateSpaceForecast.fit (conf_start, add_output_metadata):
    #   | fit StateSpaceForecast field_X output_fit=true output_metadata=true holdback=5
    #     forecast_k=10
    events = field_x()
    line = "fit StateSpaceForecast field_X output_fit=true output_metadata=true"
    rows = fit_rows(stack, script, [*line.split(), "holdback=5", "forecast_k=10"], events)
    assert len(rows) == 60 + 5
    marks = [r["_forecastMetadata"] for r in rows]
    assert marks == [""] * 55 + ["hf"] * 5 + ["f"] * 5
    # output_fit=true: the interval on the fitted rows too
    assert all(r["lower95(predicted(field_X))"] for r in rows)
    plain = fit_rows(stack, script, ["fit", "StateSpaceForecast", "field_X", "holdback=5"], events)
    assert "_forecastMetadata" not in plain[0]
    assert [r["lower95(predicted(field_X))"] == "" for r in plain] == [True] * 55 + [False] * 5


def test_fit_forecast_k_24_detects_the_period(stack: LocalStack, script: Path) -> None:
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    from kepler.ml.forecast import unobserved_components_kwargs

    # MLTK_SSF with no period= (MasterKf: "If not, the model calculates it"):
    #   | fit StateSpaceForecast logins forecast_k=24 output_fit=true into logins_p
    events = logins(84, seed=6)
    line = "fit StateSpaceForecast logins forecast_k=24 output_fit=true into logins_p"
    rows = fit_rows(stack, script, line.split(), events)
    period = summary_period(stack, script, "logins_p")
    assert period == 7  # the weekly cycle
    y = np.array([float(e["logins"]) for e in events])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = UnobservedComponents(y, **unobserved_components_kwargs(period)).fit(disp=False)
    direct = fitted.get_prediction(start=0, end=84 + 23)
    bounds = np.asarray(direct.conf_int(alpha=0.05))
    names = ("predicted(logins)", "lower95(predicted(logins))", "upper95(predicted(logins))")
    ours = np.array([[float(r[n]) for n in names] for r in rows])
    expected = np.column_stack([direct.predicted_mean, bounds])
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-9)


def test_apply_target_forecasts_only_that_field(stack: LocalStack, script: Path) -> None:
    # MLTK_SSF, StateSpaceForecast._apply with self.target:
    #   | fit StateSpaceForecast CRM ERP period=12 into usage_t
    #   | apply usage_t target=ERP forecast_k=3
    events = app_usage()
    line = "fit StateSpaceForecast CRM ERP period=12 into usage_t"
    fit_rows(stack, script, line.split(), events)
    both = apply_rows(stack, script, ["usage_t", "forecast_k=3"], events)
    rows = apply_rows(stack, script, ["usage_t", "target=ERP", "forecast_k=3"], events)
    assert len(rows) == len(both) == 48 + 3
    assert not [k for k in rows[0] if "(CRM)" in k]
    for row, want in zip(rows, both, strict=True):
        assert row["predicted(ERP)"] == want["predicted(ERP)"]
    # a field the model does not forecast: MLTK's question, one ERROR
    cmd = splunkd(script, stack.url, stack.token)
    cmd.getinfo(["apply", "usage_t", "target=Expenses"])
    bodies = chunks(list(reversed(events)), 100, list(events[0]))
    (reply,) = cmd.execute_all(bodies[0], finished=True)
    errors = [text for level, text in reply.messages if level == "ERROR"]
    assert len(errors) == 1 and "Did you include it during |fit?" in errors[0], reply.messages
    cmd.close()
    assert "Traceback" not in cmd.stderr


def test_apply_period_is_checked_against_the_fitted_one(stack: LocalStack, script: Path) -> None:
    # MLTK_SSF, StateSpaceForecast._apply: "The period {} is different from the one
    # obtained from |fit ({})"; the same period goes through:
    #   | apply usage_p period=12 forecast_k=3
    events = app_usage()
    line = "fit StateSpaceForecast CRM period=12 into usage_p"
    fit_rows(stack, script, line.split(), events)
    plain = apply_rows(stack, script, ["usage_p", "forecast_k=3"], events)
    assert apply_rows(stack, script, ["usage_p", "period=12", "forecast_k=3"], events) == plain
    cmd = splunkd(script, stack.url, stack.token)
    cmd.getinfo(["apply", "usage_p", "period=7"])
    bodies = chunks(list(reversed(events)), 100, list(events[0]))
    (reply,) = cmd.execute_all(bodies[0], finished=True)
    errors = [text for level, text in reply.messages if level == "ERROR"]
    assert len(errors) == 1, reply.messages
    assert "The period 7 is different from the one obtained from |fit (12)" in errors[0]
    cmd.close()
    assert "Traceback" not in cmd.stderr
