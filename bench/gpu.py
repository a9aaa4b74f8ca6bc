"""The GPU check: Kepler's GPU paths checked and timed on a CUDA machine, CPU beside it.

``python -m bench.gpu`` on a machine with a CUDA GPU (and a CUDA build of torch):

1. the core checks of the torch conformance tests, on ``device='cuda'``: scikit-learn's
   estimator checks, a pickle round trip whose weights are all CPU tensors, and the same
   predictions from the GPU and from ``device='cpu'``;
2. timings, printed as markdown tables: TorchMLP training (400,000 x 20 rows, 3 epochs, at
   batch 256 and 4096) on cpu and cuda, beside the same network in plain torch; XGBoost
   hist on cpu and cuda.

Without CUDA it says it skipped and exits 0; ``--cpu`` runs every step on the devices
there are (the CPU alone), which proves the script on any machine. ``--rows`` shrinks it.
Timings are printed, never asserted; copy them into ``docs/benchmarks.md`` by hand.
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.report import Table, seconds

HIDDEN = (64, 32)
CHECK_PARAMS: dict[str, Any] = {
    "hidden_layer_sizes": "16",
    "max_epochs": 20,
    "batch_size": 32,
    "lr": 1e-2,
}


def _data(rows: int, features: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features)).astype(np.float32)
    w = rng.normal(size=features)
    y = (X @ w + rng.normal(scale=0.5, size=rows) > 0).astype(np.int64)
    return X, y


def _sync(torch: Any, device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _timed(torch: Any, device: str, run: Callable[[], object], repeats: int) -> float:
    """The best of ``repeats`` wall times, the device drained before the clock stops."""
    best = float("inf")
    for _ in range(repeats):
        _sync(torch, device)
        start = time.perf_counter()
        run()
        _sync(torch, device)
        best = min(best, time.perf_counter() - start)
    return best


def check_on(device: str) -> list[str]:
    """The conformance tests' core checks on ``device``; the names of those that passed."""
    from sklearn.utils.estimator_checks import check_estimator

    from kepler.ml.torch_mlp import TorchMLPClassifier, TorchMLPRegressor

    passed = []
    for cls in (TorchMLPClassifier, TorchMLPRegressor):
        check_estimator(cls(**CHECK_PARAMS, random_state=0, device=device))
        passed.append(f"scikit-learn estimator checks: {cls.__name__}(device={device!r})")

    X, y = _data(2_000, 8)
    model = TorchMLPClassifier(**CHECK_PARAMS, random_state=0, device=device).fit(X, y)
    assert model.device_.startswith(device), model.device_
    restored = pickle.loads(pickle.dumps(model))  # noqa: S301 - bytes made just above
    devices = {t.device.type for t in restored.state_dict_.values()}
    assert devices == {"cpu"}, f"weights after a pickle round trip are on {devices}"
    passed.append("pickle round trip: every weight a CPU tensor")
    here = restored.predict_proba(X)
    restored.set_params(device="cpu")
    np.testing.assert_allclose(restored.predict_proba(X), here, rtol=1e-6, atol=1e-9)
    passed.append(f"predict on device='cpu' after a fit on {device!r}: same probabilities")
    passed += _train_and_score(device)
    return passed


def _train_and_score(device: str) -> list[str]:
    """Kepler's own fit, then a pickle round trip and a score, with warnings as errors."""
    import importlib.util
    import warnings

    import pandas as pd

    from kepler.core.spec import FitSpec
    from kepler.ml.outputs import predict_frame
    from kepler.ml.training import train

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(5_000, 4)), columns=["a", "b", "c", "d"])
    frame["label"] = np.where(frame["a"] + frame["b"] > 0, "yes", "no")
    passed = []
    for algorithm in ("TorchMLPClassifier", "XGBoostClassifier"):
        if algorithm.startswith("XGBoost") and importlib.util.find_spec("xgboost") is None:
            continue
        spec = FitSpec(
            algorithm,
            target="label",
            features=("a", "b", "c", "d"),
            params={"device": device, "random_state": 0},
        )
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            trained = train(frame, spec)
            pipeline = pickle.loads(pickle.dumps(trained.pipeline))  # noqa: S301 - made here
            out = predict_frame(pipeline, trained.meta, frame.drop(columns="label"))
        accuracy = float((out.iloc[:, 0] == frame["label"]).mean())
        assert accuracy > 0.9, f"{algorithm} on {device}: accuracy {accuracy:.3f}"
        passed.append(
            f"kepler fit {algorithm} device={device}, pickled, scored without a warning "
            f"(accuracy {accuracy:.3f})"
        )
    return passed


