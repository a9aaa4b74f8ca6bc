"""The benchmarks' one synthetic dataset: numeric features and a binary target, seeded.

Every section measures on the same rows, so their figures compare. The target depends on
the features linearly, through interactions and through a threshold, with label noise, so
a tree model has structure to find and nothing is perfectly separable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEED = 20240607
N_FEATURES = 20
FEATURES = [f"f{i:02d}" for i in range(N_FEATURES)]
TARGET = "label"

DESCRIPTION = (
    f"`numpy.random.default_rng({SEED})`: {N_FEATURES} float64 features `f00`..`f19`, "
    "standard normal; binary int64 target `label` = 1 where "
    "`x @ w + 0.8·f00·f01 − 0.6·|f02| + 0.5·(f03 > 0.5) + ε > 0` "
    "(w ~ N(0, 0.5²) with `f15`..`f19` weighted 0, i.e. pure noise; ε ~ N(0, 1)); "
    "no missing values"
)


def synthetic(rows: int, seed: int = SEED) -> pd.DataFrame:
    """``rows`` rows of ``FEATURES`` and ``TARGET``; the same ``seed`` gives the same rows."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, N_FEATURES))
    w = rng.normal(0.0, 0.5, N_FEATURES)
    w[15:] = 0.0
    signal = (
        x @ w
        + 0.8 * x[:, 0] * x[:, 1]
        - 0.6 * np.abs(x[:, 2])
        + 0.5 * (x[:, 3] > 0.5)
        + rng.standard_normal(rows)
    )
    frame = pd.DataFrame(x, columns=FEATURES)
    frame[TARGET] = (signal > 0).astype(np.int64)
    return frame
