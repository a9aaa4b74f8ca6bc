"""TorchMLPClassifier and TorchMLPRegressor: scikit-learn's conformance suite, then learning."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.model_selection import train_test_split
from sklearn.utils.estimator_checks import parametrize_with_checks

from kepler.core.errors import BadParameter, MissingDependency
from kepler.ml.torch_mlp import TorchMLPClassifier, TorchMLPRegressor

torch = pytest.importorskip("torch")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without CUDA")

REPO = Path(__file__).resolve().parents[2]
# Small enough for the whole suite to take seconds, large enough to clear the score
# thresholds in check_classifiers_train and check_regressors_train with a wide margin.
FAST: dict[str, Any] = {"hidden_layer_sizes": "16", "max_epochs": 20, "batch_size": 32, "lr": 1e-2}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    # Tiny networks run fastest on one thread, and CI machines are shared.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@parametrize_with_checks(
    [
        TorchMLPClassifier(**FAST, random_state=0, device="cpu"),
        TorchMLPRegressor(**FAST, random_state=0, device="cpu"),
        # The path without a held-out split, with more than one hidden layer.
        TorchMLPClassifier(**{**FAST, "hidden_layer_sizes": (16, 8)}, early_stopping=False),
        TorchMLPRegressor(**{**FAST, "hidden_layer_sizes": (16, 8)}, early_stopping=False),
    ]
)
def test_sklearn_estimator_contract(estimator, check) -> None:
    check(estimator)


def _iris_like(n_per_class: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well separated Gaussian classes in four features, shaped like iris."""
    centers = [[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]]
    X, y = make_blobs(
        n_samples=[n_per_class] * 3, centers=centers, cluster_std=0.3, random_state=seed
    )
    return X, y


def _linear(n_samples: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 5))
    y = X @ np.array([3.0, -2.0, 0.5, 0.0, 1.0]) + 10.0 + rng.normal(scale=0.1, size=n_samples)
    return X, y


def test_fit_classifier_separable_accuracy_above_0_9() -> None:
    X, y = _iris_like()
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
    model = TorchMLPClassifier(**FAST, random_state=0).fit(X_train, y_train)

    assert model.score(X_test, y_test) > 0.9
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(model.predict_log_proba(X_test), np.log(proba), atol=1e-12)


def test_fit_regressor_linear_beats_mean() -> None:
    X, y = _linear()
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    model = TorchMLPRegressor(**FAST, random_state=0).fit(X_train, y_train)

    mse = np.mean((model.predict(X_test) - y_test) ** 2)
    mse_of_mean = np.mean((y_train.mean() - y_test) ** 2)
    assert mse < 0.05 * mse_of_mean
    assert model.predict(X_test).shape == (len(X_test),)


def test_fit_regressor_two_outputs() -> None:
    X, y = _linear()
    Y = np.column_stack([y, -2.0 * y + 1.0])
    model = TorchMLPRegressor(**FAST, random_state=0).fit(X, Y)

    assert model.n_outputs_ == 2
    assert model.predict(X).shape == (len(X), 2)
    assert model.score(X, Y) > 0.9


@pytest.mark.parametrize("n_classes", [2, 3])
def test_fit_classifier_string_labels_round_trip(n_classes: int) -> None:
    X, y = _iris_like()
    keep = y < n_classes
    names = np.array(["virginica", "setosa", "versicolor"], dtype=object)
    labels = pd.Series(names[y[keep]], name="species")
    frame = pd.DataFrame(X[keep], columns=["sepal_l", "sepal_w", "petal_l", "petal_w"])

    model = TorchMLPClassifier(**FAST, random_state=0).fit(frame, labels)

    assert list(model.classes_) == sorted(names[:n_classes])
    assert list(model.feature_names_in_) == list(frame.columns)
    predicted = model.predict(frame)
    assert set(predicted) <= set(model.classes_)
    assert np.mean(predicted == labels.to_numpy()) > 0.9
    assert model.predict_proba(frame).shape == (len(frame), n_classes)


def test_fit_same_random_state_same_model() -> None:
    X, y = _iris_like()
    first = TorchMLPClassifier(**FAST, random_state=7).fit(X, y)
    second = TorchMLPClassifier(**FAST, random_state=7).fit(X, y)
    other = TorchMLPClassifier(**FAST, random_state=8).fit(X, y)

    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    assert first.loss_curve_ == second.loss_curve_
    for name, tensor in first.state_dict_.items():
        assert torch.equal(tensor, second.state_dict_[name])
    assert not torch.equal(first.state_dict_["0.weight"], other.state_dict_["0.weight"])


def test_fit_leaves_torch_global_state_alone() -> None:
    X, y = _linear(100)
    rng_before, threads_before = torch.get_rng_state(), torch.get_num_threads()

    TorchMLPRegressor(**FAST, random_state=0).fit(X, y).predict(X)

    assert torch.equal(torch.get_rng_state(), rng_before)
    assert torch.get_num_threads() == threads_before


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_predict_accepts_float32_and_float64(dtype: type) -> None:
    X, y = _linear(200)
    model = TorchMLPRegressor(**FAST, random_state=0).fit(X.astype(dtype), y)

    np.testing.assert_allclose(model.predict(X.astype(dtype)), model.predict(X), rtol=1e-5)


