"""The core runs in Splunk's Python: standard library only, no numpy, no network code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCKED = [
    "numpy",
    "pandas",
    "pyarrow",
    "httpx",
    "requests",
    "urllib3",
    "sklearn",
    "pydantic",
    "pydantic_settings",
    "socket",
    "ssl",
    "http",
    "urllib",
    "typer",
    "tqdm",
]

PROBE = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
BLOCKED = {BLOCKED!r}

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("blocked in Splunk's Python: " + name)
        return None

sys.meta_path.insert(0, Block())
import kepler.core.spec, kepler.core.algorithms, kepler.core.errors, kepler.core.refs
import kepler.core.wire
line = "fit RandomForestClassifier failure from temp* into pump n_estimators=10"
spec = kepler.core.spec.parse(line)
assert spec.params == {{"n_estimators": 10}}, spec
loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
assert not loaded, loaded
print("ok")
"""


def test_core_imports_under_bare_python_without_heavy_or_network_modules() -> None:
    # -S: no site-packages, as inside Splunk; -I would also drop the repo path we add.
    out = subprocess.run([sys.executable, "-S", "-c", PROBE], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
