"""The registry: built-ins plus plugins, and configured estimators from checked params."""

from __future__ import annotations

import logging
from importlib import metadata
from typing import Any

import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, ClusterMixin, TransformerMixin
from sklearn.ensemble import IsolationForest

from kepler.core.algorithms import AlgorithmInfo, builtin_algorithms
from kepler.core.errors import BadParameter, MissingDependency, UnknownAlgorithm
from kepler.ml import registry
from kepler.ml.devices import cuda_available


class Centroids(ClassifierMixin, BaseEstimator):
    """Nearest class mean."""

    def __init__(self, shrink: float = 0.0, metric: str = "euclidean", verbose: bool = False):
        self.shrink = shrink
        self.metric = metric
        self.verbose = verbose

    def fit(self, X: Any, y: Any) -> Centroids:
        return self


class Grouper(ClusterMixin, BaseEstimator):
    def __init__(self, **options: Any) -> None:
        self.options = options

    def fit(self, X: Any, y: Any = None) -> Grouper:
        return self


class Doubler(TransformerMixin, BaseEstimator):
    def fit(self, X: Any, y: Any = None) -> Doubler:
        return self


class FakeEntryPoint:
    def __init__(self, name: str, obj: Any = None, error: Exception | None = None) -> None:
        self.name = name
        self.value = f"fake:{name}"
        self._obj = obj
        self._error = error

    def load(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._obj


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> list[FakeEntryPoint]:
    installed: list[FakeEntryPoint] = []

    def entry_points(group: str) -> list[FakeEntryPoint]:
        assert group == "kepler.algorithms"
        return installed

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    registry.plugin_algorithms.cache_clear()
    yield installed
    registry.plugin_algorithms.cache_clear()


def test_all_algorithms_starts_with_the_builtins() -> None:
    assert registry.all_algorithms()[: len(builtin_algorithms())] == list(builtin_algorithms())


def test_estimator_class_plugins_get_a_derived_entry(plugins: list[FakeEntryPoint]) -> None:
    plugins.append(FakeEntryPoint("Centroid", Centroids))
    info = registry.get_algorithm("centroid")
    assert info.name == "Centroid" and info.aliases == ("Centroids",)
    assert info.task == "classifier"
    assert info.estimator == f"{__name__}:Centroids"
    assert info.doc == "Nearest class mean."
    assert info.check({"shrink": "0.5", "verbose": "t"}) == {"shrink": 0.5, "verbose": True}
    with pytest.raises(BadParameter, match="metric, shrink, verbose"):
        info.check({"alpha": "1"})


def test_var_keyword_plugins_accept_any_parameter(plugins: list[FakeEntryPoint]) -> None:
    plugins.append(FakeEntryPoint("Grouper", Grouper))
    info = registry.get_algorithm("Grouper")
    assert info.task == "clusterer" and info.params.open
    assert info.check({"anything": "3"}) == {"anything": 3}


def test_task_comes_from_scikit_learn_tags_and_mixins() -> None:
    assert registry.describe_estimator_class(IsolationForest).task == "outlier"
    assert registry.describe_estimator_class(Doubler).task == "transformer"
    with pytest.raises(TypeError, match="not a classifier"):
        registry.describe_estimator_class(BaseEstimator)


def test_algorithm_info_plugins_are_used_as_given(plugins: list[FakeEntryPoint]) -> None:
    info = AlgorithmInfo("Mine", "regressor", "sklearn.linear_model:Ridge", doc="ridge again")
    plugins.append(FakeEntryPoint("whatever", info))
    assert registry.get_algorithm("mine") is info


def test_broken_plugins_are_skipped_with_a_warning(
    plugins: list[FakeEntryPoint], caplog: pytest.LogCaptureFixture
) -> None:
    plugins.extend(
        [
            FakeEntryPoint("Broken", error=ImportError("no module named nope")),
            FakeEntryPoint("NotAnEstimator", obj=42),
            FakeEntryPoint("NoFit", obj=FakeEntryPoint),
            FakeEntryPoint("KMeans", obj=Centroids),  # may not shadow a built-in
            FakeEntryPoint("Fine", obj=Centroids),
        ]
    )
    with caplog.at_level(logging.WARNING, logger="kepler.ml.registry"):
        names = [a.name for a in registry.plugin_algorithms()]
    assert names == ["Fine"]
    logged = caplog.text
    assert "Broken" in logged and "no module named nope" in logged
    assert "NotAnEstimator" in logged and "NoFit" in logged and "KMeans" in logged
    with pytest.raises(UnknownAlgorithm):
        registry.get_algorithm("Broken")


def test_make_estimator_applies_defaults_then_user_params() -> None:
    kmeans = registry.make_estimator(registry.get_algorithm("KMeans"), {"k": 3})
    assert kmeans.get_params()["n_clusters"] == 3 and kmeans.get_params()["n_init"] == "auto"
    lof = registry.get_algorithm("LocalOutlierFactor")
    assert registry.make_estimator(lof, {}).novelty is True
    assert registry.make_estimator(lof, {"novelty": False}).novelty is False


@pytest.mark.parametrize(
    ("text", "layers"), [("50-50", (50, 50)), ("64,32", (64, 32)), ("100", (100,))]
)
def test_mltk_hidden_layer_sizes_become_a_tuple(text: str, layers: tuple[int, ...]) -> None:
    info = registry.get_algorithm("MLPClassifier")
    est = registry.make_estimator(info, info.check({"hidden_layer_sizes": text}))
    assert est.hidden_layer_sizes == layers


def test_torch_mlp_gets_the_layer_text_it_parses_itself() -> None:
    info = registry.get_algorithm("TorchMLPClassifier")
    est = registry.make_estimator(info, info.check({"hidden_layer_sizes": "8,4"}))
    assert est.hidden_layer_sizes == "8,4"


@pytest.mark.parametrize("name", ["XGBoostClassifier", "XGBoostRegressor"])
def test_make_estimator_xgboost_device_auto_resolves_for_xgboost(name: str) -> None:
    pytest.importorskip("xgboost")
    info = registry.get_algorithm(name)

    default = registry.make_estimator(info, info.check({})).get_params()
    spl_cpu = registry.make_estimator(info, info.check({"device": "CPU"})).get_params()

    assert default["device"] == ("cuda" if cuda_available() else "cpu")
    assert default["tree_method"] == "hist"
    assert spl_cpu["device"] == "cpu"


@pytest.mark.skipif(cuda_available(), reason="checks a machine without CUDA")
def test_make_estimator_xgboost_device_cuda_without_cuda_refused() -> None:
    pytest.importorskip("xgboost")
    info = registry.get_algorithm("XGBoostClassifier")

    with pytest.raises(BadParameter, match="use device=auto or device=cpu"):
        registry.make_estimator(info, info.check({"device": "cuda"}))


def test_device_parameter_refuses_unknown_devices_before_any_data() -> None:
    info = registry.get_algorithm("TorchMLPRegressor")

    with pytest.raises(BadParameter, match="expected one of auto, cpu, cuda"):
        info.check({"device": "gpu"})


@pytest.mark.parametrize("text", ["", "a-b", "0", "10--x"])
def test_bad_hidden_layer_sizes_are_refused(text: str) -> None:
    with pytest.raises(BadParameter, match="hidden_layer_sizes"):
        registry.parse_layers(text)


def test_two_spellings_of_one_keyword_are_refused() -> None:
    info = registry.get_algorithm("PCA")
    with pytest.raises(BadParameter, match="give variance or k, not both"):
        registry.make_estimator(info, info.check({"variance": "0.9", "k": "2"}))


def test_a_missing_optional_library_names_the_pip_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry._EXTRA_LIBRARY, "xgboost", "kepler_test_not_installed")
    with pytest.raises(MissingDependency, match=r"pip install 'kepler-ml\[xgboost\]'"):
        registry.make_estimator(registry.get_algorithm("XGBoostClassifier"), {})


def test_a_plugin_pointing_nowhere_is_a_missing_dependency() -> None:
    info = AlgorithmInfo("Ghost", "regressor", "kepler_test_ghost.models:Ghost")
    with pytest.raises(MissingDependency, match=r"kepler_test_ghost.models"):
        registry.make_estimator(info, {})
    info = AlgorithmInfo("Ghost", "regressor", "sklearn.linear_model:NoSuchModel")
    with pytest.raises(MissingDependency, match="has no 'NoSuchModel'"):
        registry.make_estimator(info, {})


def test_unknown_keywords_for_an_open_plugin_are_a_bad_parameter() -> None:
    info = AlgorithmInfo("Ridge2", "regressor", "sklearn.linear_model:Ridge")
    with pytest.raises(BadParameter, match="Ridge2 does not accept"):
        registry.make_estimator(info, {"not_a_ridge_keyword": 1})
