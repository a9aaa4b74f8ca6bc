"""Fixtures for the search command's tests: the command as the app ships it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.splunk.kepler_command import write_shim


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `kepler` command's shim, run bare (`-S`) by the splunkd double."""
    return write_shim(tmp_path_factory.mktemp("bin"))
