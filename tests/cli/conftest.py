"""Fixtures for the CLI's tests: a real stack (bridge, worker, MLflow on SQLite) and a
runner that starts `python -m kepler` as a person's shell would, with its output piped."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest

from kepler._stack import LocalStack

Run = Callable[..., subprocess.CompletedProcess[str]]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cli_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """One stack for every CLI test (the SQLite broker: the CLI does not see the broker)."""
    with LocalStack(tmp_path_factory.mktemp("cli-stack")) as stack:
        yield stack


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment with no KEPLER_* but ``extra``, and a home of the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    # A terminal type that takes colours: piped output must still have none.
    env.update(KEPLER_HOME=str(home), PYTHONPATH=str(ROOT), TERM="xterm-256color")
    for forcing in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "TTY_COMPATIBLE"):
        env.pop(forcing, None)
    env.update(extra)
    return env


@pytest.fixture
def run_in(tmp_path: Path) -> Callable[..., Run]:
    """``run_in(env)(*args, input=None, timeout=120)``: `kepler <args>` with exactly ``env``."""

    def bind(env: dict[str, str]) -> Run:
        def run(
            *args: str, input: str | None = None, timeout: float = 180
        ) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "kepler", *args],
                env=env,
                input=input,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=tmp_path,
            )

        return run

    return bind


@pytest.fixture
def kepler(cli_stack: LocalStack, run_in: Callable[..., Run], tmp_path: Path) -> Run:
    """`kepler ...` against the stack with its admin token."""
    env = clean_env(tmp_path / "home", KEPLER_URL=cli_stack.url, KEPLER_TOKEN=cli_stack.token)
    return run_in(env)


@pytest.fixture
def kepler_user(cli_stack: LocalStack, run_in: Callable[..., Run], tmp_path: Path) -> Run:
    """`kepler ...` with the user-level token (no aliases, no deletions)."""
    env = clean_env(tmp_path / "home", KEPLER_URL=cli_stack.url, KEPLER_TOKEN=cli_stack.user_token)
    return run_in(env)


@pytest.fixture(scope="session")
def pumps_frame() -> pd.DataFrame:
    """Pumps that fail when hot and shaking: something a classifier learns."""
    import numpy as np

    rng = np.random.default_rng(7)
    temp = rng.normal(60, 10, 200)
    vibration = rng.normal(3, 1, 200)
    failure = ((temp > 65) & (vibration > 3)).astype(int)
    return pd.DataFrame({"temp": temp, "vibration": vibration, "failure": failure})


@pytest.fixture
def pumps_csv(tmp_path: Path, pumps_frame: pd.DataFrame) -> Path:
    path = tmp_path / "pumps.csv"
    pumps_frame.to_csv(path, index=False)
    return path


@pytest.fixture
def pumps_parquet(tmp_path: Path, pumps_frame: pd.DataFrame) -> Path:
    path = tmp_path / "pumps.parquet"
    pumps_frame.to_parquet(path, index=False)
    return path
