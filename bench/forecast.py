"""Forecasting on a public series: Kepler's forecasters beside statsmodels called directly
and a seasonal naive forecast.

The series is the Mauna Loa CO2 record that statsmodels ships (``statsmodels.datasets.co2``,
weekly, 1958-2001), averaged by month (526 months, one missing month filled by the month
before). The last ``HORIZON`` months are held back; each method forecasts them from the
rest:

- **Kepler**: ``kp.fit`` on the embedded stack (bridge + worker) with ``holdback=24``, then
  ``kp.forecast`` of the training months with ``k=24`` from the saved version (MLTK's
  apply: the saved model run over those months, then 24 steps forecast), through the
  bridge, as a user gets them;
- **statsmodels**: the same model built and fitted directly (``UnobservedComponents`` with
  a local linear trend and a 12-month season; ``ARIMA``), ``get_forecast(24)``;
- **seasonal naive**: each held-back month is the same month of the last training year.

MAE and RMSE over the held-back months, in ppm. Kepler's numbers must equal statsmodels'
(the largest difference is reported), and both should beat the naive forecast. The series
is small: ``KEPLER_BENCH_ROWS`` does not apply. Run alone:
``KEPLER_BENCH_SECTIONS=forecast python -m bench.run``.
"""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bench.report import Section, Table

if TYPE_CHECKING:
    from bench.context import Context

HORIZON = 24
PERIOD = 12
# The models compared: (Kepler's line, the statsmodels model built directly).
MODELS = (
    ("StateSpaceForecast", f"period={PERIOD}"),
    ("ARIMA", "order=12-1-1"),  # AR terms over a year of months: the season
)


def co2_monthly() -> pd.DataFrame:
    """The CO2 record by month: ``_time`` (month starts, UTC) and ``co2``."""
    from statsmodels.datasets import co2

    weekly = co2.load_pandas().data["co2"]
    monthly = weekly.resample("MS").mean().ffill()
    return pd.DataFrame({"_time": monthly.index.tz_localize("UTC"), "co2": monthly.to_numpy()})


def direct(algorithm: str, params: str, y: np.ndarray) -> np.ndarray:
    """The forecast of ``HORIZON`` steps after ``y`` from statsmodels itself."""
    from statsmodels.tsa.arima.model import ARIMA
    from statsmodels.tsa.statespace.structural import UnobservedComponents

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if algorithm == "ARIMA":
            order = tuple(int(x) for x in params.split("=")[1].split("-"))
            fitted = ARIMA(y, order=order).fit()
        else:
            model = UnobservedComponents(y, level="local linear trend", seasonal=PERIOD)
            fitted = model.fit(disp=False)
    return np.asarray(fitted.get_forecast(HORIZON).predicted_mean, dtype=np.float64)


def seasonal_naive(y: np.ndarray) -> np.ndarray:
    return np.resize(y[-PERIOD:], HORIZON)


def errors(predicted: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    diff = predicted - truth
    return float(np.mean(np.abs(diff))), float(np.sqrt(np.mean(diff**2)))


def kepler_forecast(ctx: Context | None, algorithm: str, params: str, frame: pd.DataFrame) -> Any:
    """Fit through the stack when there is one, else the Kepler estimator in process."""
    options = {k: v for k, v in (p.split("=") for p in params.split())}
    if ctx is None:
        from kepler.core.spec import FitSpec
        from kepler.ml.training import train

        spec = FitSpec(algorithm, features=("co2",), params={**options, "holdback": HORIZON})
        trained = train(frame, spec)
        assert trained.forecast is not None
        return trained.forecast["predicted(co2)"].to_numpy()[-HORIZON:]
    client = ctx.stack().client()
    name = f"bench_{algorithm.lower()}"
    client.fit(frame, algorithm, into=name, progress=False, holdback=HORIZON, **options)
    out = client.forecast(frame.iloc[:-HORIZON], name, k=HORIZON)
    return out["predicted(co2)"].to_numpy()[-HORIZON:]


def run(ctx: Context | None) -> Section:
    frame = co2_monthly()
    y = frame["co2"].to_numpy()
    train_y, truth = y[:-HORIZON], y[-HORIZON:]
    section = Section("Forecasting: CO2 at Mauna Loa")
    table = Table(
        [
            "method",
            "MAE (ppm)",
            "RMSE (ppm)",
            "fit + forecast",
            "Kepler - statsmodels (largest gap)",
        ],
        caption=f"The last {HORIZON} of {len(y)} months forecast from the rest",
    )
    naive_mae, naive_rmse = errors(seasonal_naive(train_y), truth)
    table.add(
        "seasonal naive (same month last year)", f"{naive_mae:.3f}", f"{naive_rmse:.3f}", "", ""
    )
    verdicts = []
    if ctx is not None:
        ctx.stack()  # started before the clocks run: its start is no model's time
    for algorithm, params in MODELS:
        t0 = time.perf_counter()
        theirs = direct(algorithm, params, train_y)
        t_direct = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = kepler_forecast(ctx, algorithm, params, frame)
        t_ours = time.perf_counter() - t0
        gap = float(np.max(np.abs(ours - theirs)))
        for who, values, took in (("Kepler", ours, t_ours), ("statsmodels", theirs, t_direct)):
            mae, rmse = errors(values, truth)
            table.add(
                f"{who} {algorithm} {params}",
                f"{mae:.3f}",
                f"{rmse:.3f}",
                f"{took:.2f} s",
                f"{gap:.1e}" if who == "Kepler" else "",
            )
        mae, _ = errors(ours, truth)
        verdicts.append(
            f"{algorithm}: Kepler {'equals' if gap < 1e-6 else 'DIFFERS FROM'} statsmodels "
            f"(largest gap {gap:.1e} ppm) and is {'better' if mae < naive_mae else 'NOT better'} "
            f"than the seasonal naive forecast ({mae:.3f} vs {naive_mae:.3f} ppm MAE)."
        )
        if ctx is not None:
            ctx.log(verdicts[-1])
    section.text(__doc__.split("\n\n", 1)[1].rsplit("Run alone", 1)[0])
    section.table(table)
    section.text(
        " ".join(verdicts) + " Kepler's time is a fit job and a forecast through the bridge "
        "(queueing, registering the version, loading it); statsmodels' is the fit alone."
    )
    return section


if __name__ == "__main__":
    print(run(None).markdown())
