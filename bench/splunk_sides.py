"""The measurements of ``bench.splunk_apply``: the same chunks of splunkd's CSV scored four
ways, each timed from its first chunk to its last answer.

* Kepler: the real ``kepler`` command (``python -S``, stdlib only) under the protocol v2
  harness of ``tests/splunk/harness.py``, relaying each chunk to a real bridge.
* the limit: in this process, Arrow's CSV reader on the chunks Kepler's command gets, the
  pipeline's ``predict`` on the parsed features, Arrow's CSV writer for what the command
  must answer (``_chunked_idx`` and the output; splunkd merges the rest); nothing else.
* MLTK's way: ``bench/mltk_command.py``, a splunklib ``StreamingCommand`` holding the model.
* DSDL's way: ``bench/dsdl_app.py`` behind uvicorn, each chunk a CSV string inside JSON.
"""

from __future__ import annotations

import csv
import io
import os
import pickle
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from bench.data import FEATURES
from bench.machine import Reading, measure
from tests.splunk.harness import Splunkd, encode_records

ROOT = Path(__file__).resolve().parent.parent
VENDOR_LIB = ROOT / "build" / "vendor" / "lib"
CHUNK = 50_000  # splunkd's maxresultrows: the most events one execute chunk carries
OUTPUT = "predicted(label)"
_CLK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# The command as the app ships it (tests/splunk/kepler_command.py): the repo's kepler
# package and the vendored splunklib first on sys.path, run with -S.
SHIM = """\
import sys
sys.path[:0] = [{root!r}, {lib!r}]
from kepler.searchcommand.main import main
main()
"""
# The same, under cProfile (wall clock): where the command process's time goes.
PROFILED_SHIM = """\
import sys
sys.path[:0] = [{root!r}, {lib!r}]
import cProfile
from kepler.searchcommand.main import run
profile = cProfile.Profile()
try:
    code = profile.runcall(run, sys.stdin.buffer, sys.stdout.buffer)
finally:
    profile.dump_stats({stats!r})
sys.exit(code)
"""


# ----------------------------------------------------------------------- the events


def splunkd_chunks(frame: Any, size: int = CHUNK, *, chunked_idx: bool = False) -> list[bytes]:
    """The features of ``frame`` as splunkd's execute bodies of ``size`` events: a bare
    header, then a ``__mv_`` column per field; every value double-quoted (it holds a
    ``.``), every ``__mv_`` cell empty; rows end with ``\\n``. With ``chunked_idx``, the
    ``_chunked_idx`` column splunkd adds for a command that declares ``required_fields``
    (unquoted: digits only). Written by Arrow (its shortest round-trip floats), checked
    against the harness's ``encode_records``."""
    names = [*FEATURES, "_chunked_idx"] if chunked_idx else list(FEATURES)
    header = encode_records([], names)
    values = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
    bare = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    nulls = {f"__mv_{f}": pa.nulls(size, pa.string()) for f in names}
    bodies = []
    for start in range(0, len(frame), size):
        part = frame.iloc[start : start + size]
        n = len(part)
        sink = io.BytesIO()
        pacsv.write_csv(
            pa.table({f: pa.array(part[f].to_numpy()) for f in FEATURES}),
            sink,
            write_options=values,
        )
        rest = {"_chunked_idx": pa.array(range(n))} if chunked_idx else {}
        rest |= {k: v.slice(0, n) for k, v in nulls.items()}
        tail = io.BytesIO()
        pacsv.write_csv(pa.table(rest), tail, write_options=bare)
        lines = zip(sink.getvalue().split(b"\n"), tail.getvalue().split(b"\n"), strict=True)
        bodies.append(header + b"\n".join(a + b"," + b for a, b in lines)[:-1])
    _check_encoding(bodies[0], names)
    return bodies


def _check_encoding(body: bytes, names: list[str], rows: int = 2000) -> None:
    head = body[: body.index(b"\n") + 1]
    lines = [x for x in body.split(b"\n", rows + 1)[1 : rows + 1] if x]
    values = list(csv.reader(io.StringIO(b"\n".join(lines).decode())))
    records = [dict(zip(names, v[: len(names)], strict=True)) for v in values]
    expected = encode_records(records, names)
    if expected != head + b"\n".join(lines) + b"\n":
        raise AssertionError("the fast encoding differs from the harness's encode_records")


