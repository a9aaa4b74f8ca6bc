"""PyTorch multilayer perceptrons that follow scikit-learn's estimator contract.

Importing this module does not import torch: the torch extra is optional, so torch is
loaded inside ``fit`` and ``predict`` through :func:`kepler.core.errors.require`, and a
missing install raises :class:`~kepler.core.errors.MissingDependency` naming the fix.

The trained weights live in ``state_dict_``, a ``{name: CPU tensor}`` mapping laid out as
``torch.nn.Sequential(Linear, ReLU, ..., Linear).state_dict()`` would lay it out. A fitted
estimator's state (``__getstate__``) holds them as numpy arrays and ``__setstate__`` makes
them tensors again, so it pickles without torch's storage reducers, skops' secure format
stores it with trusted types only (``kp.register``: no pickle crosses the network), and
it predicts in another process, with or without a GPU, whichever device it trained on.

On a GPU the training loop never waits for the device inside an epoch: the data moves
there once, batches are drawn by a permutation made on the device, and the epoch's loss
is summed there and read once per epoch.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Integral, Real
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from kepler.core.errors import MissingDependency, require
from kepler.ml.devices import DEVICES, resolve_device

__all__ = ["TorchMLPClassifier", "TorchMLPRegressor"]

# Rows per forward pass at prediction time: bounds memory, not a tuning knob. A GPU only
# pays off with large batches; its memory holds far more than a CPU cache does.
_PREDICT_BATCH = {"cpu": 8192, "cuda": 262_144}
# The training data moves to the GPU whole when it takes at most this share of the free
# memory (the network, its gradients and Adam's state need little); else it streams.
_RESIDENT_SHARE = 0.25
# Early stopping counts an epoch as better only past this relative margin, so that
# float noise in the validation loss does not reset the patience counter forever.
_MIN_RELATIVE_IMPROVEMENT = 1e-4


def _parse_hidden_layer_sizes(value: str | tuple[int, ...]) -> tuple[int, ...]:
    """``"64,32"`` (SPL text) or ``(64, 32)`` to ``(64, 32)``; every size at least 1."""
    if isinstance(value, str):
        parts = [part.strip() for part in value.strip().strip("()[]").split(",")]
        if len(parts) > 1 and not parts[-1]:
            parts.pop()  # a trailing comma, as Python writes "(64,)"
        if not all(part.isascii() and part.isdigit() for part in parts):
            raise ValueError(
                "hidden_layer_sizes must list layer widths separated by commas, such as "
                f"'64,32'; got {value!r}"
            )
        sizes = tuple(int(part) for part in parts)
    else:
        if not all(isinstance(v, Integral) and not isinstance(v, bool) for v in value):
            raise ValueError(f"hidden_layer_sizes must hold integers; got {value!r}")
        sizes = tuple(int(v) for v in value)
    if not sizes or min(sizes) < 1:
        raise ValueError(
            f"hidden_layer_sizes needs at least one layer, each at least 1 wide; got {value!r}"
        )
    return sizes


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@contextmanager
def _torch_threads(torch: Any) -> Iterator[None]:
    """Cap torch's intra-op threads at the CPUs this process may use, then restore them.

    Torch sizes its pool from the machine, not from the CPU affinity a container or a
    worker pool grants, and oversubscribed threads make small networks slower.
    """
    before = torch.get_num_threads()
    wanted = min(before, _usable_cpus())
    if wanted != before:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if wanted != before:
            torch.set_num_threads(before)


def _standardize_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = values.mean(axis=0, dtype=np.float64)
    std = values.std(axis=0, dtype=np.float64)
    # A constant column has a std of float noise; dividing by it would blow that noise up.
    constant = std <= 10 * np.finfo(np.float64).eps * np.maximum(np.abs(mean), 1.0)
    return mean, np.where(constant, 1.0, std)


def _forward(torch: Any, layers: list[tuple[Any, Any]], x: Any) -> Any:
    """Linear layers with ReLU between them; the last layer's output is left as is."""
    functional = torch.nn.functional
    for weight, bias in layers[:-1]:
        x = functional.relu(functional.linear(x, weight, bias))
    weight, bias = layers[-1]
    return functional.linear(x, weight, bias)


def _init_layers(
    torch: Any, widths: list[int], generator: Any, device: Any
) -> list[tuple[Any, Any]]:
    """(weight, bias) per layer from the U(-1/sqrt(fan_in), 1/sqrt(fan_in)) of nn.Linear,
    drawn on the CPU by ``generator``, then moved to ``device``."""
    layers = []
    for fan_in, fan_out in itertools.pairwise(widths):
        bound = 1.0 / float(np.sqrt(fan_in))
        weight = torch.empty(fan_out, fan_in).uniform_(-bound, bound, generator=generator)
        bias = torch.empty(fan_out).uniform_(-bound, bound, generator=generator)
        layers.append((weight.to(device).requires_grad_(), bias.to(device).requires_grad_()))
    return layers