def torch_mlp_seconds(X: np.ndarray, y: np.ndarray, device: str, batch: int, epochs: int) -> float:
    import torch

    from kepler.ml.torch_mlp import TorchMLPClassifier

    def run() -> None:
        TorchMLPClassifier(
            hidden_layer_sizes=HIDDEN,
            max_epochs=epochs,
            batch_size=batch,
            early_stopping=False,
            random_state=0,
            device=device,
        ).fit(X, y)

    return _timed(torch, device, run, repeats=2)


def plain_torch_seconds(
    X: np.ndarray, y: np.ndarray, device: str, batch: int, epochs: int
) -> float:
    """The same network and optimizer written as a torch user would, as the reference."""
    import torch

    def run() -> None:
        torch.manual_seed(0)
        widths = [X.shape[1], *HIDDEN, 2]
        layers: list[Any] = []
        for fan_in, fan_out in itertools.pairwise(widths):
            layers += [torch.nn.Linear(fan_in, fan_out), torch.nn.ReLU()]
        net = torch.nn.Sequential(*layers[:-1]).to(device)
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        x_all = torch.from_numpy(X).to(device)
        y_all = torch.from_numpy(y).to(device)
        for _ in range(epochs):
            total = torch.zeros((), device=device)
            for idx in torch.randperm(len(x_all), device=device).split(batch):
                optimizer.zero_grad(set_to_none=True)
                loss = torch.nn.functional.cross_entropy(net(x_all[idx]), y_all[idx])
                loss.backward()
                optimizer.step()
                total += loss.detach() * len(idx)
            float(total)

    return _timed(torch, device, run, repeats=2)


def xgboost_seconds(X: np.ndarray, y: np.ndarray, device: str) -> float:
    import torch
    import xgboost

    def run() -> None:
        xgboost.XGBClassifier(
            n_estimators=100, tree_method="hist", device=device, n_jobs=-1, verbosity=0
        ).fit(X, y)

    return _timed(torch, device, run, repeats=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__)
    parser.add_argument("--rows", type=int, default=400_000, help="training rows (400,000)")
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batches", default="256,4096", help="batch sizes, comma separated")
    parser.add_argument(
        "--cpu", action="store_true", help="without CUDA, run every step on the CPU alone"
    )
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",") if b.strip()]

    try:
        import torch
    except ImportError:
        print("bench.gpu: skipped, torch is not installed (pip install 'kepler-ml[torch]')")
        return 0
    has_cuda = torch.cuda.is_available()
    if not has_cuda and not args.cpu:
        print(
            "bench.gpu: skipped, no CUDA GPU here (torch.cuda.is_available() is False); "
            "run it on a GPU machine, or pass --cpu to run it on the CPU alone"
        )
        return 0
    devices = ["cpu", "cuda"] if has_cuda else ["cpu"]
    from kepler.ml.devices import detect_devices

    print(f"# GPU check: {', '.join(detect_devices())}")
    print(f"\ntorch {torch.__version__}, Python {platform.python_version()}\n")

    for device in devices[1:] or devices:
        for line in check_on(device):
            print(f"- passed: {line}")

    X, y = _data(args.rows, args.features)
    if has_cuda:  # CUDA's context and kernels load on first use: not part of any timing
        torch_mlp_seconds(X[:4096], y[:4096], "cuda", 256, 1)
        plain_torch_seconds(X[:4096], y[:4096], "cuda", 256, 1)

    mlp = Table(
        ["batch", *[f"{kind} on {d}" for d in devices for kind in ("TorchMLP", "plain torch")]],
        caption=f"Training {args.rows:,} x {args.features} rows, {args.epochs} epochs, "
        f"hidden {HIDDEN} (best of 2)",
    )
    for batch in batches:
        cells = []
        for device in devices:
            cells.append(seconds(torch_mlp_seconds(X, y, device, batch, args.epochs)))
            cells.append(seconds(plain_torch_seconds(X, y, device, batch, args.epochs)))
        mlp.add(batch, *cells)
    print(mlp.markdown() + "\n")

    try:
        import xgboost  # noqa: F401
    except ImportError:
        print("XGBoost: skipped, not installed (pip install 'kepler-ml[xgboost]')")
        return 0
    xgb = Table(
        ["XGBoost hist, 100 trees", *devices],
        caption=f"XGBoost on {args.rows:,} x {args.features} rows (best of 2)",
    )
    xgb.add("fit", *[seconds(xgboost_seconds(X, y, d)) for d in devices])
    print(xgb.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
