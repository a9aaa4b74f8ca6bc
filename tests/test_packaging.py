"""What a notebook user's `pip install kepler-ml` brings, and what lands in site-packages."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIP_OFFLINE = (sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-deps")
PIP_OFFLINE += ("--ignore-installed",)
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
def dist() -> list[Path]:
    """`make dist`: what the README tells a notebook user to install from."""
    proc = subprocess.run(["make", "dist"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return sorted((ROOT / "dist").glob("kepler_ml-*"))


@pytest.fixture(scope="module")
def wheel(dist: list[Path]) -> Path:
    (found,) = (p for p in dist if p.suffix == ".whl")
    return found


def test_make_dist_builds_a_wheel_and_an_sdist_of_this_version(dist: list[Path]) -> None:
    from kepler._version import __version__

    names = {p.name for p in dist}
    assert names == {
        f"kepler_ml-{__version__}-py3-none-any.whl",
        f"kepler_ml-{__version__}.tar.gz",
    }, names
    with tarfile.open(next(p for p in dist if p.name.endswith(".tar.gz"))) as tar:
        members = tar.getnames()
    for needed in ("pyproject.toml", "kepler/__init__.py", "bridge/kepler_bridge/app.py"):
        assert f"kepler_ml-{__version__}/{needed}" in members, needed


def test_wheel_installs_without_an_index(wheel: Path) -> None:
    """The README's `pip install dist/kepler_ml-...whl`: pip takes the file itself."""
    proc = subprocess.run(
        [*PIP_OFFLINE, "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


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
