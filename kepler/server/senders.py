"""HEC senders: where a caller's events may go (:func:`hec_target`), and each process's
pool of senders (:class:`SenderPool`): one per target, a bounded number, closed cleanly.

The process's own target (``KEPLER_HEC_*``: telemetry, the workers' writes) has one sender
for the life of the pool (:meth:`SenderPool.own`). Callers' targets (the ``X-Kepler-Hec-*``
headers of Splunk's command, already checked by :func:`hec_target`) are leased per
request (:meth:`SenderPool.lease`): at most ``KEPLER_HEC_MAX_SENDERS`` senders stay open;
past that the least recently used idle one is closed in the background (flushed for
``KEPLER_HEC_SHUTDOWN_TIMEOUT``, the rest to its disk queue, its thread ended). A sender in
use by a request is never closed under it; the count may pass the bound while more
requests than that use distinct targets at once, and comes back to it as they end.

What an evicted sender left in its disk queue waits for the next request to that target
(its folder is keyed by URL and token: no other target's sender reads it).
:meth:`SenderPool.close` runs when the process's context closes (the bridge's lifespan,
each worker process's ``worker_process_shutdown``): what is in memory goes to disk, none
lost. A process has one pool, in its :class:`~kepler.server.context.ServerContext`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

from kepler.core.errors import Forbidden, HecNotConfigured
from kepler.hec import HecSender, HecSettings
from kepler.hec._settings import base_url_problem, safe_url

log = logging.getLogger("kepler.hec")


@dataclass
class _Entry:
    sender: HecSender
    users: int = 0
    pinned: bool = False


def _key(settings: HecSettings) -> str:
    values = settings.model_dump(mode="json", exclude={"token"})
    token = settings.token.get_secret_value() if settings.token else ""
    values["token"] = hashlib.sha256(token.encode()).hexdigest()
    return json.dumps(values, sort_keys=True)


class SenderLease:
    """A sender held for one request: ``with lease as sender`` or ``release()`` at the end."""

    def __init__(self, pool: SenderPool, entry: _Entry, limit: int) -> None:
        self.sender = entry.sender
        self._pool, self._entry, self._limit = pool, entry, limit
        self._released = False

    def release(self) -> None:
        self._pool._release(self)

    def __enter__(self) -> HecSender:
        return self.sender

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


class SenderPool:
    """One process's HEC senders (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # least recently used first
        self._closing: dict[str, threading.Thread] = {}

    def own(self, settings: HecSettings) -> HecSender | None:
        """The one sender for the process's own settings (never evicted), or None
        without HEC."""
        if not settings.enabled:
            return None
        return self._get(settings, pinned=True, use=False).sender

    def lease(self, settings: HecSettings) -> SenderLease | None:
        """A sender for a caller's target, held until released; None without HEC."""
        if not settings.enabled:
            return None
        entry = self._get(settings, pinned=False, use=True)
        return SenderLease(self, entry, settings.max_senders)

    def open_count(self) -> int:
        with self._lock:
            return len(self._entries)

    def close(self, timeout: float | None = None) -> None:
        """Close every sender (each flushes for ``timeout``, default its shutdown_timeout,
        then writes what is left to its disk queue); all at once, so shutdown takes one
        timeout."""
        with self._lock:
            entries = list(self._entries.items())
            self._entries.clear()
        threads = [self._close_later([(k, e.sender)], timeout) for k, e in entries]
        with self._lock:
            threads += [t for t in self._closing.values() if t not in threads]
        for thread in threads:
            thread.join(_join_bound(timeout))
        with self._lock:
            for key, thread in list(self._closing.items()):
                if not thread.is_alive():
                    del self._closing[key]

    def _release(self, lease: SenderLease) -> None:
        with self._lock:
            if lease._released:
                return
            lease._released = True
            lease._entry.users -= 1
            evicted = self._trim(lease._limit)
        self._close_later(evicted)

    def _get(self, settings: HecSettings, *, pinned: bool, use: bool) -> _Entry:
        key = _key(settings)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            closing = self._closing.get(key)
        if entry is None and closing is not None:
            # The same target's sender is closing: let it release its queue folder first.
            closing.join(_join_bound(settings.shutdown_timeout))
        evicted: list[tuple[str, HecSender]] = []
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry(HecSender(settings))
            self._entries.move_to_end(key)
            entry.pinned = entry.pinned or pinned
            if use:
                entry.users += 1
            evicted = self._trim(settings.max_senders)
        self._close_later(evicted)
        return entry

    def _trim(self, limit: int) -> list[tuple[str, HecSender]]:
        """Under the lock: take the least recently used idle senders out past ``limit``."""
        evicted = []
        for key in list(self._entries):
            if len(self._entries) <= limit:
                break
            entry = self._entries[key]
            if entry.users == 0 and not entry.pinned:
                del self._entries[key]
                evicted.append((key, entry.sender))
        return evicted

    def _close_later(
        self, senders: list[tuple[str, HecSender]], timeout: float | None = None
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
            with self._lock:
                for key, _ in senders:
                    self._closing[key] = thread
            thread.start()
        return thread


def _join_bound(timeout: float | None) -> float:
    # close() = flush for the timeout, then at most one HTTP call to end, then disk writes.
    return (timeout if timeout is not None else 5.0) + 60.0


# -- where a caller's events may go ---------------------------------------------------


def hec_target(base: HecSettings, headers: dict[str, str] | None = None) -> HecSettings:
    """The bridge's HEC settings, overridden by what Splunk's setup page sent in
    ``X-Kepler-Hec-*`` headers (the token only ever in a header, never in a URL or log).

    Design: a caller chooses its target only among those an admin allowed. Holding a
    bridge token must not let anyone make the bridge POST anywhere (an open relay into
    internal networks) or switch TLS checks off; so the URL must match
    ``KEPLER_HEC_ALLOWED_URLS`` (base URLs: scheme, host and port equal, the path a prefix
    at a ``/``; parsed, never compared as strings, so ``https://splunk:8088.evil`` is not
    ``https://splunk:8088``) or be the bridge's own ``KEPLER_HEC_URL`` (the only one by
    default); and
    ``X-Kepler-Hec-Verify-Tls: false`` is honoured only with
    ``KEPLER_HEC_ALLOW_TLS_VERIFY_OFF=true``. A refused target is a 403 naming the setting
    (the request is refused rather than quietly sent elsewhere, so the Splunk user sees why).
    The token is the caller's: it is kept only in memory, and the disk queue is keyed by a
    hash of URL and token, so a queued batch only ever goes back to its own target."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    url = headers.get("x-kepler-hec-url")
    token = headers.get("x-kepler-hec-token")
    if not (url and token):
        return base
    ack = headers.get("x-kepler-hec-ack", "")
    verify = headers.get("x-kepler-hec-verify-tls", "")
    verify_tls = verify.lower() not in ("0", "false", "f", "no") if verify else True
    target = HecSettings(
        **{
            **base.model_dump(),
            "url": url,
            "token": token,
            "ack": ack.lower() in ("1", "true", "t", "yes") if ack else base.ack,
            "verify_tls": verify_tls,
            "index": headers.get("x-kepler-hec-index") or base.index,
        }
    )
    problem = base_url_problem(target.url)
    if problem:
        raise HecNotConfigured(
            f"the HEC URL Splunk sent (X-Kepler-Hec-Url, the setup page's HEC tab) "
            f"{problem}: give one such as https://splunk.example.com:8088"
        )
    allowed = [*base.allowed_urls, *([base.url] if base.url else [])]
    if not any(_allows(entry, target.url) for entry in allowed):
        listed = ", ".join(safe_url(a) for a in allowed) or "none"
        raise Forbidden(
            f"this bridge does not write to HEC at {target.safe_url()} (the URL in the setup "
            f"page's HEC tab, sent as X-Kepler-Hec-Url); allowed: {listed}. An admin allows it "
            "by adding it to KEPLER_HEC_ALLOWED_URLS (comma-separated base URLs) where the "
            "bridge runs, or the setup page can name an allowed URL",
            detail={"setting": "KEPLER_HEC_ALLOWED_URLS", "url": target.safe_url()},
        )
    if not verify_tls and not base.allow_tls_verify_off:
        raise Forbidden(
            f"the setup page's HEC tab asks to write to {target.safe_url()} without checking "
            "its TLS certificate, which this bridge does not allow: turn 'verify TLS' on in "
            "the HEC tab (with a certificate the bridge trusts: KEPLER_HEC_CA_BUNDLE), or an "
            "admin sets KEPLER_HEC_ALLOW_TLS_VERIFY_OFF=true where the bridge runs",
            detail={"setting": "KEPLER_HEC_ALLOW_TLS_VERIFY_OFF", "url": target.safe_url()},
        )
    return target


def _allows(entry: str, url: str) -> bool:
    if entry == "*":
        return True
    a, b = urlsplit(entry.rstrip("/")), urlsplit(url.rstrip("/"))
    default = {"http": 80, "https": 443}
    if a.scheme != b.scheme or (a.hostname or "") != (b.hostname or ""):
        return False
    if (a.port or default.get(a.scheme)) != (b.port or default.get(b.scheme)):
        return False
    prefix = a.path.rstrip("/")
    return b.path == prefix or b.path.startswith(prefix + "/")
