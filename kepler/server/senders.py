"""This process's HEC senders: one per target, a bounded number, closed cleanly at shutdown.

The process's own target (``KEPLER_HEC_*``: telemetry, the workers' writes) has one sender
for the life of the process (:func:`sender_for`). Callers' targets (the ``X-Kepler-Hec-*``
headers of Splunk's command, already checked by ``writeback.hec_target``) are leased per
request (:func:`lease_sender`): at most ``KEPLER_HEC_MAX_SENDERS`` senders stay open; past
that the least recently used idle one is closed in the background (flushed for
``KEPLER_HEC_SHUTDOWN_TIMEOUT``, the rest to its disk queue, its thread ended). A sender in
use by a request is never closed under it; the count may pass the bound while more
requests than that use distinct targets at once, and comes back to it as they end.

What an evicted sender left in its disk queue waits for the next request to that target
(its folder is keyed by URL and token: no other target's sender reads it).
:func:`close_senders` is the shutdown hook of the bridge (its lifespan) and of each worker
process (Celery's ``worker_process_shutdown``): what is in memory goes to disk, none lost.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from types import TracebackType

from kepler.hec import HecSender, HecSettings

log = logging.getLogger("kepler.hec")


@dataclass
class _Entry:
    sender: HecSender
    users: int = 0
    pinned: bool = False


_lock = threading.Lock()
_entries: OrderedDict[str, _Entry] = OrderedDict()  # least recently used first
_closing: dict[str, threading.Thread] = {}


def _key(settings: HecSettings) -> str:
    values = settings.model_dump(mode="json", exclude={"token"})
    token = settings.token.get_secret_value() if settings.token else ""
    values["token"] = hashlib.sha256(token.encode()).hexdigest()
    return json.dumps(values, sort_keys=True)


def sender_for(settings: HecSettings) -> HecSender | None:
    """This process's one sender for its own settings (never evicted), or None without HEC."""
    if not settings.enabled:
        return None
    entry = _get(settings, pinned=True, use=False)
    return entry.sender


class SenderLease:
    """A sender held for one request: ``with lease as sender`` or ``release()`` at the end."""

    def __init__(self, key: str, entry: _Entry, limit: int) -> None:
        self.sender = entry.sender
        self._key, self._entry, self._limit = key, entry, limit
        self._released = False

    def release(self) -> None:
        with _lock:
            if self._released:
                return
            self._released = True
            self._entry.users -= 1
            evicted = _trim(self._limit)
        _close_later(evicted)

    def __enter__(self) -> HecSender:
        return self.sender

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def lease_sender(settings: HecSettings) -> SenderLease | None:
    """A sender for a caller's target, held until released; None without HEC."""
    if not settings.enabled:
        return None
    key = _key(settings)
    entry = _get(settings, pinned=False, use=True)
    return SenderLease(key, entry, settings.max_senders)


def open_senders() -> int:
    with _lock:
        return len(_entries)


def close_senders(timeout: float | None = None) -> None:
    """Close every sender (each flushes for ``timeout``, default its shutdown_timeout, then
    writes what is left to its disk queue); all at once, so shutdown takes one timeout."""
    with _lock:
        entries = list(_entries.items())
        _entries.clear()
    threads = [_close_later([(k, e.sender)], timeout) for k, e in entries]
    with _lock:
        threads += [t for t in _closing.values() if t not in threads]
    for thread in threads:
        thread.join(_join_bound(timeout))
    with _lock:
        for key, thread in list(_closing.items()):
            if not thread.is_alive():
                del _closing[key]


def _get(settings: HecSettings, *, pinned: bool, use: bool) -> _Entry:
    key = _key(settings)
    with _lock:
        entry = _entries.get(key)
        if entry is not None:
            _entries.move_to_end(key)
        closing = _closing.get(key)
    if entry is None and closing is not None:
        # The same target's sender is closing: let it release its queue folder first.
        closing.join(_join_bound(settings.shutdown_timeout))
    evicted: list[tuple[str, HecSender]] = []
    with _lock:
        entry = _entries.get(key)
        if entry is None:
            entry = _entries[key] = _Entry(HecSender(settings))
        _entries.move_to_end(key)
        entry.pinned = entry.pinned or pinned
        if use:
            entry.users += 1
        evicted = _trim(settings.max_senders)
    _close_later(evicted)
    return entry


def _trim(limit: int) -> list[tuple[str, HecSender]]:
    """Under the lock: take the least recently used idle senders out past ``limit``."""
    evicted = []
    for key in list(_entries):
        if len(_entries) <= limit:
            break
        entry = _entries[key]
        if entry.users == 0 and not entry.pinned:
            del _entries[key]
            evicted.append((key, entry.sender))
    return evicted


def _close_later(
    senders: list[tuple[str, HecSender]], timeout: float | None = None
) -> threading.Thread:
    def close() -> None:
        for _, sender in senders:
            try:
                report = sender.close(
                    sender.settings.shutdown_timeout if timeout is None else timeout
                )
            except Exception:  # closing must not fail a request or a shutdown
                log.exception("HEC: closing a sender failed")
                continue
            if report.spooled or report.pending:
                log.info(
                    "HEC sender for %s closed; %d events wait in its disk queue",
                    sender.settings.safe_url(),
                    report.spooled,
                )

    thread = threading.Thread(target=close, name="kepler-hec-close", daemon=True)
    if senders:
        with _lock:
            for key, _ in senders:
                _closing[key] = thread
        thread.start()
    return thread


def _join_bound(timeout: float | None) -> float:
    # close() = flush for the timeout, then at most one HTTP call to end, then disk writes.
    return (timeout if timeout is not None else 5.0) + 60.0
