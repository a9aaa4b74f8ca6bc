"""A model service's CPU and memory follow its artifacts and Cloud Run's CPU rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from kepler.core.errors import DeployConfigError
from kepler.deploy.sizing import GiB, MiB, folder_bytes, size_for


@pytest.mark.parametrize(
    ("model_bytes", "cpu", "memory"),
    [
        (0, "1", "1Gi"),
        (80 * MiB, "1", "1Gi"),  # 768 MiB + 3 x 80 MiB = 1008 MiB
        (90 * MiB, "1", "2Gi"),
        (1 * GiB, "1", "4Gi"),
        (2 * GiB, "2", "8Gi"),  # over 4 GiB needs 2 CPUs
        (4 * GiB, "4", "16Gi"),  # over 8 GiB needs 4
        (6 * GiB, "6", "24Gi"),
        (10 * GiB, "8", "32Gi"),
    ],
)
def test_size_for_model_bytes(model_bytes: int, cpu: str, memory: str) -> None:
    size = size_for(model_bytes)
    assert (size.cpu, size.memory) == (cpu, memory)


def test_model_too_large_for_cloud_run_says_so() -> None:
    with pytest.raises(DeployConfigError, match="32 GiB at most"):
        size_for(11 * GiB)


def test_folder_bytes_counts_nested_files(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "model.pkl").write_bytes(b"x" * 1000)
    (tmp_path / "MLmodel").write_bytes(b"y" * 24)
    assert folder_bytes(str(tmp_path)) == 1024