@pytest.mark.parametrize(
    "copier",
    # The bytes come from this test, so unpickling them is safe.
    [lambda m: pickle.loads(pickle.dumps(m)), copy.deepcopy],  # noqa: S301
    ids=["pickle", "deepcopy"],
)
def test_copy_fitted_model_same_predictions(copier) -> None:
    X, y = _iris_like()
    model = TorchMLPClassifier(**FAST, random_state=0).fit(X, y)

    restored = copier(model)

    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))


@pytest.mark.parametrize("cls", [TorchMLPClassifier, TorchMLPRegressor])
def test_saved_state_holds_weights_as_arrays_and_loads_them_as_tensors(cls: type) -> None:
    X, y = _iris_like()
    model = cls(**FAST, random_state=0).fit(X, y.astype(float) if cls is TorchMLPRegressor else y)

    state = model.__getstate__()

    # Arrays in the saved state (skops stores those without pickle), the model untouched.
    assert {type(w) for w in state["state_dict_"].values()} == {np.ndarray}
    assert all(isinstance(t, torch.Tensor) for t in model.state_dict_.values())
    restored = cls.__new__(cls)
    restored.__setstate__(state)
    for name, tensor in model.state_dict_.items():
        assert torch.equal(restored.state_dict_[name], tensor)
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))


def test_state_pickled_with_tensors_before_still_loads() -> None:
    X, y = _iris_like()
    model = TorchMLPClassifier(**FAST, random_state=0).fit(X, y)
    old = dict(model.__dict__)  # what pickle saved before the weights became arrays

    restored = TorchMLPClassifier.__new__(TorchMLPClassifier)
    restored.__setstate__(old)

    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))


def test_unpickle_in_new_process_same_predictions(tmp_path: Path) -> None:
    X, y = _iris_like()
    model = TorchMLPClassifier(**FAST, random_state=0).fit(X, y)
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    np.save(tmp_path / "X.npy", X)
    script = (
        "import pickle, sys, numpy as np; d = sys.argv[1]; "
        "m = pickle.load(open(d + '/model.pkl', 'rb')); "
        "np.save(d + '/proba.npy', m.predict_proba(np.load(d + '/X.npy')))"
    )

    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, cwd=REPO)

    np.testing.assert_allclose(np.load(tmp_path / "proba.npy"), model.predict_proba(X))


def test_clone_keeps_params_drops_fit() -> None:
    X, y = _iris_like()
    model = TorchMLPClassifier(**FAST, random_state=3).fit(X, y)

    fresh = clone(model)

    assert fresh.get_params() == model.get_params()
    assert not hasattr(fresh, "state_dict_")


@pytest.mark.parametrize("sizes", ["16,8", " 16 , 8 ", "(16, 8)", "[16,8]", (16, 8)])
def test_fit_hidden_layer_sizes_text_or_tuple(sizes: str | tuple[int, ...]) -> None:
    X, y = _iris_like()
    model = TorchMLPClassifier(hidden_layer_sizes=sizes, max_epochs=2, random_state=0)

    model.fit(X, y)

    assert model.hidden_layer_sizes == sizes
    assert model.hidden_layer_sizes_ == (16, 8)
    shapes = {name: tuple(t.shape) for name, t in model.state_dict_.items()}
    assert shapes == {
        "0.weight": (16, 4),
        "0.bias": (16,),
        "2.weight": (8, 16),
        "2.bias": (8,),
        "4.weight": (3, 8),
        "4.bias": (3,),
    }


def test_state_dict_loads_into_torch_sequential() -> None:
    X, y = _iris_like()
    model = TorchMLPClassifier(hidden_layer_sizes="16,8", max_epochs=2, random_state=0).fit(X, y)
    network = torch.nn.Sequential(
        torch.nn.Linear(4, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 8),
        torch.nn.ReLU(),
        torch.nn.Linear(8, 3),
    )

    network.load_state_dict(model.state_dict_)

    scaled = torch.from_numpy(((X - model.x_mean_) / model.x_scale_).astype(np.float32))
    with torch.inference_mode():
        proba = torch.softmax(network(scaled), dim=1).numpy()
    np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("sizes", ["", "16,,8", "sixteen", "16,0", "-4", "16.5", (16, 0), ()])
def test_fit_hidden_layer_sizes_invalid(sizes: str | tuple[int, ...]) -> None:
    X, y = _iris_like()

    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        TorchMLPClassifier(hidden_layer_sizes=sizes).fit(X, y)


def test_fit_early_stopping_keeps_best_epoch() -> None:
    # Pure noise: the held-out loss stops improving almost at once.
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(300, 5)), rng.normal(size=300)
    model = TorchMLPRegressor(**{**FAST, "max_epochs": 200}, patience=3, random_state=0)

    model.fit(X, y)

    assert model.n_iter_ < 200
    assert len(model.loss_curve_) == len(model.validation_loss_curve_) == model.n_iter_
    best = model.best_validation_loss_
    assert best is not None
    assert best == pytest.approx(min(model.validation_loss_curve_), rel=1e-3)
    # It stopped `patience` epochs after the best one.
    assert model.n_iter_ == model.validation_loss_curve_.index(best) + 1 + model.patience


