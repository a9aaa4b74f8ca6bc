"""Section "latency": the online path (``POST /v1/models/{ref}/predict``) against MLflow's
own scoring server on the same registered version, closed loop, side by side.

One ``RandomForestClassifier`` (Kepler's defaults: 100 trees, ``n_jobs=-1``) is fitted
on scikit-learn's breast-cancer data with ``kp.fit`` into the bench stack. Then, for each
server, each body (1 and 100 rows, MLflow's ``dataframe_split`` JSON, the same bytes for
every server) and each number of clients (1, 8, 32), the clients (threads, one keep-alive
``http.client`` connection each) send request after request for
``KEPLER_BENCH_LATENCY_SECONDS`` after a one-second warm-up; every answer is read and
counted, errors apart. All servers run at once, idle but for the one measured; each cell
measures every server in turn, ``KEPLER_BENCH_LATENCY_ROUNDS`` times, and keeps each
one's best round (on a shared machine, others' load then falls on all alike). Servers:

- MLflow: ``mlflow models serve -m models:/<name>/<version> --env-manager local``, the
  same MLflow version, the artifacts Kepler registered (its sklearn flavor's pyfunc);
- Kepler with the version pinned (``name@v``), and unpinned (``name``), as the stack's
  bridge runs by default (adaptive micro-batching: a lone request goes at once, those
  arriving while a predict of their version runs go together next);
- Kepler pinned with a batch window (``KEPLER_PREDICT_BATCH_WINDOW_MS``: each batch also
  waits for company), a second bridge process on the same home.

The in-process limit: the registered pipeline's ``predict`` on one row in this process,
single-threaded (the copy the online path uses) and as trained.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.report import Section, Table
from bench.spine_fit import model_store
from kepler.core import wire

if TYPE_CHECKING:
    from bench.context import Context

MODEL = "bench_latency"
ALGORITHM = "RandomForestClassifier"
CLIENTS = (1, 8, 32)
BODY_ROWS = (1, 100)
WARMUP_S = 1.0
BATCH_WINDOW_MS = 2
RATE_TARGET = 3.0  # Kepler's req/s over MLflow's at 8 clients
P99_TARGET = 2.0  # Kepler's p99 at 1 client over the in-process predict of one row


@dataclass
class Cell:
    server: str
    rows: int
    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else float("nan")


@dataclass(frozen=True)
class Target:
    name: str
    host: str
    port: int
    path: str
    headers: dict[str, str]


def run(ctx: Context) -> Section:
    from sklearn.datasets import load_breast_cancer

    stack = ctx.stack()
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    features = [c for c in frame.columns if c != "target"]
    ctx.log(f"fit {ALGORITHM} (Kepler's defaults) on breast cancer into {MODEL}")
    with stack.client(timeout=600) as client:
        fitted = client.fit(
            frame, ALGORITHM, target="target", features=features, into=MODEL, progress=False
        )
    version = int(fitted.version)
    seconds = ctx.settings.latency_seconds
    bodies = {
        n: json.dumps(
            {
                "dataframe_split": json.loads(
                    frame[features].iloc[:n].to_json(orient="split", index=False)
                )
            }
        ).encode()
        for n in BODY_ROWS
    }
    inproc = in_process(stack, version, frame[features])
    kepler_headers = {"Authorization": f"Bearer {stack.token}", "Content-Type": "application/json"}
    cells: list[Cell] = []
    checks: list[str] = []
    servers: list[tuple[str, Any]] = [
        ("MLflow `models serve`", lambda: mlflow_server(ctx, stack, version)),
        (f"Kepler `{MODEL}@{version}`", lambda: existing(stack.port, f"@{version}")),
        (f"Kepler `{MODEL}` (unpinned)", lambda: existing(stack.port, "")),
        (
            f"Kepler `{MODEL}@{version}`, batch window {BATCH_WINDOW_MS} ms",
            lambda: batched_bridge(ctx, stack, version),
        ),
    ]
    rounds = max(1, ctx.settings.latency_rounds)
    with ExitStack() as running:
        targets = []
        for name, start in servers:
            ctx.log(f"starting: {name}")
            port, suffix = running.enter_context(start())
            if suffix is None:
                target = Target(
                    name, "127.0.0.1", port, "/invocations", {"Content-Type": "application/json"}
                )
            else:
                path = wire.predict(f"{MODEL}{suffix}")
                target = Target(name, "127.0.0.1", port, path, kepler_headers)
            checks.append(check_answer(target, bodies[100], frame["target"].iloc[:100]))
            targets.append(target)
        # Each cell runs every server in turn, `rounds` times, and keeps each server's
        # best round: load from other work on a shared machine falls on all alike.
        for rows in BODY_ROWS:
            for clients in CLIENTS:
                best: dict[str, Cell] = {}
                for _ in range(rounds):
                    for target in targets:
                        closed_loop(target, bodies[rows], clients, WARMUP_S)  # not kept
                        cell = closed_loop(target, bodies[rows], clients, seconds)
                        cell.rows = rows
                        if target.name not in best or cell.rate > best[target.name].rate:
                            best[target.name] = cell
                for target in targets:
                    cell = best[target.name]
                    cells.append(cell)
                    ctx.log(
                        f"  {target.name}: {rows:>3} rows, {clients:>2} clients: "
                        f"{cell.rate:7.1f} req/s, p50 {cell.pct(50):6.1f} ms, "
                        f"p99 {cell.pct(99):6.1f} ms, errors {cell.errors}"
                    )
    return report(cells, inproc, checks, version, seconds, rounds)


def in_process(stack: Any, version: int, X: Any) -> dict[str, float]:
    """One-row predict times in this process: scikit-learn's pipeline as trained
    (``trained``), scikit-learn's on one thread (``single``: joblib's sequential backend,
    the pipeline's own predict as the issue measured it with ``n_jobs=1``) and the copy
    the bridge's online path predicts small batches with (``serial``)."""
    from joblib import parallel_config

    from kepler.ml import frames
    from kepler.server.scoring.threads import single_threaded

    pipeline, meta = model_store(stack).load(MODEL, version)
    row = frames.conform(X.iloc[:1], meta.feature_types)
    serial = single_threaded(pipeline)
    out = {}
    for name, model, n, sequential in (
        ("single", pipeline, 300, True),
        ("serial", serial, 300, False),
        ("trained", pipeline, 60, False),
    ):
        with parallel_config(backend="sequential") if sequential else nullcontext():
            model.predict(row)
            times = []
            for _ in range(n):
                t0 = time.perf_counter()
                model.predict(row)
                times.append(time.perf_counter() - t0)
        out[f"{name}_p50"] = float(np.percentile(times, 50)) * 1000
        out[f"{name}_p99"] = float(np.percentile(times, 99)) * 1000
    return out


