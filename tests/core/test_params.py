"""Declared parameters: SPL text and Python values become the same typed values."""

from __future__ import annotations

from typing import Any

import pytest

from kepler.core.errors import BadParameter
from kepler.core.params import Param, ParamSet, check_params, coerce, to_kwargs


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("int", "3", 3),
        ("int", "3.0", 3),
        ("int", 4, 4),
        ("float", "0.5", 0.5),
        ("float", "2", 2.0),
        ("number", "2", 2),
        ("number", "0.25", 0.25),
        ("bool", "t", True),
        ("bool", "FALSE", False),
        ("bool", "1", True),
        ("bool", "no", False),
        ("bool", True, True),
        ("str", "  rbf ", "rbf"),
        ("any", "12", 12),
        ("any", "1.5", 1.5),
        ("any", "f", False),
        ("any", "none", None),
        ("any", "sqrt", "sqrt"),
        ("any", [1, 2], [1, 2]),
        ("steps", "14", 14),
        ("steps", 3, 3),
        ("steps", "3days", "3days"),
        ("steps", "2Weeks", "2weeks"),
        ("steps", "mon", "mon"),
    ],
)
def test_coerce_reads_spl_text_and_python_values(kind: str, value: Any, expected: Any) -> None:
    got = coerce(Param("p", kind, nullable=True), value)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        (Param("n", "int"), "3.5", "an integer"),
        (Param("n", "int"), "three", "an integer"),
        (Param("n", "int"), True, "an integer"),
        (Param("n", "int", minimum=1), "0", ">= 1"),
        (Param("r", "float", maximum=1), "1.5", "<= 1"),
        (Param("b", "bool"), "maybe", "true or false"),
        (Param("s", "str", choices=("a", "b")), "c", "one of a, b"),
        (Param("n", "number", choices=("sqrt",)), "cube", "a number or one of sqrt"),
        (Param("n", "int"), None, "cannot be none"),
        (Param("n", "int"), "null", "cannot be none"),
    ],
)
def test_coerce_refuses_bad_values_naming_what_is_expected(
    param: Param, value: Any, message: str
) -> None:
    with pytest.raises(BadParameter, match=message) as info:
        coerce(param, value)
    assert info.value.detail["parameter"] == param.name


def test_choices_match_case_insensitively_and_return_the_declared_spelling() -> None:
    assert coerce(Param("k", "str", choices=("LU", "auto")), "lu") == "LU"


def test_numeric_params_accept_their_string_choices() -> None:
    assert coerce(Param("m", "number", choices=("sqrt", "log2")), "log2") == "log2"
    assert coerce(Param("m", "number", choices=("sqrt", "log2")), "0.5") == 0.5


def test_nullable_params_accept_none() -> None:
    assert coerce(Param("d", "int", nullable=True), "None") is None


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown parameter kind"):
        Param("x", "complex")


PARAMS = ParamSet(
    (
        Param("k", "int", target="n_clusters", minimum=1),
        Param("max_iter", "int", aliases=("n_iter",)),
        Param("fit_intercept", "bool"),
    )
)


def test_check_params_accepts_every_spelling_and_returns_declared_names() -> None:
    given = {"n_clusters": "3", "N_ITER": "10", "fit_intercept": "f"}
    checked = check_params("Algo", PARAMS, given)
    assert checked == {"k": 3, "max_iter": 10, "fit_intercept": False}


def test_check_params_names_the_allowed_parameters() -> None:
    allowed = r"Algo has no parameter 'kk'; allowed parameters: fit_intercept, k, max_iter"
    with pytest.raises(BadParameter, match=allowed):
        check_params("Algo", PARAMS, {"kk": "3"})


def test_check_params_refuses_a_parameter_given_twice_by_two_spellings() -> None:
    with pytest.raises(BadParameter, match="given twice"):
        check_params("Algo", PARAMS, {"k": "3", "n_clusters": "4"})


