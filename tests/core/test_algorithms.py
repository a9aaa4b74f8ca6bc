"""The algorithm catalog: MLTK's names and spellings, faithful to the estimators it names."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

from kepler.core.algorithms import (
    TASKS,
    AlgorithmInfo,
    builtin_algorithms,
    find_algorithm,
    index,
)
from kepler.core.errors import BadParameter, UnknownAlgorithm
from kepler.core.params import to_kwargs

MLTK_AND_MORE = {
    "classifier": {
        "BernoulliNB",
        "DecisionTreeClassifier",
        "GaussianNB",
        "GradientBoostingClassifier",
        "LogisticRegression",
        "MLPClassifier",
        "RandomForestClassifier",
        "SGDClassifier",
        "SVM",
        "HistGradientBoostingClassifier",
        "KNeighborsClassifier",
        "XGBoostClassifier",
        "TorchMLPClassifier",
    },
    "regressor": {
        "DecisionTreeRegressor",
        "ElasticNet",
        "GradientBoostingRegressor",
        "KernelRidge",
        "Lasso",
        "LinearRegression",
        "MLPRegressor",
        "RandomForestRegressor",
        "Ridge",
        "SGDRegressor",
        "HistGradientBoostingRegressor",
        "KNeighborsRegressor",
        "SVR",
        "XGBoostRegressor",
        "TorchMLPRegressor",
    },
    "clusterer": {"Birch", "DBSCAN", "KMeans", "SpectralClustering", "GaussianMixture"},
    "outlier": {"IsolationForest", "LocalOutlierFactor", "OneClassSVM"},
    "transformer": {"StandardScaler", "RobustScaler", "MinMaxScaler", "PCA", "KernelPCA", "ICA"},
    "forecaster": {"StateSpaceForecast", "ARIMA"},
}

ALGORITHMS = builtin_algorithms()


def _class(info: AlgorithmInfo) -> Any:
    module, _, name = info.estimator.partition(":")
    return getattr(importlib.import_module(module), name)


def test_catalog_has_every_expected_algorithm_under_its_task() -> None:
    by_task: dict[str, set[str]] = {t: set() for t in TASKS}
    for info in ALGORITHMS:
        by_task[info.task].add(info.name)
    for task, names in MLTK_AND_MORE.items():
        assert names <= by_task[task], names - by_task[task]


def test_names_and_aliases_are_unique_ignoring_case() -> None:
    spellings = [n.lower() for a in ALGORITHMS for n in (a.name, *a.aliases)]
    assert len(spellings) == len(set(spellings))
    assert len(index(ALGORITHMS)) == len(spellings)


@pytest.mark.parametrize(
    ("spelling", "name"),
    [
        ("SVC", "SVM"),
        ("svm", "SVM"),
        ("XGBClassifier", "XGBoostClassifier"),
        ("xgbregressor", "XGBoostRegressor"),
        ("FastICA", "ICA"),
        ("randomforestclassifier", "RandomForestClassifier"),
    ],
)
def test_find_algorithm_accepts_aliases_in_any_case(spelling: str, name: str) -> None:
    assert find_algorithm(spelling).name == name


def test_unknown_algorithm_suggests_close_names() -> None:
    with pytest.raises(UnknownAlgorithm, match="RandomForestClassifier") as info:
        find_algorithm("RandomForestClasifier")
    assert "RandomForestClassifier" in info.value.detail["suggestions"]


@pytest.mark.parametrize("info", ALGORITHMS, ids=lambda a: a.name)
def test_entry_is_documented_and_names_an_importable_class(info: AlgorithmInfo) -> None:
    assert info.doc and len(info.doc) < 200
    assert info.task in TASKS
    assert inspect.isclass(_class(info))


@pytest.mark.parametrize("info", ALGORITHMS, ids=lambda a: a.name)
def test_declared_params_and_defaults_are_keywords_of_the_estimator(info: AlgorithmInfo) -> None:
    keywords = set(inspect.signature(_class(info)).parameters)
    if info.extra == "xgboost":  # XGBClassifier takes most keywords through **kwargs
        keywords |= set(_class(info)().get_params())
    for param in info.params.params:
        assert param.kwarg in keywords, f"{info.name}.{param.name} -> {param.kwarg}"
    for key, _ in info.defaults:
        assert key in keywords, f"default {key} of {info.name}"


SKLEARN = [a for a in ALGORITHMS if a.estimator.startswith("sklearn.")]


@pytest.mark.parametrize("info", SKLEARN, ids=lambda a: a.name)
def test_declared_choices_are_accepted_by_scikit_learn(info: AlgorithmInfo) -> None:
    cls = _class(info)
    for param in info.params.params:
        for choice in param.choices:
            estimator = cls(**{param.kwarg: choice})
            estimator._validate_params()  # raises InvalidParameterError on a bad choice


@pytest.mark.parametrize("info", SKLEARN, ids=lambda a: a.name)
def test_defaults_are_valid_for_scikit_learn(info: AlgorithmInfo) -> None:
    _class(info)(**dict(info.defaults))._validate_params()


@pytest.mark.parametrize(
    ("algorithm", "given", "kwargs"),
    [
        ("KMeans", {"k": "3"}, {"n_clusters": 3}),
        ("Birch", {"k": "4"}, {"n_clusters": 4}),
        ("GaussianMixture", {"k": "2"}, {"n_components": 2}),
        ("PCA", {"k": "2"}, {"n_components": 2}),
        ("PCA", {"n_components": "2"}, {"n_components": 2}),
        ("PCA", {"variance": "0.95"}, {"n_components": 0.95}),
        ("ICA", {"k": "2"}, {"n_components": 2}),
        ("SGDClassifier", {"n_iter": "7"}, {"max_iter": 7}),
        ("KernelPCA", {"max_iteration": "9", "tolerance": "0.1"}, {"max_iter": 9, "tol": 0.1}),
        ("RandomForestClassifier", {"max_features": "sqrt"}, {"max_features": "sqrt"}),
        ("SVM", {"gamma": "0.5", "C": "2"}, {"gamma": 0.5, "C": 2.0}),
        ("SVC", {"gamma": "scale"}, {"gamma": "scale"}),
    ],
)
def test_mltk_spellings_map_to_estimator_keywords(
    algorithm: str, given: dict[str, str], kwargs: dict[str, Any]
) -> None:
    info = find_algorithm(algorithm)
    assert to_kwargs(info.params, info.check(given)) == kwargs


@pytest.mark.parametrize(
    ("algorithm", "given", "message"),
    [
        ("KMeans", {"k": "0"}, ">= 1"),
        ("PCA", {"variance": "1.5"}, "<= 1"),
        ("SVM", {"kernel": "cubic"}, "one of linear, poly, rbf, sigmoid"),
        ("RandomForestClassifier", {"max_features": "half"}, "sqrt, log2"),
        ("LogisticRegression", {"penalty_strength": "1"}, "allowed parameters: C,"),
        ("LocalOutlierFactor", {"novelty": "maybe"}, "true or false"),
    ],
)
def test_bad_parameters_are_refused_with_the_reason(
    algorithm: str, given: dict[str, str], message: str
) -> None:
    with pytest.raises(BadParameter, match=message):
        find_algorithm(algorithm).check(given)


def test_kepler_defaults_follow_the_documented_choices() -> None:
    assert dict(find_algorithm("KMeans").defaults)["n_init"] == "auto"
    assert dict(find_algorithm("LocalOutlierFactor").defaults)["novelty"] is True
    assert dict(find_algorithm("LogisticRegression").defaults)["max_iter"] >= 1000
    assert dict(find_algorithm("XGBoostClassifier").defaults)["n_jobs"] == -1


def test_optional_libraries_name_their_extra() -> None:
    extras = {a.name: a.extra for a in ALGORITHMS if a.extra}
    assert extras == {
        "XGBoostClassifier": "xgboost",
        "XGBoostRegressor": "xgboost",
        "TorchMLPClassifier": "torch",
        "TorchMLPRegressor": "torch",
        "StateSpaceForecast": "forecast",
        "ARIMA": "forecast",
    }
    assert find_algorithm("XGBoostClassifier").estimator == "xgboost.sklearn:XGBClassifier"
    assert find_algorithm("TorchMLPRegressor").estimator == "kepler.ml.torch_mlp:TorchMLPRegressor"
