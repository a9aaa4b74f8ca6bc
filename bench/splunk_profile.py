"""Where ``| kepler apply``'s time goes, for ``bench.splunk_apply``: the command process
under cProfile (wall clock) through a real search, and the bridge's steps for one request
run one by one in this process on the same chunks with the model already loaded.

The command's profile splits its wall time into waiting for splunkd's chunk, sending it
to the bridge, waiting for the bridge's answer, reading the answer and writing the reply.
The bridge's steps then say what the wait for the bridge is made of; the remainder is
HTTP, uvicorn and the ASGI app.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.splunk_sides import command_script
from tests.splunk.harness import Splunkd

# (label, file name ending, function name): cumulative wall time in the command process.
COMMAND_FUNCTIONS = (
    ("run", "searchcommand/main.py", "run"),
    ("read", "searchcommand/protocol.py", "read_chunk"),
    ("write", "searchcommand/protocol.py", "write_chunk"),
    ("request", "searchcommand/bridge.py", "request"),
    ("urlopen", "urllib/request.py", "urlopen"),
    ("send", "http/client.py", "send"),
    ("response", "http/client.py", "read"),
    ("build", "searchcommand/command.py", "build"),
)
# The same for the bridge's steps, run in this process.
BRIDGE_FUNCTIONS = (
    ("read_body", "kepler/server/scoring/_tables.py", "read_csv_for_model"),
    ("score_table", "kepler/server/scoring/_score.py", "score_table"),
    ("conform", "kepler/ml/frames.py", "conform"),
    ("predict", "sklearn/pipeline.py", "predict"),
    ("write_body", "kepler/server/scoring/_tables.py", "write_body"),
)


@dataclass
class Profile:
    chunks: int
    command: dict[str, float]  # phase -> seconds over ``chunks`` chunks
    bridge: dict[str, float] = field(default_factory=dict)  # step -> seconds, same chunks

    def per_chunk(self, seconds: float) -> float:
        return seconds / self.chunks


def command_profile(
    stack: Any,
    workdir: Path,
    bodies: list[bytes],
    ref: str,
    between: Callable[[bytes], None] | None = None,
) -> Profile:
    """One search over ``bodies`` with the command under cProfile. ``between(body)`` runs
    after each chunk's reply (the bridge's steps, in this process, so that both are
    measured under the same load); the command waits on stdin meanwhile, and that time
    is taken out of its read phase."""
    stats_path = workdir / "kepler_command.prof"
    script = command_script(workdir, profile_to=stats_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(KEPLER_URL=stack.url, KEPLER_TOKEN=stack.token, KEPLER_TIMEOUT="900")
    cmd = Splunkd(script, command="kepler", python_args=["-S"], env=env, timeout=900)
    cmd.getinfo(["apply", ref])
    aside = 0.0
    for i, body in enumerate(bodies):
        cmd.execute(body, finished=i == len(bodies) - 1)
        cmd.requests.clear()
        cmd.replies.clear()
        if between is not None:
            t0 = time.perf_counter()
            between(body)
            aside += time.perf_counter() - t0
    if cmd.close() != 0:
        raise RuntimeError(f"the profiled command failed: {cmd.stderr[-2000:]}")
    found = _cumulative(pstats.Stats(str(stats_path)), COMMAND_FUNCTIONS)
    # getinfo's one GET (the model check in `build`) goes through the same urllib calls:
    # taken out of the wait for the bridge and shown on its own.
    phases = {
        "read each chunk from stdin (waits for splunkd)": found["read"] - aside,
        "send the chunk to the bridge (`http.client` send)": found["send"],
        "wait for the bridge's answer": found["urlopen"] - found["send"] - found["build"],
        "read the bridge's answer": found["response"],
        "write the reply chunk to stdout": found["write"],
        "getinfo: the model check (one GET to the bridge)": found["build"],
    }
    total = found["run"] - aside
    phases["the rest (urllib's set-up per request, the metadata JSON)"] = total - sum(
        phases.values()
    )
    phases["total (the command's `run`)"] = total
    return Profile(len(bodies), phases)


def _cumulative(
    stats: pstats.Stats, functions: tuple[tuple[str, str, str], ...]
) -> dict[str, float]:
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    found = dict.fromkeys((label for label, _, _ in functions), 0.0)
    seen: set[str] = set()
    for (filename, _, name), (_, _, _, cumulative, _) in table.items():
        for label, ending, function in functions:
            if name == function and filename.replace("\\", "/").endswith(ending):
                found[label] += cumulative
                seen.add(label)
    # A function that moved would read as 0 s and skew every share: refuse instead.
    missing = [
        f"{function} in {ending}" for label, ending, function in functions if label not in seen
    ]
    if missing:
        raise RuntimeError(f"the profile has no call of {', '.join(missing)}: update the bench")
    return found


class BridgeSteps:
    """The bridge's work for one body with Kepler's own functions, as the apply route's
    ``work`` runs it in a thread for a pinned version it has cached (no registry lookup):
    ``read_csv_for_model``, ``score_table`` echoing ``_chunked_idx``, ``write_body``),
    under cProfile (wall clock) so that the steps
    inside ``score_table`` come from the same calls. Call it once per body."""

    def __init__(self, pipeline: Any, meta: Any) -> None:
        self._pipeline, self._meta = pipeline, meta
        self._profile = cProfile.Profile()
        self.calls = 0

    def _work(self, body: bytes) -> None:
        from kepler.server.scoring import read_csv_for_model, score_table, write_body

        echo = ["_chunked_idx"]
        table = read_csv_for_model(body, self._meta, echo)
        scored = score_table(self._pipeline, self._meta, table, include_input=False, echo=echo)
        write_body("csv", scored)

    def __call__(self, body: bytes) -> None:
        if not self.calls:
            self._work(body)  # warm: imports
        self._profile.runcall(self._work, body)
        self.calls += 1

    def result(self) -> dict[str, float]:
        """Seconds per step over every call."""
        found = _cumulative(pstats.Stats(self._profile), BRIDGE_FUNCTIONS)
        inside = found["conform"] + found["predict"]
        return {
            "parse the model's fields, numbers as float64 (`read_csv_for_model`)": found[
                "read_body"
            ],
            "`score_table`: the model's field types (`frames.conform`)": found["conform"],
            "`score_table`: `pipeline.predict`": found["predict"],
            "`score_table`: the rest (features to pandas, output frame, to Arrow, append)": (
                found["score_table"] - inside
            ),
            "write the CSV answer (`write_body`)": found["write_body"],
        }
