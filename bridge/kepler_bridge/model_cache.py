"""Each model version is loaded once and kept: no reloading from disk on every call."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

Loaded = tuple[Any, Any]  # (pipeline, ModelMeta)


class ModelCache:
    """A small LRU of loaded versions keyed by ``(name, version)``; a version is
    immutable in the registry, so an entry never goes stale, only old."""

    def __init__(self, size: int, loader: Callable[[str, int], Loaded]) -> None:
        self.size = max(1, size)
        self._loader = loader
        self._items: OrderedDict[tuple[str, int], Loaded] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple[str, int], threading.Lock] = {}
        self.loads = 0

    def get(self, name: str, version: int) -> Loaded:
        key = (name, version)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:  # one load per version even when requests race
            with self._lock:
                if key in self._items:
                    return self._items[key]
            loaded = self._loader(name, version)
            with self._lock:
                self.loads += 1
                self._items[key] = loaded
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
                self._loading.pop(key, None)
            return loaded

    def has(self, name: str, version: int) -> bool:
        with self._lock:
            return (name, version) in self._items

    def drop(self, name: str) -> None:
        with self._lock:
            for key in [k for k in self._items if k[0] == name]:
                del self._items[key]
