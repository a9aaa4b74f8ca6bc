"""What a notebook user's `pip install kepler-ml` brings, and what lands in site-packages."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVER_ONLY = {
    "torch",
    "celery",
    "xgboost",
    "mlflow",
    "mlflow-skinny",
    "scikit-learn",
    "fastapi",
    "uvicorn",
    "redis",
    "sqlalchemy",
}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (found,) = out.glob("kepler_ml-*.whl")
    return found


def _metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        return zf.read(name).decode()


def test_wheel_base_requirements_exclude_server_parts(wheel: Path) -> None:
    base = []
    for line in _metadata(wheel).splitlines():
        if line.startswith("Requires-Dist:") and "extra ==" not in line:
            base.append(re.split(r"[<>=!~\[; ]", line.split(":", 1)[1].strip())[0].lower())
    assert base, "the SDK has requirements"
    assert not SERVER_ONLY & set(base), base
    assert {"httpx", "pandas", "pyarrow"} <= set(base)


def test_wheel_torch_extra_pins_cpu_build_version(wheel: Path) -> None:
    lines = [ln for ln in _metadata(wheel).splitlines() if ln.startswith("Requires-Dist: torch")]
    assert lines and all("==2.13.0" in ln for ln in lines), lines


def test_wheel_has_no_generic_top_level_names(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        tops = {
            n.split("/")[0]
            for n in zf.namelist()
            if not n.split("/")[0].endswith((".dist-info", ".data"))
        }
    assert tops == {"kepler", "kepler_bridge", "kepler_workers"}, tops
