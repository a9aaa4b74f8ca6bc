"""Each model version is loaded once, even under concurrent requests."""

from __future__ import annotations

import threading
import time

from kepler_bridge.model_cache import ModelCache


def test_cache_loads_each_version_once() -> None:
    calls: list[tuple[str, int]] = []

    def loader(name: str, version: int) -> tuple[object, object]:
        calls.append((name, version))
        time.sleep(0.05)
        return (f"{name}@{version}", None)

    cache = ModelCache(4, loader)
    threads = [threading.Thread(target=cache.get, args=("pump", 1)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.get("pump", 1)[0] == "pump@1"
    assert calls == [("pump", 1)]


def test_cache_evicts_least_recently_used_and_drop() -> None:
    loads: list[tuple[str, int]] = []
    cache = ModelCache(2, lambda n, v: (loads.append((n, v)), None))  # type: ignore[func-returns-value]
    cache.get("a", 1)
    cache.get("b", 1)
    cache.get("a", 1)  # a is now most recent
    cache.get("c", 1)  # evicts b
    cache.get("a", 1)
    assert loads == [("a", 1), ("b", 1), ("c", 1)]
    cache.get("b", 1)
    assert loads[-1] == ("b", 1)
    cache.drop("a")
    cache.get("a", 1)
    assert loads[-1] == ("a", 1)


def test_cache_has_tells_loaded_versions() -> None:
    cache = ModelCache(2, lambda n, v: (f"{n}@{v}", None))
    assert not cache.has("a", 1)
    cache.get("a", 1)
    assert cache.has("a", 1) and not cache.has("a", 2)
    cache.drop("a")
    assert not cache.has("a", 1)