@contextmanager
def existing(port: int, suffix: str) -> Iterator[tuple[int, str]]:
    yield port, suffix


@contextmanager
def mlflow_server(ctx: Context, stack: Any, version: int) -> Iterator[tuple[int, None]]:
    from kepler._stack import free_port, stop_processes

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEPLER_", "MLFLOW_"))}
    uri = f"sqlite:///{stack.home / 'mlflow.db'}"
    env.update(MLFLOW_TRACKING_URI=uri, MLFLOW_REGISTRY_URI=uri)
    # MLflow starts `uvicorn` by name: this interpreter's scripts must be on the PATH.
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    log = ctx.workdir / "mlflow-serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "mlflow", "models", "serve",
                "-m", f"models:/{MODEL}/{version}",
                "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port),
            ],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait(proc, port, "/ping", log, 180)
        yield port, None
    finally:
        stop_processes([proc])


@contextmanager
def batched_bridge(ctx: Context, stack: Any, version: int) -> Iterator[tuple[int, str]]:
    from kepler._stack import free_port, stop_processes

    port = free_port()
    env = dict(stack.env, KEPLER_PORT=str(port))
    env["KEPLER_PREDICT_BATCH_WINDOW_MS"] = str(BATCH_WINDOW_MS)
    log = ctx.workdir / "bridge-batched.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kepler", "bridge"],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait(proc, port, "/health", log, 60)
        yield port, f"@{version}"
    finally:
        stop_processes([proc])