def test_fit_without_early_stopping_runs_every_epoch() -> None:
    X, y = _linear(100)
    model = TorchMLPRegressor(**FAST, early_stopping=False, random_state=0).fit(X, y)

    assert model.n_iter_ == FAST["max_epochs"]
    assert model.validation_loss_curve_ == []
    assert model.best_validation_loss_ is None


def test_import_module_does_not_import_torch() -> None:
    script = "import sys, kepler.ml.torch_mlp; sys.exit('torch' in sys.modules)"

    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO)


def test_fit_without_torch_names_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _iris_like()
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail

    with pytest.raises(MissingDependency, match=r"pip install 'kepler-ml\[torch\]'"):
        TorchMLPClassifier(max_epochs=1).fit(X, y)


@no_cuda
def test_fit_device_auto_trains_on_cpu_without_cuda() -> None:
    X, y = _iris_like()

    model = TorchMLPClassifier(**FAST, random_state=0).fit(X, y)

    assert model.device == "auto"
    assert model.device_ == "cpu"
    assert model.score(X, y) > 0.9


@no_cuda
@pytest.mark.parametrize("cls", [TorchMLPClassifier, TorchMLPRegressor])
def test_fit_device_cuda_without_cuda_refused_naming_fix(cls: type) -> None:
    X, y = _iris_like()

    with pytest.raises(BadParameter, match="device=auto or device=cpu") as caught:
        cls(**FAST, device="cuda").fit(X, y)

    assert caught.value.detail["parameter"] == "device"
    assert "torch.cuda.is_available() is False" in str(caught.value)


@pytest.mark.parametrize("device", ["gpu", "CUDA", "cuda:0", ""])
def test_fit_device_unknown_refused(device: str) -> None:
    X, y = _iris_like()

    with pytest.raises(ValueError, match="'device' parameter"):
        TorchMLPClassifier(**FAST, device=device).fit(X, y)


def test_fit_auto_weights_on_cpu_after_pickle_and_predict_on_cpu() -> None:
    X, y = _iris_like()
    model = TorchMLPClassifier(**FAST, random_state=0, device="auto").fit(X, y)
    expected = model.predict_proba(X)

    # The bytes come from this test, so unpickling them is safe.
    restored = pickle.loads(pickle.dumps(model))  # noqa: S301

    assert {t.device.type for t in restored.state_dict_.values()} == {"cpu"}
    assert all(not t.requires_grad for t in restored.state_dict_.values())
    restored.set_params(device="cpu")
    np.testing.assert_allclose(restored.predict_proba(X), expected, rtol=1e-6, atol=1e-12)


@no_cuda
def test_predict_device_cuda_without_cuda_scores_on_cpu() -> None:
    # A model trained on a GPU keeps device='cuda' in its parameters: it must score anywhere.
    X, y = _linear(100)
    model = TorchMLPRegressor(**FAST, random_state=0, device="cpu").fit(X, y)
    expected = model.predict(X)

    model.set_params(device="cuda")

    np.testing.assert_array_equal(model.predict(X), expected)


def test_unpickle_model_from_before_device_parameter_predicts() -> None:
    X, y = _iris_like()
    model = TorchMLPClassifier(**FAST, random_state=0).fit(X, y)
    expected = model.predict_proba(X)
    del model.__dict__["device"]
    del model.__dict__["device_"]

    restored = pickle.loads(pickle.dumps(model))  # noqa: S301 - bytes made just above

    assert restored.get_params()["device"] == "auto"
    np.testing.assert_array_equal(restored.predict_proba(X), expected)


def test_fit_reads_device_back_once_per_epoch_not_per_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each read of a tensor's value on the host waits for the device: count those the
    training code makes (torch's Adam reads its own step counter, kept on the CPU)."""
    reads = []
    for name in ("__float__", "__int__", "__bool__", "item", "cpu", "tolist", "numpy"):
        original = getattr(torch.Tensor, name)

        def spy(self: Any, *args: Any, _original: Any = original, _name: str = name) -> Any:
            if sys._getframe(1).f_globals.get("__name__") == "kepler.ml.torch_mlp":
                reads.append(_name)
            return _original(self, *args)

        monkeypatch.setattr(torch.Tensor, name, spy)
    X, y = _iris_like(n_per_class=200)
    epochs, batch_size = 4, 16  # 600 rows, 540 for training: 34 batches an epoch
    model = TorchMLPClassifier(hidden_layer_sizes="8", max_epochs=epochs, batch_size=batch_size)

    model.fit(X, y)
    n_layers = 2  # after the fit, each weight and bias is copied to the CPU once

    assert model.n_iter_ == epochs
    assert len(reads) <= 2 * epochs + 2 * n_layers, reads
