"""The worker process's model cache: one per registry, shared by every scoring job kind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kepler.server import model_cache
from kepler.server.model_cache import process_cache
from kepler.server.settings import ServerSettings


def test_process_cache_is_one_per_registry(tmp_path: Path) -> None:
    one = ServerSettings(home=tmp_path / "one", model_cache_size=3)
    assert process_cache(one) is process_cache(one)
    assert process_cache(one).size == 3
    assert process_cache(ServerSettings(home=tmp_path / "two")) is not process_cache(one)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_process_cache_is_not_inherited_by_a_forked_child(tmp_path: Path) -> None:
    settings = ServerSettings(home=tmp_path / "home")
    parent = process_cache(settings)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a fresh cache, not the parent's
        os.write(write, b"1" if process_cache(settings) is not parent else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert process_cache(settings) is parent and model_cache._caches
