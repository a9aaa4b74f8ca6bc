"""The Pythons Splunk embeds, for the tests of what runs inside Splunk.

Splunk 9.x runs app scripts on Python 3.9, Splunk 10.x on 3.9 or 3.13 (`python.required`).
`make pythons` (run by `make test`) unpacks real CPython builds of both from Debian's archive
under build/pythons (packaging/splunk_python.sh). The `splunk_python` fixture
(tests/conftest.py) runs a test once under each:

    def test_shim_runs(app: Path, splunk_python: SplunkPython) -> None:
        subprocess.run([*splunk_python.argv, str(app / "bin" / "kepler_command.py")], ...)
        with Splunkd(script, python=splunk_python.executable, python_args=["-S"]) as splunkd:
            ...

A missing or broken interpreter fails the test (never a skip): the code that runs inside
Splunk is only known to run there once it ran on these.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PYTHONS_BIN", "SPLUNK_PYTHONS", "SplunkPython", "find"]

SPLUNK_PYTHONS = ("3.9", "3.13")
PYTHONS_BIN = Path(__file__).resolve().parents[2] / "build" / "pythons" / "bin"


@dataclass(frozen=True)
class SplunkPython:
    """One of Splunk's Pythons: `executable` starts it; `argv` starts it as Splunk does,
    bare (`-S`: no site-packages; Splunk's Python has none of ours)."""

    version: str
    executable: str

    @property
    def argv(self) -> list[str]:
        return [self.executable, "-S"]

    @property
    def tag(self) -> str:
        """`py39`, `py313`: for names that must differ between the interpreters."""
        return "py" + self.version.replace(".", "")


def find(version: str) -> SplunkPython:
    """The unpacked interpreter of `version`, checked to start and to be that version;
    AssertionError (a test failure) naming `make pythons` otherwise."""
    executable = PYTHONS_BIN / f"python{version}"
    fix = "run `make pythons` (make test runs it)"
    assert executable.is_file(), f"no Python {version} at {executable}: {fix}"
    proc = subprocess.run(
        [str(executable), "-S", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, (
        f"{executable} does not start ({proc.stderr[-2000:]}); "
        f"run `rm -rf {PYTHONS_BIN.parent} && make pythons`"
    )
    assert proc.stdout.strip() == version, f"{executable} is Python {proc.stdout.strip()}"
    return SplunkPython(version, str(executable))