def first_events(body: bytes, n: int) -> bytes:
    """The header and the first ``n`` events of a chunk."""
    end = -1
    for _ in range(n + 1):
        end = body.find(b"\n", end + 1)
        if end < 0:
            return body
    return body[: end + 1]


def predictions(body: bytes) -> np.ndarray:
    """The output column of a scored CSV answer."""
    options = pacsv.ConvertOptions(include_columns=[OUTPUT], column_types={OUTPUT: pa.int64()})
    table = pacsv.read_csv(
        io.BytesIO(body),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=options,
    )
    return table.column(OUTPUT).to_numpy()


# ----------------------------------------------------------------------- processes


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process (all its threads)."""
    rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / _CLK


@dataclass
class Pass:
    """One side's timed pass over some chunks."""

    reading: Reading
    events: int
    chunks: int
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds
    identical: bool | None = None  # predictions equal the limit's
    notes: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.reading.wall_s


@contextmanager
def _cpu_of(pids: dict[str, int], into: dict[str, float]) -> Iterator[None]:
    before = {k: cpu_s(p) for k, p in pids.items()}
    own = time.process_time()
    yield
    into["harness / client (this process)"] = time.process_time() - own
    for k, p in pids.items():
        into[k] = cpu_s(p) - before[k]


def _events(bodies: list[bytes]) -> int:
    return sum(b.count(b"\n") - 1 for b in bodies)


def _same(replies: list[bytes], expected: list[np.ndarray]) -> bool:
    """The answers' predictions equal the limit's for the same (first) events."""
    got = np.concatenate([predictions(r) for r in replies])
    return bool(len(got)) and np.array_equal(got, np.concatenate(expected)[: len(got)])


def command_script(workdir: Path, profile_to: Path | None = None) -> Path:
    path = workdir / ("kepler_profiled.py" if profile_to else "kepler.py")
    text = SHIM if profile_to is None else PROFILED_SHIM
    path.write_text(text.format(root=str(ROOT), lib=str(VENDOR_LIB), stats=str(profile_to)))
    return path


def _splunkd(script: Path, env: dict[str, str], **kw: Any) -> Splunkd:
    return Splunkd(script, env=env, timeout=900, **kw)


def _search(
    cmd: Splunkd, args: list[str], bodies: list[bytes], cpu: dict[str, int]
) -> tuple[float, Reading, list[bytes], dict[str, float]]:
    """getinfo, then every chunk (the last one ``finished``); stdin closed at the end."""
    t0 = time.perf_counter()
    info = cmd.getinfo(args)
    getinfo_s = time.perf_counter() - t0
    if info.messages or "error" in info.metadata:
        raise RuntimeError(f"getinfo refused: {info.metadata}")
    replies: list[bytes] = []
    used: dict[str, float] = {}

    def send_all() -> None:
        for i, body in enumerate(bodies):
            replies.append(cmd.execute(body, finished=i == len(bodies) - 1).body)
            cmd.requests.clear()  # the harness keeps every request and reply: not here
            cmd.replies.clear()

    with _cpu_of(cpu | {"command": cmd.proc.pid}, used):
        reading, _ = measure(send_all)
    if cmd.close() != 0:
        raise RuntimeError(f"the command failed: {cmd.stderr[-2000:]}")
    return getinfo_s, reading, replies, used


# ----------------------------------------------------------------------- the four sides


def kepler(
    stack: Any, script: Path, bodies: list[bytes], ref: str, expected: list[np.ndarray]
) -> Pass:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(KEPLER_URL=stack.url, KEPLER_TOKEN=stack.token, KEPLER_TIMEOUT="900")
    cmd = _splunkd(script, env, command="kepler", python_args=["-S"])
    pids = {"bridge": stack.bridge.pid}
    getinfo_s, reading, replies, used = _search(cmd, ["apply", ref], bodies, pids)
    out = Pass(reading, _events(bodies), len(bodies), used, _same(replies, expected))
    out.notes["getinfo_s"] = getinfo_s
    out.notes["reply_bytes"] = sum(len(r) for r in replies)
    return out