def test_open_param_sets_pass_unknown_names_with_best_guess_types() -> None:
    open_set = ParamSet((), open=True)
    assert check_params("Plugin", open_set, {"alpha": "0.1", "mode": "fast", "on": "t"}) == {
        "alpha": 0.1,
        "mode": "fast",
        "on": True,
    }


def test_to_kwargs_maps_declared_names_to_estimator_keywords() -> None:
    assert to_kwargs(PARAMS, {"k": 3, "max_iter": 5, "undeclared": 1}) == {
        "n_clusters": 3,
        "max_iter": 5,
        "undeclared": 1,
    }


@pytest.mark.parametrize(
    ("algorithm", "params", "bound"),
    [
        ("RandomForestClassifier", {"n_estimators": 10**9}, "<= 5000"),
        ("GradientBoostingRegressor", {"n_estimators": "1000000000"}, "<= 10000"),
        ("KMeans", {"k": 10**9}, "<= 10000"),
        ("KNeighborsClassifier", {"n_neighbors": 10**9}, "<= 1000"),
        ("LogisticRegression", {"max_iter": 10**9}, "<= 100000"),
        ("MLPClassifier", {"hidden_layer_sizes": "100000-100000-100000"}, "at most 4096 wide"),
        ("MLPRegressor", {"hidden_layer_sizes": ",".join(["8"] * 17)}, "at most 16 layers"),
        ("TorchMLPClassifier", {"hidden_layer_sizes": [100000, 3]}, "at most 4096 wide"),
    ],
)
def test_costly_parameters_have_upper_bounds_named_in_the_error(
    algorithm: str, params: dict[str, Any], bound: str
) -> None:
    from kepler.core.algorithms import find_algorithm

    with pytest.raises(BadParameter) as err:
        find_algorithm(algorithm).check(params)
    assert bound in err.value.message
    assert next(iter(params)) in err.value.message


def test_layer_widths_within_bounds_are_kept_as_given() -> None:
    from kepler.core.algorithms import find_algorithm

    mlp = find_algorithm("MLPClassifier")
    assert mlp.check({"hidden_layer_sizes": "50-50"}) == {"hidden_layer_sizes": "50-50"}
    assert mlp.check({"hidden_layer_sizes": [64, 32]}) == {"hidden_layer_sizes": (64, 32)}
    with pytest.raises(BadParameter, match="layer widths such as 50-50"):
        mlp.check({"hidden_layer_sizes": "wide"})


@pytest.mark.parametrize(
    ("value", "expected"), [("1-2", "1-2"), (" 2-3 ", "2-3"), ((1, 1), "1-1"), ("(1, 3)", "1-3")]
)
def test_range_params_read_mltk_low_high(value: Any, expected: str) -> None:
    assert coerce(Param("ngram_range", "range", minimum=1, maximum=10), value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("2-1", "low end first"),
        ("1-2-3", "1-2"),
        ("0-2", ">= 1"),
        ("1-11", "<= 10"),
        ("a-b", "1-2"),
    ],
)
def test_range_params_refuse_bad_ranges(value: str, fragment: str) -> None:
    with pytest.raises(BadParameter, match=fragment):
        coerce(Param("ngram_range", "range", minimum=1, maximum=10), value)


def test_steps_are_rows_or_mltk_time_amounts() -> None:
    from kepler.core.params import duration_seconds

    # MLTK's HumanTime units (util/time_util.py): 3days, 2weeks, mon (1 month of 30 days)
    assert duration_seconds("3days") == 3 * 86400
    assert duration_seconds("2weeks") == 14 * 86400
    assert duration_seconds("mon") == 30 * 86400
    assert duration_seconds("14") is None and duration_seconds("3fortnights") is None
    with pytest.raises(BadParameter, match="time amount such as 3days"):
        coerce(Param("holdback", "steps", minimum=0), "3fortnights")
    with pytest.raises(BadParameter, match=">= 0"):
        coerce(Param("holdback", "steps", minimum=0), "-1")
