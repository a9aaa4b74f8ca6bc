"""Automatic feature work inside the pipeline: time expansion, encoding, interactions,
selection; a fitted pipeline reproduces all of it on raw rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression, Ridge

from kepler.ml import frames
from kepler.ml.features import DateTimeFeatures, build_feature_pipeline
from kepler.ml.pipeline import feature_names_out


def test_datetime_features_hour_weekday_month_and_cycles() -> None:
    # 2024-03-04 (a Monday) 13:30 UTC, 2023-12-31 (a Sunday) 23:00 UTC, missing.
    stamps = [
        pd.Timestamp("2024-03-04 13:30", tz="UTC").timestamp(),
        pd.Timestamp("2023-12-31 23:00", tz="UTC").timestamp(),
        np.nan,
    ]
    X = pd.DataFrame({"_time": stamps})
    out = DateTimeFeatures().fit(X).transform(X)
    names = list(DateTimeFeatures().fit(X).get_feature_names_out())
    row = dict(zip(names, out[0], strict=True))
    assert (row["_time_hour"], row["_time_weekday"], row["_time_month"]) == (13, 0, 3)
    assert row["_time_hour_sin"] == pytest.approx(np.sin(2 * np.pi * 13 / 24))
    assert row["_time_weekday_cos"] == pytest.approx(1.0)
    second = dict(zip(names, out[1], strict=True))
    assert (second["_time_hour"], second["_time_weekday"], second["_time_month"]) == (23, 6, 12)
    assert np.isnan(out[2]).all()


def _events(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Failures happen at night and on red machines; Splunk-style text values."""
    rng = np.random.default_rng(seed)
    t = 1_700_000_000 + rng.integers(0, 60 * 86400, size=n)
    hour = (t % 86400) // 3600
    color = rng.choice(["red", "green", "blue"], size=n)
    temp = rng.normal(50, 10, size=n)
    fail = ((hour < 6) | (color == "red")).astype(int)
    frame = pd.DataFrame({"_time": t, "color": color, "temp": temp, "fail": fail}).astype(str)
    frame.loc[::17, "temp"] = ""  # missing values, as Splunk writes them
    frame.loc[::23, "color"] = ""
    return frame


def test_pipeline_expands_time_encodes_imputes_and_scores_raw_events() -> None:
    frame = _events()
    features = ["_time", "color", "temp"]
    types, X = frames.read_features(frame, features)
    y = frame["fail"].to_numpy()
    with_time = build_feature_pipeline(
        LogisticRegression(max_iter=2000),
        types,
        "classifier",
        time_features=["_time"],
        scale=True,
    ).fit(X, y)
    without = build_feature_pipeline(
        LogisticRegression(max_iter=2000), types, "classifier", scale=True
    ).fit(X, y)
    names = feature_names_out(with_time)
    assert {"_time_hour", "_time_weekday_sin", "color=red", "temp"} <= set(names)
    # The hour of day explains night failures; the raw epoch cannot.
    new = _events(200, seed=1)
    truth = new["fail"].to_numpy()
    raw = frames.conform(new.drop(columns="fail"), types)  # what apply does with raw events
    assert (with_time.predict(raw) == truth).mean() > (without.predict(raw) == truth).mean()
    assert (with_time.predict(raw) == truth).mean() > 0.9


def test_interactions_and_selection_are_steps_of_the_saved_pipeline() -> None:
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(200, 6)), columns=[f"f{i}" for i in range(6)])
    y = X["f0"] * X["f1"] * 3 + rng.normal(scale=0.1, size=200)
    types = dict.fromkeys(X.columns, frames.NUMERIC)
    plain = build_feature_pipeline(Ridge(), types, "regressor", scale=True).fit(X, y)
    crossed = build_feature_pipeline(
        Ridge(), types, "regressor", interactions=True, select_percentile=50, scale=True
    ).fit(X, y)
    names = feature_names_out(crossed)
    assert "f0*f1" in names  # the product that explains y survived selection
    assert len(names) == (6 + 15) // 2  # half of the 21 columns kept
    assert crossed.score(X, y) > 0.95 > plain.score(X, y)
