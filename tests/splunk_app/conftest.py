"""The Splunk app as shipped: `make package` builds it once per session."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

import pytest

from kepler._version import __version__ as VERSION

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def tarball() -> Path:
    """Build once per session, as `make test` on a fresh clone would."""
    proc = subprocess.run(
        ["make", "package"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"make package failed:\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}"
    return ROOT / "dist" / f"kepler-{VERSION}.tar.gz"


@pytest.fixture(scope="session")
def app(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app unpacked as Splunk installs it: etc/apps/kepler."""
    out = tmp_path_factory.mktemp("app")
    with tarfile.open(tarball) as tar:
        tar.extractall(out, filter="data")
    return out / "kepler"