def limit(bodies: list[bytes], pipeline: Any) -> tuple[Pass, list[np.ndarray]]:
    """Parse (Arrow, typed), predict, write (Arrow) what the command's answer must hold,
    chunk by chunk, in this process."""
    expected: list[np.ndarray] = []
    steps = {"parse": 0.0, "predict": 0.0, "write": 0.0}

    def run() -> None:
        expected.clear()
        for body in bodies:
            t0 = time.perf_counter()
            table = pacsv.read_csv(io.BytesIO(body))
            X = table.select(FEATURES).to_pandas()
            t1 = time.perf_counter()
            y = pipeline.predict(X)
            t2 = time.perf_counter()
            sink = io.BytesIO()
            # What the command must answer: with _chunked_idx (required_fields declared)
            # only it and the output, splunkd merging the rest back; else every field.
            if "_chunked_idx" in table.column_names:
                table = table.select(["_chunked_idx"])
            pacsv.write_csv(
                table.append_column(OUTPUT, pa.array(y)),
                sink,
                write_options=pacsv.WriteOptions(quoting_style="needed"),
            )
            t3 = time.perf_counter()
            expected.append(np.asarray(y))
            for k, s in zip(steps, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                steps[k] += s

    reading, _ = measure(run)
    out = Pass(reading, _events(bodies), len(bodies), identical=True)
    out.notes.update(steps)
    return out, expected


def mltk(
    model_path: Path,
    bodies: list[bytes],
    expected: list[np.ndarray],
    *,
    batch: bool,
) -> Pass:
    args = [
        f"model={model_path}",
        f"features={','.join(FEATURES)}",
        f"batch={'t' if batch else 'f'}",
    ]
    env = dict(os.environ)
    if not batch:
        # One OpenMP thread: a one-row predict gains nothing from more, and XGBoost's
        # threads spinning on a loaded two-core machine made it several times slower.
        env["OMP_NUM_THREADS"] = "1"
    cmd = _splunkd(ROOT / "bench" / "mltk_command.py", env, command="mltkapply")
    getinfo_s, reading, replies, used = _search(cmd, args, bodies, {})
    out = Pass(reading, _events(bodies), len(bodies), used, _same(replies, expected))
    out.notes["getinfo_s"] = getinfo_s
    return out


def dsdl(
    workdir: Path,
    model_path: Path,
    bodies: list[bytes],
    expected: list[np.ndarray],
    log: Callable[[str], None],
) -> Pass:
    import requests

    from kepler._stack import free_port, wait_until

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    logfile = (workdir / "dsdl.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.dsdl_app", str(port), str(model_path), ",".join(FEATURES)],
        cwd=ROOT,
        stdout=logfile,
        stderr=subprocess.STDOUT,
    )
    meta = {"options": {"model_name": "bench", "params": {"algo": "xgboost_classifier"}}}
    try:
        with requests.Session() as session:
            wait_until(lambda: session.get(f"{url}/health", timeout=2).ok, 60, "the DSDL app")

            def post(body: bytes) -> bytes:
                r = session.post(
                    f"{url}/apply",
                    json={"data": body.decode("utf-8"), "meta": meta},
                    headers={"Authorization": "Bearer bench"},
                    timeout=900,
                )
                r.raise_for_status()
                answer = r.json()
                if answer.get("status") != "success":
                    raise RuntimeError(f"the DSDL app failed: {answer.get('message')}")
                return str(answer["results"]).encode("utf-8")

            log("  DSDL: warm-up request")
            post(first_events(bodies[0], 1000))
            replies: list[bytes] = []
            used: dict[str, float] = {}
            with _cpu_of({"DSDL app (uvicorn)": server.pid}, used):
                reading, _ = measure(lambda: replies.extend(post(b) for b in bodies))
    finally:
        server.terminate()
        server.wait(20)
        logfile.close()
    return Pass(reading, _events(bodies), len(bodies), used, _same(replies, expected))


def save_pipeline(pipeline: Any, path: Path) -> Path:
    with path.open("wb") as f:
        pickle.dump(pipeline, f)
    return path
