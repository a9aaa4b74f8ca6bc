"""Shared data for the ML engine's tests: small frames shaped like Splunk's and a registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kepler.ml.store import ModelStore


def events(n: int = 120, *, seed: int = 0, as_text: bool = True) -> pd.DataFrame:
    """Events with two numeric fields, one categorical, a class and a numeric target.

    ``as_text`` writes every value as Splunk's CSV would: text, with '' for missing.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.normal(size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    label = np.where(x + (color == "red") > 0.3, "yes", "no")
    amount = 3.0 * x - 2.0 * z + (color == "blue") + rng.normal(scale=0.05, size=n)
    frame = pd.DataFrame(
        {"x": x, "z": z, "color": color, "label": label, "amount": amount, "_time": np.arange(n)}
    )
    if as_text:
        frame = frame.astype(str)
        frame.loc[3, "z"] = ""  # a missing value, as Splunk writes it
    return frame


@pytest.fixture(scope="session")
def make_events() -> Callable[..., pd.DataFrame]:
    return events


def new_store(root: Path) -> ModelStore:
    """A registry confined to ``root``: SQLite database and file artifacts."""
    return ModelStore(f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri())


@pytest.fixture(scope="session")
def store_factory() -> Callable[[Path], ModelStore]:
    return new_store


@pytest.fixture(scope="module")
def module_store(tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    """One registry per test module: creating MLflow's database takes seconds."""
    return new_store(tmp_path_factory.mktemp("registry"))
