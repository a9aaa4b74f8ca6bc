"""Which compute devices this process can train on, and turning ``device=auto`` into one.

Algorithms that can use a GPU declare ``device`` as ``auto``, ``cpu`` or ``cuda``. Torch is
the probe: it is an optional extra, so a process without it has only a CPU and nothing here
imports it. A CUDA probe must not run in a process that forks workers afterwards (CUDA does
not survive a fork), which is why workers look from their pool processes.
"""

from __future__ import annotations

import functools
import importlib.util
from typing import Any

from kepler.core.errors import BadParameter

__all__ = ["DEVICES", "cuda_available", "detect_devices", "resolve_device", "score_on_cpu"]

# What a ``device`` parameter accepts; kepler.core.algorithms declares the same choices.
DEVICES = ("auto", "cpu", "cuda")


@functools.cache
def _torch() -> Any:
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return torch


def cuda_available() -> bool:
    """Whether torch is installed, built with CUDA, and sees at least one GPU."""
    torch = _torch()
    return bool(torch is not None and torch.cuda.is_available())


@functools.cache
def detect_devices() -> tuple[str, ...]:
    """``("cpu",)``, or ``("cpu", "cuda:0 NVIDIA H100 80GB HBM3", ...)`` with CUDA GPUs."""
    found = ["cpu"]
    if cuda_available():
        cuda = _torch().cuda
        found += [f"cuda:{i} {cuda.get_device_name(i)}" for i in range(cuda.device_count())]
    return tuple(found)


def resolve_device(requested: str, *, available: bool | None = None) -> str:
    """``"cpu"`` or ``"cuda"`` for a ``device`` parameter; ``cuda`` without a GPU is refused.

    ``available`` overrides the probe (the caller has already looked).
    """
    if requested not in DEVICES:
        raise BadParameter(
            f"parameter device={requested!r} is not valid: expected one of {', '.join(DEVICES)}",
            detail={"parameter": "device", "value": str(requested)},
        )
    has_cuda = cuda_available() if available is None else available
    if requested == "auto":
        return "cuda" if has_cuda else "cpu"
    if requested == "cuda" and not has_cuda:
        raise BadParameter(
            "parameter device='cuda' cannot be used here: this worker has no CUDA GPU that "
            "torch can see (torch.cuda.is_available() is False, or torch is not installed); "
            "use device=auto or device=cpu, or run on a worker with an NVIDIA GPU and a CUDA "
            "build of torch",
            detail={"parameter": "device", "value": "cuda", "devices": list(detect_devices())},
        )
    return requested


def score_on_cpu(model: Any) -> None:
    """Set a fitted XGBoost model (bare, or inside a pipeline or a wrapper) to predict on the
    CPU, wherever it was trained.

    Kepler scores host data (pandas, numpy): a booster left on ``cuda`` copies every batch
    to the GPU with a warning, and on a machine without a GPU warns that it has none. The
    trees are the same on either device, so a model trained on a GPU scores anywhere.
    """
    steps = getattr(model, "steps", None)
    if steps:
        model = steps[-1][1]
    model = getattr(model, "estimator_", model)  # kepler.ml.pipeline's label wrapper
    is_xgboost = type(model).__module__.startswith("xgboost.") and hasattr(model, "get_booster")
    if is_xgboost and model.get_params().get("device") not in (None, "cpu"):
        model.set_params(device="cpu")
