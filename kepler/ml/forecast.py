"""MLTK's forecasters, ``StateSpaceForecast`` and ``ARIMA``, on statsmodels' state-space models.

The estimator sees the raw fields (``kepler_raw_features``): ``_time`` when the data has it,
and the field(s) to forecast. :meth:`_Forecaster.fit` sorts the rows by ``_time``, checks
that they form one regular series (no duplicated timestamps, no gaps of more than half a
step, enough rows for the model), holds the last ``holdback`` rows out and fits statsmodels
on the rest:

* ``StateSpaceForecast``: :class:`statsmodels.tsa.statespace.structural.UnobservedComponents`
  with a local linear trend, plus a seasonal component of ``period`` steps; one model per
  field (MLTK forecasts several fields in one line). Without ``period`` the period is
  detected as MLTK's MasterKf does (:func:`find_common_period`, a port of its
  ``find_period``), 0 or 1 meaning no season; the model keeps it as ``period_`` (summary:
  ``periodicity: <p>``) for apply and partial_fit. ``specialdays=<field>`` adds that 0/1
  field as statsmodels' ``exog`` (one coefficient): the series ends at the last row where
  a forecast field has a value (MLTK's ``_compute_effective_length``), the rows after it
  give the future special days, 0 past them (with MLTK's warning at fit).
* ``ARIMA``: :class:`statsmodels.tsa.arima.model.ARIMA` with ``order=p-d-q`` (one field;
  statsmodels' default trend: a constant when ``d`` is 0).

The fitted state is the training series and the maximum-likelihood parameters; predictions
run statsmodels' Kalman filter with those parameters again, which gives exactly what the
fitted statsmodels results give (``get_prediction``): one-step-ahead predictions over the
training rows, then forecasts from the end of training for ``forecast_k`` steps, with
``conf_interval`` % intervals (StateSpaceForecast, as MLTK's ``conf_start``: only from the
first held-back or forecast row on, unless ``output_fit``). As in MLTK (its
StateSpaceForecast and ARIMA count ``forecast_k`` from the last row fitted), the held-back
rows are the first of those steps:
``forecast_k - holdback`` rows come after the series. Both may be MLTK's time amounts
(``holdback=3days forecast_k=2weeks``), counted in whole steps of the series. Outputs are
MLTK's: ``predicted(<f>)``, ``lower<ci>(predicted(<f>))``, ``upper<ci>(predicted(<f>))``,
and with ``output_metadata`` MLTK's ``_forecastMetadata`` (:func:`forecast_metadata`: ``h``
held back, ``f`` forecast, ``hf`` both).

``apply`` on a saved forecaster runs it over the applied events, as MLTK's apply does,
when they carry the model's field(s) with numbers (:meth:`_Forecaster.apply_series`):
they are sorted by ``_time`` and must form one regular series at the model's step; the
last ``holdback`` rows (apply's own, 0 by default) are withheld, the fitted parameters
filter the rest (statsmodels' ``filter``, not a new estimate: the same code path as the
fit's predictions, so applying to the training series gives the fit's outputs), and
``forecast_k`` steps are forecast from the last row filtered. Every event gets an output
(one-step-ahead predictions over the filtered rows, forecasts over the held-back ones:
MLTK outputs only the latter; Kepler fills the interval on every event whatever
``output_fit``, its documented superset), in the events' own order, and the ``forecast_k -
holdback`` rows after the last event follow them. Apply's ``target=<f>[,<f>]`` (MLTK's)
forecasts only those fields: Kepler's models are one per field, so the others are not
inputs to them (MLTK's multivariate model reads them) and get no outputs.

Kepler's extension: events with only ``_time`` (the fields absent or empty) read the
*trained* forecast at their times: an event at a training timestamp gets that step's
prediction, a later one the forecast at its distance (in steps) from the series' end;
events before the series' start get empty outputs, and ``forecast_k`` rows follow the
later of the series' end and the last event.

``partial_fit=true`` (StateSpaceForecast, as in MLTK) fits the new events as a series,
the optimiser starting from the previous version's parameters (:meth:`StateSpaceForecast.
partial_fit`); with ``update_last=t`` the rows the fit answers are the previous version's
forecasts over the new events, made before the update (MLTK's order).
"""

from __future__ import annotations

import re
import warnings
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from kepler.core.errors import BadParameter, DataError, require
from kepler.core.params import duration_seconds

TIME = "_time"
MAX_SERIES_ROWS = 50_000  # statsmodels' likelihood fit is sequential: bound what a fit costs
MAX_FORECAST_K = 10_000
MAX_PERIOD = 1_000
MAX_ARIMA_ORDER = 24  # p and q (two seasons of monthly data); d at most MAX_DIFFERENCING
MAX_DIFFERENCING = 2
# statsmodels' seasonal state has ``period`` entries, so a likelihood pass costs about
# period² × rows: a detected period past this (a random walk's 980 rows on 50,000) is
# dropped with a warning rather than fitted for hours (period= still fits it).
MAX_DETECTED_SEASON_COST = 300_000_000
# MLTK's StateSpaceForecast: the output_metadata field, and its warning when the
# specialdays field has fewer future values than the forecast needs.
METADATA_FIELD = "_forecastMetadata"
SUMMARY_FIELD = "StateSpaceForecast Summary"  # MLTK's summary column
SPECIAL_DAYS_SHORT = (
    "specialdays field does not have enough values to forecast. Will append 0 for extra values."
)
# A step between two rows may differ from the series' median step by this share at most
# (months run 28 to 31 days); more is a gap or a duplicate the series cannot hold.
STEP_TOLERANCE = 0.5


