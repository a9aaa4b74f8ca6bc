"""The validation options of `fit` (split, time_field, kfold_cv, gap) and `automl`."""

from __future__ import annotations

import pytest

from kepler.core.errors import BadParameter, InvalidSpec
from kepler.core.spec import MAX_FOLDS, FitSpec, parse, validation_options


def test_fit_line_reads_validation_options() -> None:
    spec = parse(
        "fit RandomForestRegressor load from temp _time split=time time_field=_time "
        "kfold_cv=5 gap=24 into energy"
    )
    assert isinstance(spec, FitSpec)
    assert (spec.split, spec.time_field, spec.kfold_cv, spec.gap) == ("time", "_time", 5, 24)
    assert spec.params == {}  # options, not the forest's parameters
    assert FitSpec.from_dict(spec.to_dict()) == spec


def test_mltk_kfold_line_parses() -> None:
    spec = parse("| kepler fit LogisticRegression species from petal_length petal_width kfold_cv=3")
    assert isinstance(spec, FitSpec) and spec.kfold_cv == 3 and spec.split is None


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        ("kfold_cv=1", "kfold_cv"),
        (f"kfold_cv={MAX_FOLDS + 1}", "kfold_cv"),
        ("kfold_cv=three", "kfold_cv"),
        ("split=sideways", "split"),
        ("gap=-1", "gap"),
    ],
)
def test_bad_validation_options_say_what_would_do(option: str, fragment: str) -> None:
    with pytest.raises(BadParameter, match=fragment):
        parse(f"fit LinearRegression y from x {option}")


def test_empty_time_field_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="time_field= names the field"):
        validation_options({"time_field": " "})


def test_sdk_values_go_through_the_same_checks() -> None:
    assert validation_options({"split": "TIME", "kfold_cv": 4}) == {"split": "time", "kfold_cv": 4}


def test_automl_reads_split_and_time_field() -> None:
    from kepler.core.automl import AutoMLSpec

    spec = parse("automl y from * into m split=time time_field=ts")
    assert isinstance(spec, AutoMLSpec) and (spec.split, spec.time_field) == ("time", "ts")
    with pytest.raises(BadParameter, match="split"):
        parse("automl y from * into m split=later")