def _wait(proc: subprocess.Popen[bytes], port: int, path: str, log: Any, timeout: float) -> None:
    """Until the server answers ``path``; its exit or ``timeout`` seconds end the bench."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            if _get(port, path) == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the server did not answer {path} within {timeout:g} s (log: {log})")


def _get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def check_answer(target: Target, body: bytes, truth: Any) -> str:
    """The server's predictions for the 100-row body, against the labels."""
    conn = http.client.HTTPConnection(target.host, target.port, timeout=60)
    conn.request("POST", target.path, body, target.headers)
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    conn.close()
    predictions = answer["predictions"]
    if predictions and isinstance(predictions[0], dict):  # MLflow may answer records
        predictions = [next(iter(p.values())) for p in predictions]
    agree = sum(int(p) == int(t) for p, t in zip(predictions, truth, strict=True))
    return f"{target.name}: {agree}/100 predictions equal the labels"


def closed_loop(target: Target, body: bytes, clients: int, seconds: float) -> Cell:
    cell = Cell(target.name, 0, clients, seconds)
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client() -> None:
        conn = http.client.HTTPConnection(target.host, target.port, timeout=60)
        mine: list[float] = []
        errors, first = 0, ""
        start.wait()
        deadline = time.perf_counter() + seconds
        while True:
            t0 = time.perf_counter()
            if t0 >= deadline:
                break
            try:
                conn.request("POST", target.path, body, target.headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                errors, first = errors + 1, first or repr(exc)
                conn.close()
                conn = http.client.HTTPConnection(target.host, target.port, timeout=60)
                continue
            if resp.status == 200:
                mine.append(time.perf_counter() - t0)
            else:
                errors, first = errors + 1, first or f"HTTP {resp.status}: {data[:200]!r}"
        conn.close()
        with lock:
            cell.latencies += mine
            cell.errors += errors
            cell.first_error = cell.first_error or first

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    for t in threads:
        t.join(seconds + 120)
    return cell


def _ms(x: float) -> str:
    return f"{x:,.1f} ms"


def report(
    cells: list[Cell],
    inproc: dict[str, float],
    checks: list[str],
    version: int,
    seconds: float,
    rounds: int,
) -> Section:
    section = Section("Online scoring: `POST /v1/models/{ref}/predict` vs MLflow's scoring server")
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    section.text(
        f"""
Workload: `RandomForestClassifier` with Kepler's defaults (100 trees, `n_jobs=-1`: every
core) fitted with `kp.fit` on scikit-learn's breast-cancer data (569 rows, 30 numeric
fields) into `{MODEL}@{version}`. Each server answers the same bodies, MLflow's
`dataframe_split` JSON of the first 1 or 100 rows. Closed loop: each client is a thread
with one keep-alive `http.client` connection, sending its next request when the answer
is in, for {seconds:g} s per cell after a 1 s warm-up; the clients run in the benchmark's
process on the same 2 cores as the servers, alike for every server. Each cell measured
every server in turn, {rounds} times, keeping each server's best round (req/s), so that
load from other work on this shared machine falls on all of them alike.

- **MLflow**: `mlflow models serve -m models:/{MODEL}/{version} --env-manager local`
  (one uvicorn worker, its default), on the artifacts Kepler registered: Kepler logs the
  pipeline with MLflow's sklearn flavor, whose pyfunc MLflow serves as is (the pipeline
  as trained, `n_jobs=-1`).
- **Kepler**: the stack's bridge, one uvicorn process ({loop} loop, {parser} parser:
  what uvicorn's `auto` picks), default settings: the resolution of `{MODEL}` cached
  (`KEPLER_PREDICT_RESOLVE_TTL_S`), one-row to 999-row requests predicted
  single-threaded, at most one prediction per core at once, adaptive micro-batching
  (a lone request goes at once; requests arriving while a predict of their version
  runs go together as the next batch); then a second bridge that also waits
  `KEPLER_PREDICT_BATCH_WINDOW_MS={BATCH_WINDOW_MS}` for company before each batch.
"""
    )
    table = Table(["server", "rows", "clients", "req/s", "p50", "p95", "p99", "errors"])
    for rows in BODY_ROWS:
        for clients in CLIENTS:
            for c in cells:
                if c.rows == rows and c.clients == clients:
                    table.add(
                        c.server, rows, clients, f"{c.rate:,.1f}", _ms(c.pct(50)),
                        _ms(c.pct(95)), _ms(c.pct(99)), c.errors,
                    )  # fmt: skip
    section.table(table)
    errors = [
        f"{c.server}, {c.rows} rows, {c.clients} clients: {c.first_error}"
        for c in cells
        if c.errors
    ]
    limit = Table(["in process, one row", "p50", "p99"])
    limit.add(
        "`pipeline.predict` on one thread (scikit-learn's, joblib's sequential backend)",
        _ms(inproc["single_p50"]),
        _ms(inproc["single_p99"]),
    )
    limit.add(
        "the online path's copy (`single_threaded`: one thread, the forest's trees in a loop)",
        _ms(inproc["serial_p50"]),
        _ms(inproc["serial_p99"]),
    )
    limit.add(
        "`pipeline.predict` as trained (`n_jobs=-1`)",
        _ms(inproc["trained_p50"]),
        _ms(inproc["trained_p99"]),
    )
    section.table(limit)

    def cell(server_prefix: str, rows: int, clients: int) -> Cell:
        return next(
            c
            for c in cells
            if c.server.startswith(server_prefix) and c.rows == rows and c.clients == clients
        )

    mlflow8 = cell("MLflow", 1, 8)
    lines = []
    for name in {c.server for c in cells if c.server.startswith("Kepler")}:
        k8 = cell(name, 1, 8)
        ratio = k8.rate / mlflow8.rate if mlflow8.rate else float("inf")
        met = ratio >= RATE_TARGET and k8.pct(99) < mlflow8.pct(99)
        lines.append(
            f"- {name}, 1 row, 8 clients: {ratio:.1f}x MLflow's req/s (target {RATE_TARGET:g}x), "
            f"p99 {_ms(k8.pct(99))} vs MLflow's {_ms(mlflow8.pct(99))}: "
            f"**{'met' if met else 'not met'}**."
        )
        k1 = cell(name, 1, 1)
        r1 = k1.pct(99) / inproc["single_p50"]
        lines.append(
            f"- {name}, 1 row, 1 client: p99 {_ms(k1.pct(99))} = {r1:.2f}x the in-process "
            f"single-row `pipeline.predict`'s p50 ({_ms(inproc['single_p50'])}; "
            f"{k1.pct(99) / inproc['single_p99']:.2f}x its p99), target within "
            f"{P99_TARGET:g}x: **{'met' if r1 <= P99_TARGET else 'not met'}** "
            f"({k1.pct(99) / inproc['serial_p50']:.2f}x the p50 of the online path's own "
            f"in-process copy, {_ms(inproc['serial_p50'])})."
        )
    section.text("Targets (1-row bodies):\n\n" + "\n".join(sorted(lines)))
    section.text(
        "The in-process limit is the pipeline's own predict on one row, as scikit-learn "
        "runs it on one thread; the bridge's online path predicts with a copy whose forest "
        "calls its trees in a plain loop (the same numbers, bit for bit), faster than that "
        "limit, and its ratio to that copy is shown beside the target."
    )
    section.text(
        "Reading: a forest's single-threaded predict holds the GIL for most of its "
        "per-tree loop, so two concurrent one-row predicts on 2 cores gain little over "
        "one; micro-batching is what multiplies throughput: one predict of the rows that "
        "arrived together costs about what one row does. Adaptive batching (the default) "
        "runs one batch per version at a time while the next fills, so batches grow with "
        "the load and a lone request waits for nothing; a window adds a wait for company "
        "to every batch. The in-process predict's p99 shows how much the other work on "
        "this shared machine stretched every tail."
    )
    section.text("Answers checked: " + "; ".join(checks) + ".")
    if errors:
        section.text("Errors: " + "; ".join(errors))
    return section
