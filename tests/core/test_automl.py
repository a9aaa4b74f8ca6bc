"""The automl spec: durations, options, presets, and bad lines refused before data moves."""

from __future__ import annotations

import pytest

from kepler.core.automl import PRESETS, AutoMLSpec, check_metric, parse_duration
from kepler.core.errors import BadParameter, InvalidSpec
from kepler.core.spec import parse


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), (90, 90.0), ("90s", 90.0), ("10m", 600.0), ("1.5h", 5400.0), ("1d", 86400.0)],
)
def test_parse_duration_reads_seconds_and_units(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["ten minutes", "-5", "0", "10y", "8d", True])
def test_parse_duration_refuses_nonsense(text: object) -> None:
    with pytest.raises(BadParameter, match="time_budget"):
        parse_duration(text)


def test_parse_automl_line_with_every_option() -> None:
    spec = parse(
        '| kepler automl failure from temp "vib ration" sensor_* into pump task=classification '
        "time_budget=10m metric=roc_auc algorithms=RandomForestClassifier,LogisticRegression "
        "seed=42 max_trials=30 parallel=2 cv=5 holdout=0.25 max_latency_ms_per_row=0.5 "
        "max_model_mb=3 interpretable=t"
    )
    assert isinstance(spec, AutoMLSpec)
    assert (spec.target, spec.features, spec.into) == (
        "failure",
        ("temp", "vib ration", "sensor_*"),
        "pump",
    )
    assert (spec.task, spec.time_budget, spec.metric) == ("classification", 600.0, "roc_auc")
    assert spec.algorithms == ("RandomForestClassifier", "LogisticRegression")
    assert (spec.seed, spec.max_trials, spec.parallel, spec.cv) == (42, 30, 2, 5)
    assert (spec.holdout, spec.max_latency_ms_per_row, spec.max_model_mb) == (0.25, 0.5, 3.0)
    assert spec.interpretable is True
    assert AutoMLSpec.from_dict(spec.to_dict()) == spec


def test_defaults_leave_task_and_metric_to_the_data() -> None:
    spec = parse("automl y from * into m")
    assert isinstance(spec, AutoMLSpec)
    assert spec.task is None and spec.metric is None and spec.time_budget == 600.0
    assert spec.resolved_metric("regression") == "r2"
    assert spec.resolved_metric("classification") == "f1"


def test_use_case_preset_sets_documented_constraints_and_explicit_options_win() -> None:
    spec = parse("automl y from * into m use_case=predictive_maintenance max_model_mb=50")
    assert isinstance(spec, AutoMLSpec)
    preset = PRESETS["predictive_maintenance"]
    assert spec.interpretable and spec.robust
    assert spec.max_latency_ms_per_row == preset.max_latency_ms_per_row
    assert spec.max_model_mb == 50.0  # the user's own value beats the preset's
    qc = parse("automl y from * into m use_case=quality_control")
    assert isinstance(qc, AutoMLSpec)
    assert (qc.task, qc.metric, qc.interpretable) == ("classification", "recall", True)
    ad = parse("automl y from * into m use_case=anomaly_detection")
    assert isinstance(ad, AutoMLSpec)
    assert (ad.task, ad.metric, ad.max_false_positive_rate) == ("anomaly", "roc_auc", 0.01)
    for preset in PRESETS.values():
        assert len(preset.doc) > 40, preset.name  # each preset says what it means


@pytest.mark.parametrize(
    ("line", "error", "fragment"),
    [
        ("automl from x into m", InvalidSpec, "one target field"),
        ("automl y from into m", InvalidSpec, "feature fields"),
        ("automl y from x", InvalidSpec, "into <model>"),
        ("automl y from x into m metric=rmse task=classification", BadParameter, "f1"),
        ("automl y from x into m metric=logloss", BadParameter, "unknown metric"),
        ("automl y from x into m time_budget=soon", BadParameter, "10m"),
        ("automl y from x into m cv=1", BadParameter, "cv"),
        ("automl y from x into m colour=red", BadParameter, "no option 'colour'"),
        ("automl y from x into m use_case=fishing", BadParameter, "predictive_maintenance"),
        ("automl y from x into m task=ranking", BadParameter, "classification"),
        ("automl y from x into m seed=1 seed=2", InvalidSpec, "twice"),
        (
            "automl y from x into m use_case=anomaly_detection task=regression",
            BadParameter,
            "task=anomaly",
        ),
    ],
)
def test_bad_automl_lines_are_refused(line: str, error: type, fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        parse(line)


def test_metric_must_fit_the_task() -> None:
    check_metric("mae", "regression")
    with pytest.raises(BadParameter, match="rmse, mae, r2"):
        check_metric("f1", "regression")