class _Forecaster(BaseEstimator):
    """What both forecasters share: the series, its checks, predictions and outputs."""

    kepler_raw_features: ClassVar[bool] = True
    kepler_forecaster: ClassVar[bool] = True
    algorithm: ClassVar[str] = ""
    single_field: ClassVar[bool] = False

    forecast_k: int | str  # rows, or an MLTK time amount (2weeks)
    conf_interval: float
    holdback: int | str

    # -- fitting -----------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> _Forecaster:
        return self._fit_series(X, None)

    def _fit_series(self, X: Any, start: list[np.ndarray] | None) -> _Forecaster:
        """Fit on ``X``'s series; ``start``: each field's starting parameters for the
        optimiser (a partial fit's previous version), else statsmodels' own."""
        require("statsmodels", "forecast")
        self._check_params()
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        names = [str(c) for c in frame.columns]
        special = self._special_field()
        if special is not None and special not in names:
            raise DataError(
                f"Field {special} not present: specialdays={special} names the events' 0/1 "
                "field of special days; check the name, or that the search extracts it",
                detail={"field": special},
            )
        fields = [n for n in names if n not in (TIME, special)]
        if not fields:
            raise DataError(f"{self.algorithm} needs a numeric field to forecast besides _time")
        if self.single_field and len(fields) != 1:
            raise DataError(
                f"{self.algorithm} forecasts one field (got {len(fields)}: {', '.join(fields)});"
                " fit one model per field, or use StateSpaceForecast for several"
            )
        values = np.column_stack([_numeric(frame.iloc[:, names.index(f)], f) for f in fields])
        exog = None if special is None else _special_days(frame[special], special)
        times: np.ndarray | None = None
        if TIME in names:
            times = _seconds(frame.iloc[:, names.index(TIME)])
            order = np.argsort(times, kind="stable")
            times, values = times[order], values[order]
            exog = None if exog is None else exog[order]
            self.time_step_ = _check_regular(times)
        else:
            self.time_step_ = 1.0
        if exog is not None:
            # MLTK's _compute_effective_length: the series ends at the last row where a
            # field has a value; the rows after it carry the future special days.
            end = _effective_length(values)
            values = values[:end]
            times = None if times is None else times[:end]
        self.exog_ = exog
        self.times_ = times
        self.holdback_ = self._steps(self.holdback, "holdback")
        self.forecast_k_ = self._steps(self.forecast_k, "forecast_k")
        n = len(values)
        if n > MAX_SERIES_ROWS:
            raise DataError(
                f"{self.algorithm} fits at most {MAX_SERIES_ROWS:,} rows (got {n:,}); "
                "aggregate first, e.g. `| timechart span=1h avg(<field>)`"
            )
        if self.holdback_ >= n:
            raise BadParameter(
                f"holdback={self.holdback} leaves no rows to fit on (the series has {n})",
                detail={"parameter": "holdback"},
            )
        n_train = n - self.holdback_
        for j, f in enumerate(fields):
            if np.isnan(values[:n_train, j]).all():
                raise DataError(f"field {f!r} has no numeric values to forecast")
        if start is None:
            self._set_period(values[:n_train])
        need = self._min_rows()
        if n_train < need:
            raise DataError(
                f"{self._named()} needs at least {need} rows to fit on; "
                f"got {n_train}" + (f" after holdback={self.holdback}" if self.holdback_ else "")
            )
        if exog is not None and len(exog) < n_train + self.forecast_k_:
            warnings.warn(SPECIAL_DAYS_SHORT, UserWarning, stacklevel=2)
        self.fields_ = fields
        self.values_ = values
        self.n_train_ = n_train
        self.params_ = [
            self._fit_one(
                values[:n_train, j],
                None if start is None else start[j],
                self._exog_until(n_train - 1),
            )
            for j in range(len(fields))
        ]
        self.feature_names_in_ = np.asarray(names, dtype=object)
        self.n_features_in_ = len(names)
        return self

    def _fit_one(
        self, y: np.ndarray, start: np.ndarray | None = None, exog: np.ndarray | None = None
    ) -> np.ndarray:
        # return_params: the optimiser's parameters, without the smoothing and covariance
        # passes that fit() adds for its results object (predictions re-filter anyway).
        kwargs = self._fit_kwargs()
        if start is not None:
            kwargs["start_params"] = start
        params = self._model(y, exog).fit(**kwargs, return_params=True)
        return np.asarray(params, dtype=np.float64)

    def _special_field(self) -> str | None:
        # a model saved before specialdays= was read has none
        return getattr(self, "specialdays", None) or None

    def _set_period(self, values: np.ndarray) -> None:
        """What subclasses with a seasonal period learn before fitting (``period_``)."""

    def _exog_until(self, end: int) -> np.ndarray | None:
        """The fitted special days for positions 0..``end`` of the series (0 past those
        the events gave: MLTK pads them so, with a warning at fit), or None."""
        exog = getattr(self, "exog_", None)
        return None if exog is None else _padded(exog, end + 1)

    def _steps(self, value: Any, name: str) -> int:
        """``holdback``/``forecast_k`` in rows: a number as it is, an MLTK time amount
        (``3days``, ``2weeks``) as the whole steps of the series it spans (a 5% slack
        absorbs months of 28 to 31 days against 30)."""
        seconds = duration_seconds(value)
        if seconds is None:
            steps = int(value)
            if steps < 0:
                raise BadParameter(
                    f"{name} must be 0 or more rows (or a time amount such as 3days); got {value}",
                    detail={"parameter": name},
                )
        elif self.times_ is None:
            raise BadParameter(
                f"{name}={value} is a time amount, but the series has no _time to count it "
                f"in: give {name} in rows",
                detail={"parameter": name},
            )
        else:
            steps = int(np.floor(seconds / self.time_step_ + 0.05))
        if name == "forecast_k" and steps > MAX_FORECAST_K:
            raise BadParameter(
                f"forecast_k={value} is {steps:,} steps of this series; at most {MAX_FORECAST_K:,}",
                detail={"parameter": name},
            )
        return steps

    def _holdback(self) -> int:
        # a model saved before time amounts were read has only its holdback in rows
        return int(getattr(self, "holdback_", self.holdback))

    def _check_params(self) -> None:
        if not 0 < float(self.conf_interval) < 100:
            raise BadParameter(
                f"conf_interval must be between 0 and 100 (a percentage); got {self.conf_interval}",
                detail={"parameter": "conf_interval"},
            )

    # -- what subclasses say ------------------------------------------------------------

    def _model(self, y: np.ndarray, exog: np.ndarray | None = None) -> Any:
        raise NotImplementedError

    def _fit_kwargs(self) -> dict[str, Any]:
        return {}

    def _min_rows(self) -> int:
        raise NotImplementedError

    def _describe(self) -> str:
        return ""

    def _named(self) -> str:
        described = self._describe()
        return f"{self.algorithm} {described}" if described else self.algorithm

    # -- predictions --------------------------------------------------------------------

    def output_fields(
        self, conf_interval: float | None = None, fields: list[str] | None = None
    ) -> list[str]:
        """MLTK's names: ``predicted(<f>)``, ``lower<ci>(...)``, ``upper<ci>(...)`` per field
        (``conf_interval``: another interval than the fitted one, as apply may ask;
        ``fields``: those fields only, apply's ``target=``)."""
        ci = self._ci(conf_interval)
        return [n for f in (fields or self.fields_) for n in output_names(f, ci)]

    def _ci(self, conf_interval: float | None) -> float:
        return float(self.conf_interval if conf_interval is None else conf_interval)

    def _predictions(self, j: int, end: int, conf_interval: float | None = None) -> np.ndarray:
        """Field ``j``'s (mean, lower, upper) for positions 0..``end`` of the series, as rows."""
        y = self.values_[: self.n_train_, j]
        return self._filtered(y, j, end, conf_interval, self._exog_until(max(end, len(y) - 1)))

    def _filtered(
        self,
        y: np.ndarray,
        j: int,
        end: int,
        conf_interval: float | None = None,
        exog: np.ndarray | None = None,
    ) -> np.ndarray:
        """Field ``j``'s fitted parameters run over ``y`` (the Kalman filter, no new
        estimate): (mean, lower, upper) for positions 0..``end``, forecasts past ``y``;
        ``exog``: the special days over positions 0..``end`` at least."""
        ci = float(self.conf_interval if conf_interval is None else conf_interval)
        from statsmodels.tools.sm_exceptions import ValueWarning

        n = len(y)
        future = None if exog is None or end < n else exog[n : end + 1].reshape(-1, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ValueWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            model = self._model(y, None if exog is None else exog[:n])
            prediction = model.filter(self.params_[j]).get_prediction(start=0, end=end, exog=future)
            mean = np.asarray(prediction.predicted_mean, dtype=np.float64)
            bounds = np.asarray(prediction.conf_int(alpha=1 - ci / 100), dtype=np.float64)
        return np.column_stack([mean, bounds[:, 0], bounds[:, 1]])

    def _at(self, positions: np.ndarray, conf_interval: float | None = None) -> np.ndarray:
        """The outputs (one column per output field) at integer ``positions`` of the series;
        negative positions (before its start) get NaN."""
        out = np.full((len(positions), 3 * len(self.fields_)), np.nan)
        valid = positions >= 0
        if not valid.any():
            return out
        end = int(positions[valid].max())
        if end - (self.n_train_ - 1) > MAX_FORECAST_K + self._holdback():
            raise DataError(
                f"these events lie {end - len(self.values_) + 1:,} steps after the series' end;"
                f" a forecast reaches {MAX_FORECAST_K:,} steps at most: fit on recent data"
            )
        for j in range(len(self.fields_)):
            predictions = self._predictions(j, end, conf_interval)
            out[valid, 3 * j : 3 * j + 3] = predictions[positions[valid]]
        return out

    def forecast(self, forecast_k: int | None = None) -> pd.DataFrame:
        """The fitted series and the forecast after it: ``_time`` (when the series has it),
        the field(s), then the output fields. ``forecast_k`` (the fitted value by default)
        counts steps from the last row fitted, as MLTK's StateSpaceForecast and ARIMA do:
        the ``holdback`` rows are the first of them, so ``forecast_k - holdback`` rows
        come after the series (none when ``forecast_k`` is at most ``holdback``)."""
        check_is_fitted(self, "params_")
        if forecast_k is None:
            k = int(getattr(self, "forecast_k_", self.forecast_k))
        else:
            k = int(forecast_k)
        if not 0 <= k <= MAX_FORECAST_K:
            raise BadParameter(
                f"forecast_k must be between 0 and {MAX_FORECAST_K:,}; got {k}",
                detail={"parameter": "forecast_k"},
            )
        steps = k
        k = max(0, k - self._holdback())
        n = len(self.values_)
        columns: dict[str, Any] = {}
        if self.times_ is not None:
            future = self.times_[-1] + self.time_step_ * np.arange(1, k + 1)
            columns[TIME] = np.concatenate([self.times_, future])
        for j, f in enumerate(self.fields_):
            columns[f] = np.concatenate([self.values_[:, j], np.full(k, np.nan)])
        special = self._special_field()
        if special is not None:
            columns[special] = self._exog_until(n + k - 1)
        outputs = self._at(np.arange(n + k))
        if not getattr(self, "output_fit", True):
            # MLTK's conf_start: the interval from the first held-back or forecast row on
            outputs[: self.n_train_, 1::3] = np.nan
            outputs[: self.n_train_, 2::3] = np.nan
        for i, name in enumerate(self.output_fields()):
            columns[name] = outputs[:, i]
        if getattr(self, "output_metadata", False):
            columns[METADATA_FIELD] = forecast_metadata(
                n + k, self.n_train_, n - self.n_train_, steps
            )
        return pd.DataFrame(columns)

    def predict_events(self, X: Any, conf_interval: float | None = None) -> pd.DataFrame:
        """The output fields for each of ``X``'s rows, by its ``_time`` (see the module
        docstring); without ``_time`` in the model, rows are the series from its start."""
        _check_conf_interval(conf_interval)
        check_is_fitted(self, "params_")
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        if self.times_ is None:
            positions = np.arange(len(frame))
        else:
            if TIME not in frame.columns:
                raise DataError(f"{self.algorithm} forecasts by _time: the events need _time")
            positions = self._positions(_seconds(frame[TIME], allow_missing=True))
        return pd.DataFrame(
            self._at(positions, conf_interval),
            columns=self.output_fields(conf_interval),
            index=frame.index,
        )

    def event_metadata(self, X: Any) -> np.ndarray:
        """``_forecastMetadata`` for events that read the trained forecast
        (:meth:`predict_events`): ``hf`` at the fit's held-back rows, ``f`` after the
        series' end, empty elsewhere."""
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        if self.times_ is None:
            positions = np.arange(len(frame))
        else:
            positions = self._positions(_seconds(frame[TIME], allow_missing=True))
        marks = np.full(len(frame), None, dtype=object)
        marks[(positions >= self.n_train_) & (positions < len(self.values_))] = "hf"
        marks[positions >= len(self.values_)] = "f"
        return marks

    def event_seconds(self, X: Any) -> np.ndarray:
        """The events' ``_time`` as epoch seconds (NaN where missing)."""
        return _seconds(pd.DataFrame(X)[TIME], allow_missing=True)

    def future(
        self, X: Any, forecast_k: int | str, conf_interval: float | None = None
    ) -> pd.DataFrame:
        """``forecast_k`` rows (or a time amount, in the series' steps) after the later of
        the series' end and ``X``'s last event: ``_time`` (when the model has it) and the
        output fields."""
        check_is_fitted(self, "params_")
        _check_conf_interval(conf_interval)
        k = self._steps(forecast_k, "forecast_k")
        n = len(self.values_)
        columns: dict[str, Any] = {}
        if self.times_ is None:
            last = max(n, len(X)) - 1
        else:
            seen = self.event_seconds(X) if len(X) else np.array([np.nan])
            latest = np.nanmax(np.append(seen, self.times_[-1]))
            last = int(self._positions(np.array([latest]))[0])
            start = self.times_[-1] + (last - n + 1) * self.time_step_
            columns[TIME] = start + self.time_step_ * np.arange(1, k + 1)
        outputs = self._at(np.arange(last + 1, last + 1 + k), conf_interval)
        for i, name in enumerate(self.output_fields(conf_interval)):
            columns[name] = outputs[:, i]
        return pd.DataFrame(columns)

    def _positions(self, seconds: np.ndarray) -> np.ndarray:
        """Series positions of timestamps: a training timestamp's own row (the nearest one
        between rows), after the end whole steps from the last row; -1 before the start
        or where the time is missing."""
        times = self.times_
        assert times is not None
        out = np.full(len(seconds), -1, dtype=np.int64)
        known = ~np.isnan(seconds) & (seconds >= times[0] - self.time_step_ / 2)
        inside = known & (seconds <= times[-1])
        right = np.clip(np.searchsorted(times, seconds[inside]), 1, len(times) - 1)
        nearer_left = seconds[inside] - times[right - 1] < times[right] - seconds[inside]
        out[inside] = np.where(nearer_left, right - 1, right)
        after = known & (seconds > times[-1])
        steps = np.rint((seconds[after] - times[-1]) / self.time_step_).astype(np.int64)
        out[after] = len(times) - 1 + steps
        return out

    # -- apply on the events' own series (MLTK's apply) --------------------------------

    def carries_series(self, X: Any, fields: list[str] | None = None) -> bool:
        """Whether the events carry numbers in one of the model's fields (of ``fields``,
        apply's ``target=``, when given): apply then runs the model over them
        (:meth:`apply_series`); with only ``_time`` it reads the trained forecast
        (:meth:`predict_events`)."""
        check_is_fitted(self, "params_")
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        return any(
            f in frame.columns and not np.isnan(_numeric(frame[f], f)).all()
            for f in (fields or self.fields_)
        )

    def targets(self, target: str | None) -> list[str]:
        """Apply's ``target=<f>[,<f>]`` (MLTK's): the fitted fields to forecast, in the
        model's order; every field without it."""
        if target is None or not str(target).strip():
            return list(self.fields_)
        wanted = [t for t in re.split(r"[,\s]+", str(target).strip()) if t]
        for t in wanted:
            if t not in self.fields_:
                raise BadParameter(
                    f"target={target}: field {t} is not one the model forecasts "
                    f"({', '.join(self.fields_)}). Did you include it during |fit?",
                    detail={"parameter": "target", "field": t},
                )
        return [f for f in self.fields_ if f in wanted]

    def apply_series(
        self,
        X: Any,
        *,
        holdback: int | str = 0,
        forecast_k: int | str = 0,
        conf_interval: float | None = None,
        fields: list[str] | None = None,
        metadata: bool = False,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """MLTK's apply: the events are the series (sorted by ``_time``, at the model's
        step); the fitted parameters filter all but the last ``holdback`` rows, and
        ``forecast_k`` steps are forecast from the last row filtered. Returns the outputs
        for the events (their order and index) and the rows after the last event
        (``_time`` when the model has it, then the outputs). ``fields``: those of the
        model's fields to forecast (apply's ``target=``); ``metadata``: MLTK's
        ``_forecastMetadata`` after the outputs. A model fitted with ``specialdays``
        reads that field from the events: the series ends at the last event with a value
        (MLTK's effective end), later events give the future special days (0 past them)."""
        check_is_fitted(self, "params_")
        _check_conf_interval(conf_interval)
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        chosen = list(fields or self.fields_)
        index = [self.fields_.index(f) for f in chosen]
        n = len(frame)
        if n > MAX_SERIES_ROWS:
            raise DataError(
                f"{self.algorithm} runs over at most {MAX_SERIES_ROWS:,} rows (got {n:,}); "
                "aggregate first, e.g. `| timechart span=1h avg(<field>)`"
            )
        missing = np.full(n, np.nan)
        values = np.column_stack(
            [_numeric(frame[f], f) if f in frame.columns else missing for f in chosen]
        )
        special = self._special_field()
        exog = None
        if special is not None:
            if special not in frame.columns:
                raise DataError(
                    f"Field {special} not present: the model was fitted with "
                    f"specialdays={special}, and its apply reads it from the events",
                    detail={"field": special},
                )
            exog = _special_days(frame[special], special)
        order = np.arange(n)
        times: np.ndarray | None = None
        if self.times_ is not None:
            if TIME not in frame.columns:
                raise DataError(
                    f"{self.algorithm} was fitted over _time: the events need _time to form "
                    "their series"
                )
            times = _seconds(frame[TIME])
            order = np.argsort(times, kind="stable")
            times, values = times[order], values[order]
            exog = None if exog is None else exog[order]
            self._check_step(times)
        length = n if exog is None else _effective_length(values)
        h = self._steps(holdback, "holdback")
        k = self._steps(forecast_k, "forecast_k")
        if h >= length:
            raise BadParameter(
                f"holdback={holdback} withholds every event (there are {length}): withhold "
                "fewer rows, or apply to a longer series",
                detail={"parameter": "holdback"},
            )
        n_run = length - h
        need = self._min_rows()
        if n_run < need:
            raise DataError(
                f"{self._named()} needs at least {need} rows of the series "
                f"to run over; the events give {n_run}"
                + (f" after holdback={holdback}" if h else "")
                + ": apply it to a longer stretch of the series"
            )
        for j, f in enumerate(chosen):
            if np.isnan(values[:n_run, j]).all():
                raise DataError(
                    f"field {f!r} has no numeric values in these events: the model forecasts "
                    f"{', '.join(chosen)}, each needs values"
                )
        end = max(n - 1, n_run - 1 + k)
        after = end - (n - 1)
        ci = conf_interval
        run_exog = None if exog is None else _padded(exog, end + 1)
        out = np.empty((n, 3 * len(chosen)))
        ahead = np.empty((after, 3 * len(chosen)))
        for i, j in enumerate(index):
            predictions = self._filtered(values[:n_run, i], j, end, ci, run_exog)
            out[order, 3 * i : 3 * i + 3] = predictions[:n]
            ahead[:, 3 * i : 3 * i + 3] = predictions[n:]
        names = self.output_fields(ci, chosen)
        events = pd.DataFrame(out, columns=names, index=frame.index)
        columns: dict[str, Any] = {}
        if times is not None:
            columns[TIME] = times[-1] + self.time_step_ * np.arange(1, after + 1)
        for i, name in enumerate(names):
            columns[name] = ahead[:, i]
        rows = pd.DataFrame(columns)
        if metadata:
            marks = forecast_metadata(n + after, n_run, h, k)
            events[METADATA_FIELD] = pd.Series(marks[:n][np.argsort(order)], index=frame.index)
            rows[METADATA_FIELD] = marks[n:]
        return events, rows

    def forecast_over(
        self, X: Any, *, holdback: int | str = 0, forecast_k: int | str = 0
    ) -> pd.DataFrame:
        """:meth:`forecast`'s rows for ``X``'s series instead of the fitted one: ``_time``
        (when the model has it), the field(s) and the outputs, sorted by ``_time``, then
        the rows after the last event (what a partial fit with ``update_last`` answers)."""
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        events, future = self.apply_series(frame, holdback=holdback, forecast_k=forecast_k)
        columns: dict[str, Any] = {}
        if self.times_ is not None:
            columns[TIME] = _seconds(frame[TIME])
        for f in self.fields_:
            columns[f] = _numeric(frame[f], f) if f in frame.columns else np.nan
        series = pd.DataFrame(columns, index=frame.index).join(events)
        if self.times_ is not None:
            series = series.sort_values(TIME, kind="stable")
        return pd.concat([series.reset_index(drop=True), future], ignore_index=True)

    def _check_step(self, times: np.ndarray) -> None:
        """The events form one regular series at the model's step."""
        step = _check_regular(times)
        if len(times) >= 2 and abs(step - self.time_step_) > STEP_TOLERANCE * self.time_step_:
            raise DataError(
                f"the events step by {_span(step)}, the model's series by "
                f"{_span(self.time_step_)}: apply it to events at its step "
                f"(`| timechart span={_span(self.time_step_)} ...`), or fit a model on this step"
            )

    def forecast_metrics(self) -> dict[str, float]:
        """MAE and RMSE of the held-back rows' forecasts (``holdback`` > 0), else of the
        one-step-ahead predictions over the training rows after the first; one pair per
        field, named ``mae_<f>`` when there are several."""
        check_is_fitted(self, "params_")
        n = len(self.values_)
        start = self.n_train_ if self._holdback() else 1
        out: dict[str, float] = {}
        for j, f in enumerate(self.fields_):
            predicted = self._predictions(j, n - 1)[start:, 0]
            err = predicted - self.values_[start:, j]
            err = err[np.isfinite(err)]
            if len(err) == 0:
                continue
            # MLflow's metric names allow letters, digits and _-. / only
            suffix = "_" + re.sub(r"[^A-Za-z0-9_.\-/ ]", "_", f) if len(self.fields_) > 1 else ""
            out[f"mae{suffix}"] = float(np.mean(np.abs(err)))
            out[f"rmse{suffix}"] = float(np.sqrt(np.mean(err**2)))
        return out


class StateSpaceForecast(_Forecaster):
    """MLTK's StateSpaceForecast: a local linear trend (and ``period``-step seasonality)
    state-space model per field, statsmodels' UnobservedComponents."""

    algorithm = "StateSpaceForecast"

    def __init__(
        self,
        forecast_k: int | str = 0,
        conf_interval: float = 95,
        holdback: int | str = 0,
        period: int | None = None,
        update_last: bool = False,
        output_fit: bool = False,
        output_metadata: bool = False,
        specialdays: str | None = None,
    ) -> None:
        self.forecast_k = forecast_k
        self.conf_interval = conf_interval
        self.holdback = holdback
        self.period = period
        self.update_last = update_last  # partial_fit's (kepler.ml.partial): rows before update
        self.output_fit = output_fit
        self.output_metadata = output_metadata
        self.specialdays = specialdays

    def kepler_inputs(self, features: list[str]) -> list[str]:
        """The fields read besides those listed: ``specialdays``' field."""
        special = self._special_field()
        return features if special is None or special in features else [*features, special]

    def kepler_summary(self, names: list[str]) -> list[dict[str, Any]]:
        """MLTK's summary rows: the fields, the special-days field, the periodicity."""
        check_is_fitted(self, "params_")
        period = self._period()
        key, feature = SUMMARY_FIELD, ",".join(self.fields_)
        return [
            {"feature": feature, key: f"time series used for training: {self.fields_}"},
            {"feature": feature, key: f"specialdays field: {self._special_field()}"},
            {"feature": feature, key: f"periodicity: {period if period else 'None'}"},
        ]

    def partial_fit(self, X: Any, y: Any = None) -> StateSpaceForecast:
        """MLTK's partial_fit: ``X`` is the new series, fitted with the optimiser starting
        from this fit's parameters (statsmodels' ``start_params``), so a short new
        stretch refines the previous estimate rather than starting over (with the
        fitted ``period_``, detected or given)."""
        check_is_fitted(self, "params_")
        self.period_ = self._period()
        start = [np.array(p, copy=True) for p in self.params_]
        self._fit_series(X, start)
        return self

    def _set_period(self, values: np.ndarray) -> None:
        # MLTK's MasterKf: the period given, else the one find_common_period detects
        # (0 or 1: no seasonality)
        if self.period is not None and str(self.period).strip() != "":
            self.period_ = int(self.period)
            return
        detected = find_common_period(values)
        too_long = detected > MAX_PERIOD or 2 * detected > len(values)
        if too_long or detected**2 * len(values) > MAX_DETECTED_SEASON_COST:
            warnings.warn(
                f"the detected period ({detected} rows) is too long for a seasonal model "
                f"of this series ({len(values):,} rows): fitted without seasonality; give "
                "period=<rows> to fit one anyway, or aggregate to a coarser step",
                UserWarning,
                stacklevel=2,
            )
            detected = 0
        self.period_ = int(detected)

    def _period(self) -> int:
        # a model saved before periods were detected has only its given one
        period = getattr(self, "period_", self.period)
        return int(period) if period else 0

    def _model(self, y: np.ndarray, exog: np.ndarray | None = None) -> Any:
        from statsmodels.tsa.statespace.structural import UnobservedComponents

        return UnobservedComponents(y, exog=exog, **unobserved_components_kwargs(self._period()))

    def _fit_kwargs(self) -> dict[str, Any]:
        return {"disp": False}

    def _min_rows(self) -> int:
        period = self._period()
        return max(2 * period, 5) if period > 1 else 5

    def _describe(self) -> str:
        period = self._period()
        return f"with period={period}" if period > 1 else ""


class ARIMA(_Forecaster):
    """MLTK's ARIMA with ``order=p-d-q``: statsmodels' ARIMA on one field."""

    algorithm = "ARIMA"
    single_field = True

    def __init__(
        self,
        order: str | None = None,
        forecast_k: int | str = 0,
        conf_interval: float = 95,
        holdback: int | str = 0,
    ) -> None:
        self.order = order
        self.forecast_k = forecast_k
        self.conf_interval = conf_interval
        self.holdback = holdback

    def _check_params(self) -> None:
        super()._check_params()
        parse_order(self.order)

    def _model(self, y: np.ndarray, exog: np.ndarray | None = None) -> Any:
        from statsmodels.tsa.arima.model import ARIMA as SmARIMA

        return SmARIMA(y, order=parse_order(self.order))

    def _min_rows(self) -> int:
        p, d, q = parse_order(self.order)
        return max(p + d + q + 3, 5)

    def _describe(self) -> str:
        return f"with order={self.order}"


def unobserved_components_kwargs(period: int | None) -> dict[str, Any]:
    """StateSpaceForecast's statsmodels model: what Kepler fits, for a direct comparison
    (``period`` 0 or 1: no seasonal component, as MLTK's LinearKf)."""
    kwargs: dict[str, Any] = {"level": "local linear trend"}
    if period and int(period) > 1:
        kwargs["seasonal"] = int(period)
    return kwargs


def forecast_metadata(rows: int, start: int, holdback: int, steps: int) -> np.ndarray:
    """MLTK's ``add_output_metadata``: over ``rows`` rows of a series whose held-back rows
    start at ``start``, ``h`` on the ``holdback`` held-back rows, ``f`` on the ``steps``
    forecast rows (counted from ``start``), ``hf`` on rows that are both; empty elsewhere."""
    marks = np.full(rows, None, dtype=object)
    held, forecast = start + holdback, start + steps
    both = min(held, forecast)
    marks[start:both] = "hf"
    marks[both:held] = "h"
    marks[both:forecast] = "f"
    return marks


def find_period(ts: np.ndarray) -> int:
    """A port of MLTK's ``find_period`` (bin/algos_support/statespace/em_kalman_models.py):
    period hints from the periodogram (frequencies whose power beats the 99th percentile
    of 100 shuffles' highest power), then the autocorrelation peak within 20 lags of each
    hint; 1 for a constant series, 0 when no period stands out. Differences: missing
    values are interpolated at both ends too (MLTK's leading ones stayed missing), and
    each lag's autocorrelation is computed once (MLTK recomputes overlapping lags)."""
    from scipy import signal

    values = np.asarray(ts, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if len(finite) == 0 or np.all(finite == finite[0]):
        return 1
    # MLTK's MAXLEN: the most recent 50,000 rows (a fit never has more)
    values = values[-MAX_SERIES_ROWS:]
    values = np.asarray(
        pd.Series(values).interpolate(method="linear", limit_direction="both"), dtype=np.float64
    )
    n = len(values)

    # scipy renamed MLTK's window 'hanning' to 'hann' (the same window)
    def power(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f, pxx = signal.periodogram(x, window="hann", scaling="spectrum")
        return np.asarray(f), np.asarray(pxx)

    rng = np.random.RandomState(12345)  # MLTK's np.random.seed(12345), without global state
    max_powers = sorted(float(power(rng.permutation(values))[1].max()) for _ in range(100))
    threshold = max_powers[int(0.99 * len(max_powers))]
    f, pxx = power(values)
    hints = [1 / f[i] for i in range(len(f)) if f[i] > 0 and pxx[i] > threshold]
    if not hints:  # the threshold was too aggressive: take the lowest shuffle's
        threshold = min(max_powers)
        hints = [1 / f[i] for i in range(len(f)) if f[i] > 0 and pxx[i] > threshold]
    hints.sort()

    cache: dict[int, float] = {}

    def autocorr(lag: int) -> float:  # pandas' Series.autocorr: Pearson of x[t], x[t+lag]
        if lag not in cache:
            if lag >= n - 1:
                cache[lag] = float("nan")
            else:
                a, b = values[lag:], values[:-lag]
                sa, sb = a.std(), b.std()
                cache[lag] = (
                    float("nan")
                    if sa == 0 or sb == 0
                    else float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))
                )
        return cache[lag]

    spread, thres = 20, 0.01
    periods: dict[int, float] = {}
    for p in hints:
        if p < 1:
            continue
        if p > n / 2:
            break
        lags = list(range(max(2, int(p) - spread), int(p) + spread))
        cur_lag = lags[0]
        cur = prev = autocorr(cur_lag)
        peak_val, peak_lag = 0.0, 0
        for q in lags[1:]:
            nxt = autocorr(q)
            if cur > nxt and cur >= prev and cur > peak_val + thres:
                peak_val, peak_lag = cur, cur_lag
            prev, cur, cur_lag = cur, nxt, q
        periods[peak_lag] = peak_val
    if not periods:
        return 0
    period = max(periods.items(), key=lambda item: item[1])[0]
    return int(period) if periods[period] > thres else 0


def find_common_period(values: np.ndarray, tol: float = 0.05) -> int:
    """MLTK's ``find_common_period`` (em_kalman_models.py) over the fields (columns): each
    one's period; 0 if any has none; else the periods that are not multiples of the
    smallest (nor of each other) and their mean, if they agree within ``tol``."""
    columns = values.reshape(len(values), -1)
    found = [find_period(columns[:, i]) for i in range(columns.shape[1])]
    if 0 in found or len(found) == 1:
        return found[-1]  # MLTK returns the last field's period here (0 or not), kept as is
    kept = [min(found)]
    for p in found:
        if all(p % q != 0 for q in kept):
            kept.append(p)
    mean, std = float(np.mean(kept)), float(np.std(kept))
    return int(mean) if std <= tol * mean else 0


def _special_days(column: pd.Series, name: str) -> np.ndarray:
    """``specialdays``' field as floats, empty cells 0 (MLTK's ``np.nan_to_num``)."""
    return np.nan_to_num(_numeric(column, name))


def _effective_length(values: np.ndarray) -> int:
    """MLTK's ``_compute_effective_length``: rows up to the last one where a field has a
    value (the rows after it carry only ``_time`` and the future special days)."""
    rows = np.flatnonzero(~np.isnan(values).all(axis=1))
    return int(rows[-1]) + 1 if len(rows) else 0


def _padded(exog: np.ndarray, length: int) -> np.ndarray:
    """``exog`` cut or padded with 0 to ``length`` values."""
    if len(exog) >= length:
        return exog[:length]
    return np.concatenate([exog, np.zeros(length - len(exog))])


def parse_order(order: Any) -> tuple[int, int, int]:
    """``order=p-d-q`` as MLTK writes it (``1-0-1``; ``1,0,1`` too) as ``(p, d, q)``."""
    if order is None or str(order).strip() == "":
        raise BadParameter(
            "ARIMA needs order=<p>-<d>-<q>, e.g. order=1-0-1 (autoregressive terms, "
            "differences, moving-average terms)",
            detail={"parameter": "order"},
        )
    parts = str(order).replace(",", "-").split("-")
    try:
        p, d, q = (int(x) for x in parts)
    except ValueError:
        raise BadParameter(
            f"order must be three whole numbers p-d-q, e.g. order=1-0-1; got {order!r}",
            detail={"parameter": "order"},
        ) from None
    if min(p, d, q) < 0 or max(p, q) > MAX_ARIMA_ORDER or d > MAX_DIFFERENCING:
        raise BadParameter(
            f"order={order}: p and q must be 0 to {MAX_ARIMA_ORDER}, d 0 to {MAX_DIFFERENCING}",
            detail={"parameter": "order"},
        )
    return p, d, q


def _check_conf_interval(conf_interval: float | None) -> None:
    if conf_interval is not None and not 0 < float(conf_interval) < 100:
        raise BadParameter(
            f"conf_interval must be between 0 and 100 (a percentage); got {conf_interval}",
            detail={"parameter": "conf_interval"},
        )


def output_names(field: str, conf_interval: float) -> list[str]:
    ci = f"{float(conf_interval):g}"
    predicted = f"predicted({field})"
    return [predicted, f"lower{ci}({predicted})", f"upper{ci}({predicted})"]


def _numeric(column: pd.Series, name: str) -> np.ndarray:
    """The field as floats; empty cells are missing (the Kalman filter skips them), any
    other text is refused."""
    if pd.api.types.is_bool_dtype(column.dtype):
        raise DataError(f"field {name!r} is true/false, not a number to forecast")
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna() & column.notna() & (column.astype(str).str.strip() != "")
    if bad.any():
        example = column[bad].iloc[0]
        raise DataError(
            f"field {name!r} must be numeric to forecast; it holds {example!r} "
            f"({int(bad.sum())} such rows): forecast a numeric field, or convert it first "
            "(`| eval <field>=tonumber(<field>)`)",
            detail={"field": name},
        )
    return np.asarray(values, dtype=np.float64)


def _seconds(column: pd.Series, *, allow_missing: bool = False) -> np.ndarray:
    """``_time`` as epoch seconds: numbers (Splunk's), datetimes, or date text."""
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        stamps = pd.to_datetime(column, utc=True)
        seconds = (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    else:
        seconds = pd.to_numeric(column, errors="coerce")
        if seconds.isna().any() and not allow_missing:
            text = column[seconds.isna() & column.notna()]
            if len(text):
                stamps = pd.to_datetime(column, utc=True, errors="coerce")
                seconds = (stamps - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)
    out = np.asarray(seconds, dtype=np.float64)
    if not allow_missing and np.isnan(out).any():
        raise DataError(
            f"_time is missing or not a time in {int(np.isnan(out).sum())} rows; "
            "every row of a series needs its _time"
        )
    return out


def _check_regular(times: np.ndarray) -> float:
    """The series' step (the median gap); refuse duplicated timestamps and gaps."""
    if len(times) < 2:
        return 1.0
    gaps = np.diff(times)
    if (gaps == 0).any():
        at = times[1:][gaps == 0][0]
        raise DataError(
            f"_time repeats ({int((gaps == 0).sum())} duplicated timestamps, the first at "
            f"{_iso(at)}): a forecaster needs one row per step; aggregate first, e.g. "
            "`| timechart span=1h avg(<field>)` or `| stats avg(<field>) by _time`"
        )
    step = float(np.median(gaps))
    off = np.abs(gaps - step) > STEP_TOLERANCE * step
    if off.any():
        at = times[1:][off][0]
        raise DataError(
            f"_time is irregular: the series steps by {step:g} s, but {int(off.sum())} gaps "
            f"differ (the first ends at {_iso(at)}); bin it to a regular step with "
            "`| timechart span=<step> ...` (and `| fillnull` for empty bins)"
        )
    return step


def _span(seconds: float) -> str:
    """A step in Splunk's span units: 1h, 30m, 1d, 7d, else seconds."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and float(seconds / size).is_integer():
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _iso(seconds: float) -> str:
    return pd.Timestamp(seconds, unit="s", tz="UTC").isoformat()
