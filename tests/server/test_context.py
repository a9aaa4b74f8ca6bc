"""A process's context: one of each service, the one model cache shared by every scoring
job kind, built again (not inherited) in a forked child, released by close()."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kepler.server.context import ServerContext
from kepler.server.settings import ServerSettings


def test_a_context_has_one_model_cache_per_registry(tmp_path: Path) -> None:
    one = ServerContext(
        ServerSettings(home=tmp_path / "one", model_cache_size=3), component="worker"
    )
    assert one.cache is one.cache
    assert one.cache.size == 3
    two = ServerContext(ServerSettings(home=tmp_path / "two"), component="worker")
    assert two.cache is not one.cache


def test_close_releases_the_database_and_a_later_use_opens_it_again(tmp_path: Path) -> None:
    ctx = ServerContext(ServerSettings(home=tmp_path / "home"), component="bridge")
    job = ctx.jobs.create("fit", {"x": 1})
    engine = ctx.db.engine
    ctx.close(timeout=0)
    assert ctx.senders.open_count() == 0
    assert ctx.jobs.get(job.id).spec == {"x": 1}  # the engine opened again
    assert ctx.db.engine is not engine


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_workers_context_is_not_inherited_by_a_forked_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kepler_workers import app

    settings = ServerSettings(home=tmp_path / "home")
    monkeypatch.setattr(app, "settings", lambda: settings)
    monkeypatch.setattr(app, "_ctx", None)
    parent = app.context()
    assert app.context() is parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a context (and model cache) of its own, not the parent's
        child = app.context()
        os.write(write, b"1" if child is not parent and child.cache is not parent.cache else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert app.context() is parent
