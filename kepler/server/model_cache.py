"""Loaded model versions, kept in memory so a call does not reload the model from disk.

One cache class for every process that scores, one cache per process: its
:class:`~kepler.server.context.ServerContext` builds it (:meth:`ModelCache.for_store` over
the context's ``ModelStore``, ``KEPLER_MODEL_CACHE_SIZE`` entries) on first use, and the
bridge's apply routes, the async apply job and scheduled scoring all read it.

Correct across processes: an answer never comes from a deleted model or from the model a
name held before it was deleted and fitted again, whichever bridge took the DELETE.

The design: every :meth:`ModelCache.fetch` asks the registry which registration the
reference names *now* (``ModelStore.resolve``: one or two indexed queries, no artifact is
read) and looks the loaded model up under ``(name, version, run_id, source)``. A
registration is immutable, but a ``(name, version)`` pair is not: deleting ``pump`` and
fitting into it again makes a new ``pump@1`` with a new run and a new artifact location.
So an entry can never answer for another registration, and nothing has to be told about
a delete:

- a deleted model no longer resolves (404), on every bridge;
- a new fit into the same name resolves to a new key and is loaded;
- a load that raced a delete (resolved before it, loaded after) can only land under the
  old registration's key, which nothing resolves to any more; it ages out of the LRU.

The load reads the artifact location the resolve returned, so an entry always holds the
registration its key names. ``drop`` only frees memory early on the bridge that deleted.

The online path (``POST /v1/models/{ref}/predict``) cannot pay a registry query per
request, so :meth:`ModelCache.fetch_cached` remembers what a reference resolved to for at
most ``resolve_ttl`` seconds (``KEPLER_PREDICT_RESOLVE_TTL_S``). The bridge forgets a
name's resolutions itself whenever it sees the name change (:meth:`ModelCache.forget`:
after a delete, an alias move, a finished fit it answers); a change made where this
bridge cannot see it (another bridge, a worker's fit nobody polled through this bridge,
MLflow's own UI) shows after the TTL at the latest. A resolve that raced a ``forget`` is
not remembered, so the forget always wins.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kepler.ml.store import ModelStore

Loaded = tuple[Any, Any]  # (pipeline, ModelMeta)
Key = tuple[str, int, str, str]  # (name, version, run_id, source): one registration


def registration_key(info: Any) -> Key:
    """The cache key of a resolved ``VersionInfo``: it changes when a name is re-used."""
    return (info.name, int(info.version), info.run_id or "", info.source or "")


class ModelCache:
    """A small LRU of loaded registrations (see the module docstring for why it is keyed
    by registration, and resolves on every fetch)."""

    def __init__(
        self,
        size: int,
        loader: Callable[[Any], Loaded],
        resolver: Callable[[Any], Any] | None = None,
        *,
        resolve_ttl: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``loader(info)`` loads a resolved ``VersionInfo``; ``resolver(ref)`` resolves
        a ``ModelRef`` against the registry (``ModelStore.resolve``); ``resolve_ttl``:
        how long :meth:`fetch_cached` may reuse a resolution (0: never)."""
        self.size = max(1, size)
        self.resolve_ttl = max(0.0, resolve_ttl)
        self._clock = clock
        # str(ref) -> (resolved info, when it expires); a name's generation moves on forget.
        self._resolved: dict[str, tuple[Any, float]] = {}
        self._generation: dict[str, int] = {}
        self.resolves = 0
        self._loader = loader
        self._resolver = resolver
        self._items: OrderedDict[Key, Loaded] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Key, threading.Lock] = {}
        self.loads = 0

    @classmethod
    def for_store(cls, store: ModelStore, size: int, *, resolve_ttl: float = 0.0) -> ModelCache:
        """A cache over a ``ModelStore``: resolves with ``store.resolve``, loads with
        ``store.load_version`` (the artifact location the resolve returned)."""
        return cls(size, store.load_version, store.resolve, resolve_ttl=resolve_ttl)

    def fetch(self, ref: Any) -> tuple[Any, Loaded]:
        """``(info, (pipeline, meta))`` for the registration ``ref`` names now."""
        if self._resolver is None:
            raise RuntimeError("this cache was built without a resolver")
        info = self._resolver(ref)
        self.resolves += 1
        return info, self.get(info)

    def fetch_cached(self, ref: Any) -> tuple[Any, Loaded]:
        """As :meth:`fetch`, reusing what ``ref`` resolved to within ``resolve_ttl``
        seconds unless its name was :meth:`forget`-ed since (see the module docstring)."""
        if self._resolver is None:
            raise RuntimeError("this cache was built without a resolver")
        text = str(ref)
        now = self._clock()
        with self._lock:
            hit = self._resolved.get(text)
            generation = self._generation.get(ref.name, 0)
        if hit is not None and hit[1] > now:
            return hit[0], self.get(hit[0])
        info = self._resolver(ref)
        with self._lock:
            self.resolves += 1
            if self.resolve_ttl > 0 and self._generation.get(ref.name, 0) == generation:
                self._resolved[text] = (info, now + self.resolve_ttl)
        return info, self.get(info)

    def peek(self, ref: Any) -> tuple[Any, Loaded] | None:
        """What :meth:`fetch_cached` would answer when that needs neither the registry
        nor a load (so an event loop may ask), else None."""
        with self._lock:
            hit = self._resolved.get(str(ref))
            if hit is None or hit[1] <= self._clock():
                return None
            key = registration_key(hit[0])
            loaded = self._items.get(key)
            if loaded is None:
                return None
            self._items.move_to_end(key)
            return hit[0], loaded

    def forget(self, name: str) -> None:
        """Resolve every reference to ``name`` afresh from now on (it changed: a new
        version, an alias moved, a delete)."""
        with self._lock:
            self._generation[name] = self._generation.get(name, 0) + 1
            for text in [t for t in self._resolved if _name_of(t) == name]:
                del self._resolved[text]

    def get(self, info: Any) -> Loaded:
        """The loaded model of the resolved ``info``, loading it once."""
        key = registration_key(info)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:  # one load per registration even when requests race
            with self._lock:
                if key in self._items:
                    return self._items[key]
            loaded = self._loader(info)
            with self._lock:
                self.loads += 1
                self._items[key] = loaded
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
                self._loading.pop(key, None)
            return loaded

    def has(self, name: str, version: int) -> bool:
        """Whether some registration of ``name@version`` is loaded (it may be stale: only
        :meth:`fetch` says what to serve)."""
        with self._lock:
            return any(k[0] == name and k[1] == version for k in self._items)

    def drop(self, name: str) -> None:
        """Free every loaded registration of ``name`` (after this bridge deleted it)."""
        self.forget(name)
        with self._lock:
            for key in [k for k in self._items if k[0] == name]:
                del self._items[key]


def _name_of(ref_text: str) -> str:
    """The model name of ``str(ModelRef)``: ``pump``, ``pump@3``, ``pump:production``."""
    return ref_text.partition("@")[0].partition(":")[0]
