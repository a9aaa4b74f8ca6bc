"""HEC throughput and memory: Kepler's sender against the loopback HEC double.

Three ways to send the same events to the same receiver (its own process, so it does not
share the sender's interpreter): batched gzip JSON without acknowledgement, the same with
indexer acknowledgement, and one request per event as common logging handlers send
(``requests``/``httpx`` POST per record, keep-alive, no gzip). Then the receiver is stopped
and the sender keeps accepting events: its memory is sampled while they go to the disk
queue, and the queue's drain is timed when the receiver is back.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from bench.machine import measure
from bench.report import Section, Table, share
from kepler._stack import free_port

if TYPE_CHECKING:
    from bench.context import Context

TOKEN = "bench-hec-token-0000"
ROOT = Path(__file__).resolve().parent.parent
TARGET_EPS = 100_000


class Receiver:
    """``tests/hec/receiver.py`` in a child process, on a fixed port (so it can restart)."""

    def __init__(self, ack: bool) -> None:
        self.port = free_port()
        self.ack = ack
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> Receiver:
        flags = ["fast", *(["ack"] if self.ack else [])]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.hec.receiver", str(self.port), TOKEN, *flags],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("ready"):
            raise RuntimeError(f"the HEC receiver did not start: {line!r}")
        return self

    def ask(self, what: str) -> str:
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(what + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def count(self) -> int:
        return int(self.ask("count").split()[1])

    def stop(self) -> None:
        if self.proc is not None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
            self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _events(n: int, offset: int = 0) -> list[dict[str, Any]]:
    """Scores as `| kepler apply ... index=` writes them: a dozen fields per event."""
    return [
        {
            "id": offset + i,
            "model": "pump",
            "version": 3,
            "predicted(failure)": "yes" if i % 7 == 0 else "no",
            "probability(failure=yes)": (i % 100) / 100,
            "temp": 20.0 + (i % 50),
            "vibration": (i % 13) / 3,
            "site": "line-2",
        }
        for i in range(n)
    ]


def _batched(rx: Receiver, events: list[dict[str, Any]], workdir: Path, ack: bool) -> float:
    from kepler.hec import HecSender, HecSettings

    settings = HecSettings(
        url=rx.url,
        token=TOKEN,
        ack=ack,
        ack_poll_interval=0.05,
        index="scores",
        sourcetype="kepler:score",
        queue_dir=Path(tempfile.mkdtemp(dir=workdir)),
    )
    with HecSender(settings) as sender:
        start = time.perf_counter()
        sender.send_many(events)
        report = sender.flush()
        elapsed = time.perf_counter() - start
    assert report.delivered == len(events), report
    return elapsed


def _per_event(rx: Receiver, events: list[dict[str, Any]]) -> float:
    """How logging handlers send: one POST per record on a keep-alive session."""
    import json

    headers = {"Authorization": f"Splunk {TOKEN}"}
    with httpx.Client(base_url=rx.url, headers=headers) as client:
        start = time.perf_counter()
        for event in events:
            body = json.dumps({"event": event, "index": "scores", "sourcetype": "kepler:score"})
            response = client.post("/services/collector/event", content=body)
            response.raise_for_status()
        return time.perf_counter() - start


def _rss() -> int:
    import psutil

    return int(psutil.Process(os.getpid()).memory_info().rss)


def _down(ctx: Context, workdir: Path, total: int) -> dict[str, Any]:
    """Receiver stopped: keep sending, sample RSS and Python allocations while spooling."""
    from kepler.hec import HecSender, HecSettings

    rx = Receiver(ack=False)
    settings = HecSettings(
        url=rx.url,
        token=TOKEN,
        max_retries=1,
        backoff=0.01,
        backoff_max=0.5,
        max_memory_bytes=8 * 1024 * 1024,
        queue_dir=workdir / "down-queue",
    )
    samples: list[int] = []
    step = max(1, total // 10)
    with HecSender(settings) as sender:
        start = time.perf_counter()
        for k in range(0, total, step):
            sender.send_many(_events(min(step, total - k), offset=k))
            samples.append(_rss())
        report = sender.flush()
        spool_s = time.perf_counter() - start
        # A second pass under tracemalloc (kept apart: its bookkeeping grows RSS itself).
        tracemalloc.start()
        for k in range(total, total + total // 2, step):
            sender.send_many(_events(step, offset=k))
        report = sender.flush()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        total += total // 2
        ctx.log(
            f"  spooled {report.spooled:,} events, {report.queue_bytes / 2**20:.1f} MiB on disk"
        )
        rx.start()
        try:
            drain_start = time.perf_counter()
            drained = sender.flush()
            while rx.count() < total:
                time.sleep(0.05)
            drain_s = time.perf_counter() - drain_start
        finally:
            rx.stop()
    return {
        "samples": samples,
        "peak": peak,
        "spooled": report.spooled,
        "queue_bytes": report.queue_bytes,
        "spool_s": spool_s,
        "drain_s": drain_s,
        "drained": drained.spooled == 0,
        "events": total,
    }


def run(ctx: Context) -> Section:
    workdir = ctx.workdir / "hec"
    workdir.mkdir(parents=True, exist_ok=True)
    n = max(50_000, min(ctx.rows // 5, 200_000))
    n_single = min(n, 5_000)
    events = _events(n)
    section = Section("HEC: scores into Splunk through the HTTP Event Collector")
    table = Table(
        [
            "how",
            "events",
            "time",
            "events/s",
            "vs one request per event",
            "events per sender CPU-second",
            "other load",
        ],
        caption=f"{n:,} events to the loopback HEC double "
        f"(target: {TARGET_EPS:,} events/s batched)",
    )
    results: list[tuple[str, int, float, float, float | None]] = []
    for name, ack in (("batched, gzip, no ack", False), ("batched, gzip, ack", True)):
        rx = Receiver(ack=ack).start()
        try:
            ctx.log(f"{name}: {n:,} events")
            _batched(rx, events[: n // 10], workdir, ack)  # warm-up
            rx.ask("reset")
            cpu0 = time.process_time()
            reading, elapsed = measure(lambda rx=rx, ack=ack: _batched(rx, events, workdir, ack))
            cpu = time.process_time() - cpu0
            assert rx.count() == n
            ctx.log(f"  {n / elapsed:,.0f} events/s, {n / cpu:,.0f} per sender CPU-second")
            results.append((name, n, elapsed, cpu, reading.others))
        finally:
            rx.stop()
    rx = Receiver(ack=False).start()
    try:
        ctx.log(f"one request per event: {n_single:,} events")
        cpu0 = time.process_time()
        reading, elapsed = measure(lambda: _per_event(rx, events[:n_single]))
        cpu = time.process_time() - cpu0
        assert rx.count() == n_single
        ctx.log(f"  {n_single / elapsed:,.0f} events/s")
        name = "one request per event (logging handlers)"
        results.append((name, n_single, elapsed, cpu, reading.others))
    finally:
        rx.stop()
    single_eps = results[-1][1] / results[-1][2]
    for name, count, elapsed, cpu, others in results:
        eps = count / elapsed
        table.add(
            name,
            f"{count:,}",
            f"{elapsed:.2f} s",
            f"{eps:,.0f}",
            f"{eps / single_eps:.1f}x",
            f"{count / cpu:,.0f}" if cpu > 0 else "n/a",
            share(others),
        )
    section.table(table)
    batched_eps = results[0][1] / results[0][2]
    section.text(
        f"Batched without acknowledgement: **{batched_eps:,.0f} events/s**, "
        + ("meeting" if batched_eps >= TARGET_EPS else "below")
        + f" the {TARGET_EPS:,} events/s target. Batches of up to 10,000 events / 1 MiB, gzip "
        "level 1, one keep-alive connection; acknowledgements polled every 50 ms. The "
        "receiver parses every batch in its own process. *Events per sender CPU-second* "
        "is the CPU time of the sending process alone (encoding, gzip, HTTP; the receiver "
        "runs in another): what one free core would sustain, whatever else loads the machine."
    )

    total = max(200_000, n)
    ctx.log(f"receiver down: {total:,} events into the disk queue")
    down = _down(ctx, workdir, total)
    samples = down["samples"]
    mib = 2**20
    memory = Table(
        ["measure", "value"],
        caption=f"Receiver down: {total:,} events sent (in-memory bound 8 MiB), then drained",
    )
    memory.add("RSS after the first tenth", f"{samples[0] / mib:,.1f} MiB")
    memory.add("RSS after all events", f"{samples[-1] / mib:,.1f} MiB")
    memory.add(
        "RSS growth over the last nine tenths", f"{(samples[-1] - samples[0]) / mib:+,.1f} MiB"
    )
    memory.add(
        f"peak Python allocations over {total // 2:,} more events (tracemalloc)",
        f"{down['peak'] / mib:,.1f} MiB",
    )
    memory.add("events in the disk queue (both passes)", f"{down['spooled']:,}")
    memory.add("disk queue size", f"{down['queue_bytes'] / mib:,.1f} MiB")
    memory.add("accept + spool rate", f"{total / down['spool_s']:,.0f} events/s")
    memory.add(
        "drain rate once the receiver is back", f"{down['events'] / down['drain_s']:,.0f} events/s"
    )
    section.table(memory)
    section.text(
        "While HEC is down the sender's memory stays flat: accepted events wait in memory up "
        "to `KEPLER_HEC_MAX_MEMORY_BYTES`, then go to the disk queue (gzip, one file per "
        "batch); RSS samples are taken after each tenth of the events."
    )
    return section
