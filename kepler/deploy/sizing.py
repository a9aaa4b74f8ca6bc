"""CPU and memory for a model's serving service, from the size of its saved artifacts.

A loaded model takes a few times its pickle on the heap (unpickled arrays, the frames of
one apply request), on top of the bridge process itself. Cloud Run sells memory in steps
and ties the largest memory to a minimum CPU count; both rules live here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from kepler.core.errors import DeployConfigError

MiB = 1024 * 1024
GiB = 1024 * MiB

# The bridge process with pandas, scikit-learn and MLflow imported, before any model.
BASE_BYTES = 768 * MiB
# Heap per byte of saved model: the unpickled objects plus one request's frames.
MODEL_FACTOR = 3
# Memory steps offered, and the fewest CPUs Cloud Run allows with each.
_STEPS: tuple[tuple[int, str, str], ...] = (
    (1 * GiB, "1Gi", "1"),
    (2 * GiB, "2Gi", "1"),
    (4 * GiB, "4Gi", "1"),
    (8 * GiB, "8Gi", "2"),
    (16 * GiB, "16Gi", "4"),
    (24 * GiB, "24Gi", "6"),
    (32 * GiB, "32Gi", "8"),
)


@dataclass(frozen=True)
class Size:
    cpu: str
    memory: str
    model_bytes: int


def size_for(model_bytes: int) -> Size:
    """The smallest Cloud Run size that holds a model saved in ``model_bytes`` bytes."""
    need = BASE_BYTES + MODEL_FACTOR * max(0, model_bytes)
    for limit, memory, cpu in _STEPS:
        if need <= limit:
            return Size(cpu=cpu, memory=memory, model_bytes=model_bytes)
    raise DeployConfigError(
        f"the model's artifacts take {model_bytes / GiB:.1f} GiB, too large to serve from "
        "one Cloud Run instance (32 GiB at most); apply it through the bridge's workers "
        "or make the model smaller",
        detail={"model_bytes": model_bytes},
    )


def folder_bytes(path: str) -> int:
    """Total size of the files under ``path``."""
    total = 0
    for root, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    return total