def _fits_on(torch: Any, device: Any, nbytes: int) -> bool:
    """Whether ``nbytes`` of training data can live on ``device`` for the whole fit."""
    if device.type != "cuda":
        return True
    free, _total = torch.cuda.mem_get_info(device)
    return nbytes <= _RESIDENT_SHARE * free


def _layers_of(state: dict[str, Any], n_layers: int) -> list[tuple[Any, Any]]:
    # Sequential numbers Linear modules 0, 2, 4, ... with a ReLU between each pair.
    return [(state[f"{2 * i}.weight"], state[f"{2 * i}.bias"]) for i in range(n_layers)]


def _as_array(weight: Any) -> Any:
    """A weight as a numpy array (a tensor's own copy; an array as it is)."""
    if hasattr(weight, "detach"):
        return weight.detach().cpu().numpy().copy()
    return weight


def _as_tensors(weights: dict[str, Any]) -> dict[str, Any]:
    """The arrays of a loaded state as CPU tensors, as ``fit`` leaves them. Without torch
    installed they stay arrays: the estimator loads anywhere, and predicting asks for
    torch then, naming the install."""
    if not any(isinstance(w, np.ndarray) for w in weights.values()):
        return weights
    try:
        torch = require("torch", "torch")
    except MissingDependency:
        return weights
    return {n: torch.tensor(w) if isinstance(w, np.ndarray) else w for n, w in weights.items()}


