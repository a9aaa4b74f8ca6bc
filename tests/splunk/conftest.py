"""Fixtures for the Splunk-side tests: the vendored splunklib, the real recordings, commands."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENDOR_LIB = ROOT / "build" / "vendor" / "lib"
COMMANDS = Path(__file__).resolve().parent / "commands"
# Bytes a real splunkd wrote (*.input.gz) and what the SDK's samples answered (*.output),
# from splunk-sdk-python's history (Apache-2.0, see the folder's NOTICE).
RECORDINGS = ROOT / "tests" / "fixtures" / "scpv2-recordings"


@pytest.fixture(scope="session")
def vendor_lib() -> Path:
    """The unpacked splunk-sdk wheel (splunklib/ and its dist-info) the Splunk app ships."""
    if not (VENDOR_LIB / "splunklib" / "searchcommands").is_dir():
        pytest.fail(f"{VENDOR_LIB} has no splunklib: run `make vendor` (make test runs it)")
    return VENDOR_LIB


@pytest.fixture(scope="session")
def recordings() -> Path:
    if not (RECORDINGS / "countmatches.input.gz").is_file():
        pytest.fail(f"no protocol-v2 recordings in {RECORDINGS}")
    return RECORDINGS


@pytest.fixture(scope="session")
def countmatches_input(recordings: Path) -> bytes:
    return gzip.decompress((recordings / "countmatches.input.gz").read_bytes())


@pytest.fixture(scope="session")
def countmatches_output(recordings: Path) -> bytes:
    return (recordings / "countmatches.output").read_bytes()


@pytest.fixture(scope="session")
def countmatches(vendor_lib: Path) -> Path:
    """The SDK's sample StreamingCommand; needs the vendored splunklib."""
    return COMMANDS / "countmatches.py"


@pytest.fixture(scope="session")
def sum_command(vendor_lib: Path) -> Path:
    """The SDK's sample ReportingCommand (map and reduce phases)."""
    return COMMANDS / "sum.py"
