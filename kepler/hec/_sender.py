"""HecSender: batches events to Splunk's HTTP Event Collector and loses none of them.

``send()`` encodes an event on the caller's thread (a bad event is refused there) and adds
it to the open batch; one background thread posts sealed batches (gzip, keep-alive), polls
acknowledgements, retries with backoff and jitter, and spools to the disk queue while HEC
stays unreachable. ``flush()`` waits until every accepted event is delivered or on disk.

Delivery, and why each unique event lands once in the index:

* 503 / code 9 / 5xx / refused connections: HEC took nothing, so the batch is resent on
  the same channel after ``backoff * 2**attempt`` (full jitter).
* With ``ack`` on, a batch counts as delivered only once ``/services/collector/ack`` says
  so. HEC numbers acks per channel from 0, one by one; the sender posts one request at a
  time per channel, so when an answer is lost (dropped connection, timeout) the lost
  request's ack id can only be ``last_id + 1``. The sender records it as that id, moves new
  requests to a fresh channel (nothing else can take that id), and polls it: true means it
  was indexed (no resend, no duplicate); still unknown after ``ack_timeout`` means it was
  not, and it is resent. An ack id lower than one already seen means HEC restarted and
  forgot the channel: its unacknowledged batches are resent on a fresh channel.
* Without ``ack``, a lost answer cannot be told from a lost request: the batch is resent
  (at least once). Turn ``ack`` on where duplicates matter.
* Data errors (4xx with ``invalid-event-number`` N): HEC indexed events before N; event N
  is reported (its sequence number, HEC's code and text) and the rest are resent.
* Token or URL errors (codes 1-4, 10, 11, 14, 16, 404): resending cannot help; the events
  wait in the disk queue and the error is logged once and reported by ``flush()``.

The bound, and why nothing accepted is lost: ``KEPLER_HEC_QUEUE_MAX_BYTES`` counts the disk
queue plus every event in memory not yet on disk (uncompressed, so more than it will take
there). ``send()`` accepts events only while all of them fit; past that it raises
:class:`HecQueueFull` at once, naming HEC's URL and its last error, and accepts nothing of
that call. So every accepted event can always go to disk: when HEC is down, and at
``close()`` (the bridge's and the workers' shutdown hooks call it on SIGTERM).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import random
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from kepler.core.errors import HecNotConfigured, HecQueueFull, HecRejected, HecUnavailable
from kepler.hec._event import as_envelope, encode
from kepler.hec._settings import HecSettings
from kepler.hec._spool import DiskQueue, legacy_batches, target_folder
from kepler.hec._state import MAX_REPORTED, Batch, Channel, HecReport, RejectedEvent
from kepler.hec._transport import Outcome, Transport

log = logging.getLogger("kepler.hec")


class HecSender:
    """Send events to HEC in batches; ``with HecSender() as hec: hec.send({...})``."""

    def __init__(self, settings: HecSettings | None = None, **overrides: Any) -> None:
        if settings is None:
            settings = HecSettings(**overrides)
        elif overrides:
            settings = HecSettings(**{**settings.model_dump(), **overrides})
        if not settings.enabled:
            raise HecNotConfigured(
                "HEC is not configured: set KEPLER_HEC_URL (https://<splunk>:8088) and "
                "KEPLER_HEC_TOKEN, or pass url= and token="
            )
        self.settings = s = settings
        self._defaults = {
            k: v
            for k, v in (
                ("host", s.host),
                ("source", s.source),
                ("sourcetype", s.sourcetype),
                ("index", s.index),
            )
            if v
        }
        self._disk = DiskQueue(_queue_folder(s))
        self._channel = Channel(s.channel or str(uuid.uuid4()))
        self._channels: list[Channel] = [self._channel]
        self._transport = Transport(s)
        self._inflight_events = 0
        self._cond = threading.Condition()
        self._open: list[bytes] = []
        self._open_bytes = 0
        self._open_first = 0
        self._open_since = 0.0
        self._ready: deque[Batch] = deque()
        self._inflight = 0
        self._mem_bytes = 0
        self._backed_bytes = 0  # of _mem_bytes, batches read back from disk (still there)
        self._loaded: set[Path] = set()
        self._down = False
        self._probe_at = 0.0
        self._next_poll = 0.0
        self._disk_error: str | None = None  # the disk refused a write (OSError)
        self._spool_at = 0.0
        self._stop = False
        self._closed = False
        self._warned: set[str] = set()
        self._report = HecReport(queue_max_bytes=s.queue_max_bytes)
        self._thread = threading.Thread(target=self._run, name="kepler-hec", daemon=True)
        self._thread.start()
        _LIVE.add(self)

    # -- public -----------------------------------------------------------------------

    def send(self, event: Any) -> None:
        """Accept one event: a :func:`make_event` envelope, an envelope-shaped dict, or a
        payload (dict, string, dataclass, pydantic model) sent with the default metadata."""
        self._accept([self._encode(event)])

    def send_many(self, events: Iterable[Any], *, atomic: bool = False) -> int:
        """Accept many events; returns how many. Encodes in slices so memory stays flat;
        with ``atomic``, encodes them all first and accepts all of them or none (a full
        queue then refuses the whole call, so a retry of it cannot duplicate a part)."""
        count = 0
        chunk: list[bytes] = []
        defaults, limit = self._defaults, self.settings.max_event_bytes
        for event in events:
            if type(event) is dict and "event" not in event:  # a plain payload: the fast path
                data = encode({"event": event}, defaults)
                if len(data) > limit:
                    data = self._encode(event)  # raises with the reason
            else:
                data = self._encode(event)
            chunk.append(data)
            if len(chunk) >= 1000 and not atomic:
                self._accept(chunk)
                count += len(chunk)
                chunk = []
        if chunk:
            self._accept(chunk)
            count += len(chunk)
        return count

    def flush(self, timeout: float | None = None) -> HecReport:
        """Wait until every accepted event is delivered (acknowledged, with ``ack`` on) or
        in the disk queue; with HEC answering, also until the disk queue is drained."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._seal()
            self._cond.notify_all()
            while not self._settled():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(0.5 if left is None else min(left, 0.5))
            return self.report()

    def report(self) -> HecReport:
        with self._cond:
            r = self._report
            pending = len(self._open) + self._inflight_events
            pending += sum(len(b.events) for b in self._ready)
            pending += sum(len(b.events) for ch in self._channels for b in ch.unacked.values())
            return HecReport(
                accepted=r.accepted,
                delivered=r.delivered,
                rejected=r.rejected,
                spooled=self._disk.events,
                pending=pending,
                resent_batches=r.resent_batches,
                queue_bytes=self._disk.size,
                queue_max_bytes=self.settings.queue_max_bytes,
                last_error=r.last_error,
                rejected_events=list(r.rejected_events),
            )

    def close(self, timeout: float | None = None) -> HecReport:
        """Flush, then stop; what is still in memory after ``timeout`` goes to the disk queue."""
        if self._closed:
            return self.report()
        report = self.flush(timeout)
        with self._cond:
            self._closed = True
            self._stop = True
            self._cond.notify_all()
        self._thread.join()
        self._transport.close()
        self._disk.close()
        _LIVE.discard(self)
        return self.report() if report.pending else report

    def __enter__(self) -> HecSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def channel(self) -> str:
        return self._channel.guid

    # -- accepting (caller's thread) --------------------------------------------------------

    def _encode(self, event: Any) -> bytes:
        data = encode(as_envelope(event), self._defaults)
        if len(data) > self.settings.max_event_bytes:
            raise HecRejected(
                f"an event of {len(data)} bytes is over HEC's maxEventSize "
                f"({self.settings.max_event_bytes} bytes, KEPLER_HEC_MAX_EVENT_BYTES); split it"
            )
        return data

    def _accept(self, encoded: list[bytes]) -> None:
        s = self.settings
        size = sum(len(e) for e in encoded)
        with self._cond:
            if self._closed:
                raise RuntimeError("this HecSender is closed")
            waited_since = time.monotonic()
            while True:
                held = self._disk.size + self._mem_bytes - self._backed_bytes
                if held + size > s.queue_max_bytes:
                    raise HecQueueFull(self._full_message(held, size), detail=self._full_detail())
                if self._mem_bytes + size <= s.max_memory_bytes or self._mem_bytes == 0:
                    break
                if time.monotonic() - waited_since > s.timeout:
                    raise HecUnavailable(
                        f"HEC at {s.safe_url()} has not taken events for {s.timeout:.0f}s and "
                        f"{self._mem_bytes} bytes wait in memory; nothing more is accepted now "
                        f"(last error: {self._report.last_error or 'none'})"
                    )
                self._cond.wait(0.1)
            for data in encoded:
                if not self._open:
                    self._open_first = self._report.accepted
                    self._open_since = time.monotonic()
                self._open.append(data)
                self._open_bytes += len(data)
                self._report.accepted += 1
                if len(self._open) >= s.batch_events or self._open_bytes >= s.batch_bytes:
                    self._seal()
            self._mem_bytes += size
            self._cond.notify_all()

    def _seal(self) -> None:
        if self._open:
            self._ready.append(Batch(self._open, self._open_first, self._open_bytes))
            self._open, self._open_bytes = [], 0

    def _settled(self) -> bool:
        if self._open or self._inflight or any(ch.unacked for ch in self._channels):
            return False
        if self._ready:  # HEC down and the disk refusing: nothing can move until one is back
            return self._down and self._disk_error is not None
        return self._down or len(self._disk) == len(self._loaded) == 0

    def _full_message(self, held: int, size: int) -> str:
        s = self.settings
        if self._down:
            why = (
                f"HEC at {s.safe_url()} is down or unreachable "
                f"(last error: {self._report.last_error or 'none'})"
            )
            fix = (
                "Check that Splunk's HTTP Event Collector is enabled and reachable from here; "
                "once it answers, the queue drains (in order, each event once) and requests "
                "are taken again"
            )
        elif len(self._disk):
            why = f"the queue is still draining to HEC at {s.safe_url()}"
            fix = "Retry once it has drained"
        else:
            why = (
                f"HEC at {s.safe_url()} has not taken them yet: it is slow, down or "
                f"unreachable (last error: {self._report.last_error or 'none'})"
            )
            fix = "Check that Splunk's HTTP Event Collector is enabled and reachable from here"
        return (
            f"the HEC queue is full: {held} bytes wait for HEC (on disk and in memory) and "
            f"{size} more would pass KEPLER_HEC_QUEUE_MAX_BYTES ({s.queue_max_bytes}); {why}. "
            f"Nothing of this request was accepted. {fix}, or raise KEPLER_HEC_QUEUE_MAX_BYTES "
            "where the bridge and workers run if the disk has room"
        )

    def _full_detail(self) -> dict[str, Any]:
        return {
            "hec_url": self.settings.safe_url(),
            "queue_bytes": self._disk.size,
            "queue_max_bytes": self.settings.queue_max_bytes,
            "hec_down": self._down,
        }

    # -- the background thread -------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                task = self._next_task()
                if task is None:
                    if self._stop:
                        break
                    continue
            try:
                task()
            except Exception:  # never let the thread die with events in memory
                log.exception("HEC sender: unexpected error; the batch stays queued")
                time.sleep(0.2)
        self._spool_memory()

    def _next_task(self) -> Any:
        """Under the lock: the next thing to do, or None after waiting a little."""
        s = self.settings
        now = time.monotonic()
        if self._open and (now - self._open_since >= s.linger or self._stop):
            self._seal()
        if self._stop:
            return None
        unacked = any(ch.unacked for ch in self._channels)
        if unacked and now >= self._next_poll:
            self._next_poll = now + s.ack_poll_interval
            return self._poll_acks
        if self._down:
            if self._ready and now >= self._spool_at:
                batch = self._take()
                return lambda: self._spool(batch)
            if now >= self._probe_at and (self._ready or len(self._disk) > len(self._loaded)):
                self._probe_at = now + s.backoff_max
                if self._ready:  # the disk refuses writes: probe with what waits in memory
                    batch = self._take()
                    return lambda: self._post(batch, probing=True)
                return self._probe
        elif self._ready and self._ready[0].not_before <= now:
            batch = self._take()
            return lambda: self._post(batch)
        elif (
            not self._ready
            and len(self._disk) > len(self._loaded)
            and self._mem_bytes < s.max_memory_bytes // 2
        ):
            return self._load_from_disk
        wakes = [now + 0.5]
        if self._open:
            wakes.append(self._open_since + s.linger)
        if unacked:
            wakes.append(self._next_poll)
        if self._ready and not self._down:
            wakes.append(self._ready[0].not_before)
        if self._down:
            wakes.append(self._probe_at)
            if self._ready:
                wakes.append(self._spool_at)
        self._cond.wait(max(0.0, min(wakes) - now))
        return None

    def _load_from_disk(self) -> None:
        with self._cond:
            path = self._disk.oldest(self._loaded)
            if path is None:
                return
            self._loaded.add(path)
        try:
            events = self._disk.load(path)
        except OSError as exc:
            log.error("HEC disk queue: cannot read a batch (%s); it is left in place", exc)
            return
        batch = Batch(events, None, sum(len(e) for e in events))
        batch.path = path
        with self._cond:
            self._mem_bytes += batch.nbytes
            self._backed_bytes += batch.nbytes
            self._ready.append(batch)

    def _take(self) -> Batch:
        """Under the lock: the next batch, counted in flight until its outcome is handled."""
        batch = self._ready.popleft()
        self._inflight += 1
        self._inflight_events += len(batch.events)
        return batch

    def _probe(self) -> None:
        """One try while HEC is down, with the oldest batch of the disk queue."""
        self._load_from_disk()
        with self._cond:
            if not self._ready:
                return
            batch = self._take()
        self._post(batch, probing=True)

    def _post(self, batch: Batch, probing: bool = False) -> None:
        channel = self._channel
        outcome = self._transport.post(batch.events, channel.guid)
        with self._cond:
            self._untake(batch)
            self._handle(batch, channel, outcome, probing)
            self._cond.notify_all()

    def _handle(self, batch: Batch, channel: Channel, outcome: Outcome, probing: bool) -> None:
        s = self.settings
        now = time.monotonic()
        if outcome.kind == "ok":
            if self._down:
                log.warning("HEC answers again; draining %d queued batches", len(self._disk))
            self._down = False
            self._report.last_error = None
            if not s.ack:
                self._delivered(batch)
                return
            if outcome.ack_id is None:
                self._warn_once(
                    "noack",
                    "KEPLER_HEC_ACK is on but HEC answered without an ackId (the token has "
                    "indexer acknowledgement off); events count as delivered on HTTP 200",
                )
                self._delivered(batch)
                return
            if outcome.ack_id <= channel.last_id:
                self._channel_reset(channel)
            channel.last_id = outcome.ack_id
            self._await_ack(batch, channel, outcome.ack_id, now)
            return
        if outcome.kind == "retry":
            self._report.last_error = outcome.text
            batch.attempts += 1
            if s.ack and outcome.status is None and not outcome.refused:
                # The answer was lost: the request may have been indexed as last_id + 1.
                self._channel = Channel(str(uuid.uuid4()))
                self._channels.append(self._channel)
                channel.last_id += 1
                self._await_ack(batch, channel, channel.last_id, now)
                return
            self._retry_later(batch, outcome.text, probing)
            return
        if outcome.kind == "too_large" and len(batch.events) > 1:
            # Over HEC's max_content_length: send it in halves.
            half = len(batch.events) // 2
            self._mem_bytes -= batch.nbytes
            self._forget_path(batch)
            for events, offset in ((batch.events[half:], half), (batch.events[:half], 0)):
                first = None if batch.first_seq is None else batch.first_seq + offset
                sub = Batch(events, first, sum(len(e) for e in events))
                self._mem_bytes += sub.nbytes
                self._ready.appendleft(sub)
            return
        if outcome.kind in ("rejected", "too_large"):
            self._rejected(batch, outcome)
            return
        # "config": the token, channel or URL is wrong; keep the events for when it is fixed.
        self._report.last_error = outcome.text
        self._warn_once(
            outcome.text, f"HEC refused the request: {outcome.text}; events wait in the disk queue"
        )
        self._go_down(batch)

    def _await_ack(self, batch: Batch, channel: Channel, ack_id: int, now: float) -> None:
        batch.ack_id, batch.channel, batch.sent_at = ack_id, channel, now
        channel.unacked[ack_id] = batch
        if self._next_poll < now:  # first poll one interval after the send
            self._next_poll = now + self.settings.ack_poll_interval

    def _channel_reset(self, channel: Channel) -> None:
        """HEC handed out an ack id it had already given: it restarted and forgot the channel,
        and the ids it gave before mean nothing now."""
        log.warning("HEC restarted (ack ids began again); resending unacknowledged batches")
        for batch in channel.unacked.values():
            self._resend(batch)
        channel.unacked.clear()

    def _resend(self, batch: Batch) -> None:
        batch.ack_id, batch.channel = None, None
        self._report.resent_batches += 1
        if batch.attempts > self.settings.max_retries:
            self._go_down(batch)
        else:
            self._ready.appendleft(batch)

    def _retry_later(self, batch: Batch, text: str, probing: bool) -> None:
        s = self.settings
        if probing or batch.attempts > s.max_retries:
            self._go_down(batch)
            return
        delay = random.uniform(0, min(s.backoff_max, s.backoff * 2 ** (batch.attempts - 1)))
        batch.not_before = time.monotonic() + delay
        self._ready.appendleft(batch)
        log.info("HEC: %s; retry %d in %.2fs", text, batch.attempts, delay)

    def _go_down(self, batch: Batch) -> None:
        if not self._down:
            log.warning(
                "HEC unreachable (%s); events go to the disk queue and HEC is tried every %gs",
                self._report.last_error,
                self.settings.backoff_max,
            )
        self._down = True
        self._probe_at = time.monotonic() + self.settings.backoff_max
        batch.attempts = 0
        self._ready.appendleft(batch)

    def _poll_acks(self) -> None:
        with self._cond:
            work = [(ch, list(ch.unacked)[:1000]) for ch in self._channels if ch.unacked]
        for channel, ids in work:
            answer = self._transport.poll_acks(ids, channel.guid)
            with self._cond:
                if isinstance(answer, dict):
                    for ack_id, done in answer.items():
                        if done and ack_id in channel.unacked:
                            self._delivered(channel.unacked.pop(ack_id))
                # Polled just now: what is still unacknowledged after ack_timeout is resent.
                now = time.monotonic()
                for ack_id in [i for i in ids if i in channel.unacked]:
                    if now - channel.unacked[ack_id].sent_at > self.settings.ack_timeout:
                        self._resend(channel.unacked.pop(ack_id))
                self._channels = [ch for ch in self._channels if ch.unacked or ch is self._channel]
                self._cond.notify_all()

    def _untake(self, batch: Batch) -> None:
        self._inflight -= 1
        self._inflight_events -= len(batch.events)

    def _spool(self, batch: Batch) -> None:
        if batch.path is not None:  # read back from disk and failed again: it is still there
            with self._cond:
                self._untake(batch)
                self._loaded.discard(batch.path)
                self._mem_bytes -= batch.nbytes
                self._backed_bytes -= batch.nbytes
                batch.path = None
                self._cond.notify_all()
            return
        try:
            self._disk.put(batch.events)
        except OSError as exc:
            with self._cond:
                self._untake(batch)
                self._ready.appendleft(batch)
                self._disk_error = f"the disk queue cannot be written ({exc.strerror or exc})"
                self._report.last_error = self._disk_error
                self._spool_at = time.monotonic() + self.settings.backoff_max
                self._warn_once("disk", f"HEC: {self._disk_error}; the events stay in memory")
                self._cond.notify_all()
            return
        with self._cond:
            self._untake(batch)
            self._disk_error = None
            self._mem_bytes -= batch.nbytes
            self._cond.notify_all()

    def _spool_memory(self) -> None:
        """At close: whatever HEC has not taken goes to disk (unacked batches included)."""
        with self._cond:
            self._seal()
            batches = list(self._ready)
            self._ready.clear()
            for ch in self._channels:
                batches.extend(ch.unacked.values())
                ch.unacked.clear()
        lost, error = 0, ""
        for batch in batches:
            if batch.path is None:
                try:
                    self._disk.put(batch.events)
                except OSError as exc:
                    lost += len(batch.events)
                    error = str(exc.strerror or exc)
        with self._cond:
            self._mem_bytes = self._backed_bytes = 0
            self._loaded.clear()
            if lost:
                self._report.last_error = f"the disk queue cannot be written ({error})"
                log.error("HEC: %d events could not be written to the disk queue: %s", lost, error)

    def _delivered(self, batch: Batch) -> None:
        self._report.delivered += len(batch.events)
        self._mem_bytes -= batch.nbytes
        self._forget_path(batch)

    def _forget_path(self, batch: Batch) -> None:
        if batch.path is not None:
            self._loaded.discard(batch.path)
            self._disk.remove(batch.path)
            self._backed_bytes -= batch.nbytes
            batch.path = None

    def _rejected(self, batch: Batch, outcome: Outcome) -> None:
        n = outcome.invalid_event
        if n is None or not 0 <= n < len(batch.events):
            n, before = 0, 0  # HEC named no event: the whole batch is refused
            bad = batch.events
        else:
            before, bad = n, [batch.events[n]]
        first = batch.first_seq
        for offset, _ in enumerate(bad):
            self._report.rejected += 1
            if len(self._report.rejected_events) < MAX_REPORTED:
                seq = None if first is None else first + before + offset
                self._report.rejected_events.append(RejectedEvent(seq, outcome.code, outcome.text))
        log.warning(
            "HEC refused %d event(s) as bad data (code %s: %s), event number %s of a batch",
            len(bad),
            outcome.code,
            outcome.text,
            n,
        )
        self._report.delivered += before
        rest = batch.events[n + 1 :] if len(bad) == 1 else []
        self._mem_bytes -= batch.nbytes
        self._forget_path(batch)
        if rest:
            sub = Batch(rest, None if first is None else first + n + 1, sum(len(e) for e in rest))
            self._mem_bytes += sub.nbytes
            self._ready.appendleft(sub)

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", message)


def _queue_folder(s: HecSettings) -> Path:
    """This target's folder of the disk queue (see ``_spool``); warns once about batches an
    older Kepler queued without recording their target, which no sender takes on its own."""
    root = s.queue_path()
    target = s.target_id()
    folder = target_folder(root, target, {"url": s.safe_url(), "target": target})
    if str(root) not in _WARNED_LEGACY and legacy_batches(root):
        _WARNED_LEGACY.add(str(root))
        log.warning(
            "HEC: %d batches in %s/slot-* were queued by an older Kepler that did not record "
            "which HEC they were for; they are left in place. If they were all for %s, move "
            "the *.hec files into %s/slot-0 (while Kepler is stopped) to deliver them",
            legacy_batches(root),
            root,
            s.safe_url(),
            folder,
        )
    return folder


_WARNED_LEGACY: set[str] = set()
_LIVE: weakref.WeakSet[HecSender] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """At interpreter exit, close senders left open: their events go out or to disk."""
    for sender in list(_LIVE):
        with contextlib.suppress(Exception):
            sender.close(timeout=sender.settings.timeout)