class _TorchMLPBase(BaseEstimator):
    """Parameters, training loop and forward pass shared by the classifier and regressor."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "hidden_layer_sizes": [str, tuple],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "random_state": [Interval(Integral, 0, 2**32 - 1, closed="both"), None],
        "device": [StrOptions(set(DEVICES))],
    }

    def __init__(
        self,
        hidden_layer_sizes: str | tuple[int, ...] = "64,32",
        max_epochs: int = 50,
        batch_size: int = 256,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        patience: int = 5,
        random_state: int | None = None,
        device: str = "auto",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.device = device

    def _loss(self, torch: Any, output: Any, target: Any) -> Any:
        raise NotImplementedError

    def __getstate__(self) -> dict[str, Any]:
        # A copy: object.__getstate__ hands back the instance's own __dict__.
        state = dict(super().__getstate__())
        weights = state.get("state_dict_")
        if isinstance(weights, dict):
            state["state_dict_"] = {name: _as_array(t) for name, t in weights.items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Models pickled before ``device`` existed load as trained on, and scoring on, auto.
        state.setdefault("device", "auto")
        weights = state.get("state_dict_")
        if isinstance(weights, dict):
            state["state_dict_"] = _as_tensors(weights)
        super().__setstate__(state)

    def _fit_network(self, X: np.ndarray, target: np.ndarray, n_outputs: int) -> None:
        """Standardize ``X``, train the network on ``target``, set the fitted attributes.

        ``target`` is already in training form: class codes (int64) for the classifier,
        the standardized float32 target of shape (n_samples, n_outputs) for the regressor.
        """
        torch = require("torch", "torch")
        sizes = _parse_hidden_layer_sizes(self.hidden_layer_sizes)
        device = torch.device(resolve_device(self.device, available=torch.cuda.is_available()))
        self.x_mean_, self.x_scale_ = _standardize_stats(X)
        features = ((X - self.x_mean_) / self.x_scale_).astype(np.float32)

        seed = self.random_state
        if seed is None:
            seed = int(np.random.randint(0, 2**31 - 1))
        # One private generator draws the initial weights, the validation split and, on a
        # CPU, the batch order, so a fit neither reads nor moves torch's global random
        # state. The first two are drawn on the CPU: a seed starts the same on any device.
        generator = torch.Generator().manual_seed(int(seed))

        with _torch_threads(torch):
            x_all, y_all = torch.from_numpy(features), torch.from_numpy(target)
            n_valid = int(len(features) * self.validation_fraction) if self.early_stopping else 0
            order = torch.randperm(len(features), generator=generator)
            train, valid = order[n_valid:], order[:n_valid]
            layers = _init_layers(torch, [features.shape[1], *sizes, n_outputs], generator, device)
            x_train, y_train = x_all[train], y_all[train]
            resident = _fits_on(torch, device, x_train.nbytes + y_train.nbytes)
            if resident:
                x_train, y_train = x_train.to(device), y_train.to(device)
                if device.type != "cpu":
                    generator = torch.Generator(device=device).manual_seed(int(seed))
            else:  # streamed a batch at a time from page-locked memory
                x_train, y_train = x_train.pin_memory(), y_train.pin_memory()
            valid_data = (x_all[valid].to(device), y_all[valid].to(device))
            self._train(torch, layers, (x_train, y_train), valid_data, generator, device)

        self.state_dict_: dict[str, Any] = {}
        for i, (weight, bias) in enumerate(layers):
            self.state_dict_[f"{2 * i}.weight"] = weight.detach().cpu().clone()
            self.state_dict_[f"{2 * i}.bias"] = bias.detach().cpu().clone()
        self.hidden_layer_sizes_ = sizes
        self.device_ = str(device)

    def _train(
        self,
        torch: Any,
        layers: list[tuple[Any, Any]],
        train: tuple[Any, Any],
        valid: tuple[Any, Any],
        generator: Any,
        device: Any,
    ) -> None:
        """Run Adam over ``train``; with rows in ``valid``, stop early and keep the best.

        ``train`` is on ``device``, or on the CPU (pinned) to stream a batch at a time;
        ``generator`` is on the same device as ``train``. Nothing in an epoch waits for the
        device: the only reads back are the two losses at the end of each epoch.
        """
        params = [p for layer in layers for p in layer]
        # Fused Adam is one kernel per step for all parameters; CPUs keep the default.
        fused = {"fused": True} if device.type == "cuda" else {}
        optimizer = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay, **fused)
        (x_train, y_train), (x_valid, y_valid) = train, valid
        n_train, n_valid = len(x_train), len(x_valid)
        streamed = x_train.device != device
        self.loss_curve_: list[float] = []
        self.validation_loss_curve_: list[float] = []
        best_loss, best_params, stale = float("inf"), None, 0
        for _ in range(self.max_epochs):
            total = torch.zeros((), dtype=torch.float64, device=device)
            order = torch.randperm(n_train, generator=generator, device=x_train.device)
            for batch in order.split(self.batch_size):
                x_batch, y_batch = x_train[batch], y_train[batch]
                if streamed:
                    x_batch = x_batch.pin_memory().to(device, non_blocking=True)
                    y_batch = y_batch.pin_memory().to(device, non_blocking=True)
                optimizer.zero_grad(set_to_none=True)
                loss = self._loss(torch, _forward(torch, layers, x_batch), y_batch)
                loss.backward()
                optimizer.step()
                total.add_(loss.detach(), alpha=len(batch))
            self.loss_curve_.append(float(total) / n_train)
            if not n_valid:
                continue
            with torch.no_grad():
                valid_loss = float(self._loss(torch, _forward(torch, layers, x_valid), y_valid))
            self.validation_loss_curve_.append(valid_loss)
            # Both losses are never negative, so scaling down the best one is a margin.
            if valid_loss < best_loss * (1.0 - _MIN_RELATIVE_IMPROVEMENT):
                best_loss, stale = valid_loss, 0
                best_params = [p.detach().clone() for p in params]
            else:
                stale += 1
                if stale >= self.patience:
                    break
        if best_params is not None:
            with torch.no_grad():
                for param, best in zip(params, best_params, strict=True):
                    param.copy_(best)
        self.n_iter_ = len(self.loss_curve_)
        self.best_validation_loss_ = best_loss if n_valid else None

    def _network_output(self, X: Any) -> np.ndarray:
        """The last layer's output for ``X``, in float64, computed in batches."""
        check_is_fitted(self, "state_dict_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        torch = require("torch", "torch")
        features = np.ascontiguousarray((X - self.x_mean_) / self.x_scale_, dtype=np.float64)
        n_layers = len(self.hidden_layer_sizes_) + 1
        # Scoring never refuses a device: a model trained on a GPU scores on a CPU.
        on_gpu = self.device != "cpu" and torch.cuda.is_available()
        device = torch.device("cuda" if on_gpu else "cpu")
        outputs = []
        with _torch_threads(torch), torch.inference_mode():
            # float64 inference makes each row's result independent of how rows are
            # batched, to the last few bits, whatever BLAS kernel a batch size picks.
            state = {
                n: torch.as_tensor(t).to(device, torch.float64) for n, t in self.state_dict_.items()
            }
            layers = _layers_of(state, n_layers)
            x_all = torch.from_numpy(features)
            for chunk in x_all.split(_PREDICT_BATCH[device.type]):
                outputs.append(_forward(torch, layers, chunk.to(device)))
            # One copy back for all batches: the device is not waited on per batch.
            return torch.cat(outputs).cpu().numpy()


class TorchMLPClassifier(ClassifierMixin, _TorchMLPBase):
    """Multilayer perceptron classifier trained with Adam on the cross-entropy loss.

    Parameters
    ----------
    hidden_layer_sizes : str or tuple of int, default="64,32"
        Widths of the hidden ReLU layers; text such as ``"64,32"`` comes from SPL.
    max_epochs : int, default=50
        Passes over the training data at most.
    batch_size : int, default=256
        Rows per gradient step.
    lr : float, default=1e-3
        Adam's learning rate.
    weight_decay : float, default=0.0
        L2 penalty, as Adam's ``weight_decay``.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows, stop once their loss has not
        improved for ``patience`` epochs, and keep the best epoch's weights.
    validation_fraction : float, default=0.1
        Share of the rows held out when ``early_stopping`` is on.
    patience : int, default=5
        Epochs without improvement before stopping early.
    random_state : int or None, default=None
        Seed for the initial weights, the validation split and the batch order.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to train: ``auto`` takes a CUDA GPU when torch sees one, else the CPU;
        ``cuda`` without a GPU is refused. Predictions run there too when it is present,
        else on the CPU, so a model trained on a GPU scores anywhere.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when ``X`` has string column names
    n_iter_ : int
        Epochs run.
    loss_curve_, validation_loss_curve_ : list of float
        Training and held-out loss per epoch (the latter empty without early stopping).
    best_validation_loss_ : float or None
    hidden_layer_sizes_ : tuple of int
        ``hidden_layer_sizes`` parsed.
    x_mean_, x_scale_ : ndarray of shape (n_features,)
        The standardization applied to ``X``.
    state_dict_ : dict of str to torch.Tensor
        The weights, on CPU, keyed as ``torch.nn.Sequential`` of Linear and ReLU keys them
        (numpy arrays in the pickled or skops-saved state).
    device_ : str
        The device the network was trained on (``cpu`` or ``cuda``).
    """

    def _loss(self, torch: Any, output: Any, target: Any) -> Any:
        return torch.nn.functional.cross_entropy(output, target)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any) -> TorchMLPClassifier:
        """Train on ``X`` (n_samples, n_features) and labels ``y`` of any sortable type."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        self._fit_network(X, codes.astype(np.int64), n_outputs=len(self.classes_))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        logits = self._network_output(X)
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        return probabilities

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Log of :meth:`predict_proba`, computed without underflow."""
        logits = self._network_output(X)
        logits -= logits.max(axis=1, keepdims=True)
        return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row."""
        logits = self._network_output(X)
        return self.classes_[np.argmax(logits, axis=1)]


class TorchMLPRegressor(RegressorMixin, _TorchMLPBase):
    """Multilayer perceptron regressor trained with Adam on the squared error.

    Both ``X`` and ``y`` are standardized for training; predictions are in ``y``'s units.
    ``y`` may have several columns. Parameters are those of :class:`TorchMLPClassifier`.

    Attributes
    ----------
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when ``X`` has string column names
    n_outputs_ : int
        Columns of ``y``; predictions are 1-d when it is 1.
    y_mean_, y_scale_ : ndarray of shape (n_outputs,)
        The standardization applied to ``y``.
    n_iter_, loss_curve_, validation_loss_curve_, best_validation_loss_,
    hidden_layer_sizes_, x_mean_, x_scale_, state_dict_, device_
        As for :class:`TorchMLPClassifier`; losses are in standardized units.
    """

    def _loss(self, torch: Any, output: Any, target: Any) -> Any:
        return torch.nn.functional.mse_loss(output, target)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: Any, y: Any) -> TorchMLPRegressor:
        """Train on ``X`` (n_samples, n_features) and numeric ``y`` (n_samples[, n_outputs])."""
        X, y = validate_data(
            self, X, y, dtype=[np.float64, np.float32], y_numeric=True, multi_output=True
        )
        y = np.asarray(y, dtype=np.float64)
        y_2d = y.reshape(len(y), -1)
        self.n_outputs_ = y_2d.shape[1]
        self.y_mean_, self.y_scale_ = _standardize_stats(y_2d)
        target = ((y_2d - self.y_mean_) / self.y_scale_).astype(np.float32)
        self._fit_network(X, target, n_outputs=self.n_outputs_)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets: shape (n_samples,) for one output, else (n_samples, n_outputs)."""
        outputs = self._network_output(X)
        predictions = outputs * self.y_scale_ + self.y_mean_
        return predictions.ravel() if self.n_outputs_ == 1 else predictions
