"""The real `kepler` command as splunkd runs it (no arguments, bare Python: `-S`), for the
tests that drive it through the protocol v2 harness: the shim the app ships, a splunkd
double running it, training events, and checks of a fit's answers."""

from __future__ import annotations

import itertools
import os
import random
import re
from pathlib import Path

from tests.splunk.harness import Reply, Splunkd

ROOT = Path(__file__).resolve().parents[2]
SHIM = """\
import sys
sys.path[:0] = [{root!r}, {lib!r}]
from kepler.searchcommand.main import main
main()
"""


def splunkd(script: Path, url: str, token: str, **env: str) -> Splunkd:
    child = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    child.update(KEPLER_URL=url, KEPLER_TOKEN=token, **env)
    return Splunkd(script, command="kepler", python_args=["-S"], env=child, timeout=120)


def sensor_events(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    events = []
    for i in range(n):
        temp = rng.uniform(10, 90)
        vibration = rng.uniform(0, 5)
        events.append(
            {
                "_time": 1700000000 + i,
                "temp": f"{temp:.2f}",
                "vibration": f"{vibration:.3f}",
                "site": rng.choice(["Köln", "São Paulo", "東京"]),
                "tags": ["pump", "line-2"] if i % 3 == 0 else "pump",
                "failure": "yes" if temp > 60 and vibration > 2.5 else "no",
            }
        )
    return events


def run_fit(cmd: Splunkd, args: list[str], bodies: list[bytes], search: str | None = None):  # type: ignore[no-untyped-def]
    """getinfo, then every chunk; after the last one splunkd asks again while the command
    answers `finished: false`. Returns every answer: one per chunk before the last, then
    the answers to the last chunk (the job's progress, then its result)."""
    info = cmd.getinfo(args, search=search, earliest_time="1700000000", latest_time="now")
    assert info.metadata.get("type") == "stateful", info.metadata
    for i, body in enumerate(bodies):
        cmd.execute_all(body, finished=i == len(bodies) - 1)
    return info, cmd.replies


PROGRESS = re.compile(r"kepler (?:fit|automl): (\d+)% ")


def live_progress(answers: list[Reply], verb: str) -> tuple[str, list[str]]:
    """Check the answers to the last chunk of a fit or automl that waits for its job: the
    job queued first, its progress while it runs (`finished: false`, INFO only, a message
    only when it moved, the percentage never back), then the result. Returns the job id and
    the progress messages shown before the result."""
    first, *following, last = answers
    assert [a.finished for a in answers] == [False] * (len(answers) - 1) + [True]
    assert all(a.body == b"" for a in answers[:-1])
    ((level, text),) = first.messages
    queued = re.fullmatch(
        rf"kepler {verb}: job (\w+) queued; its progress follows in these messages", text
    )
    assert level == "INFO" and queued is not None, first.messages
    running = [text for a in following for level, text in a.messages if level == "INFO"]
    assert [m for a in following for m in a.messages if m[0] != "INFO"] == []
    assert any(PROGRESS.match(t) for t in running), f"no progress while the job ran: {running}"
    shown = [*running, *(text for _, text in last.messages)]
    assert all(a != b for a, b in itertools.pairwise(shown))  # only when it moved
    percents = [int(m[1]) for t in shown if (m := PROGRESS.match(t))]
    assert percents == sorted(percents) and percents[-1] == 100, shown
    return queued[1], running


def write_shim(folder: Path) -> Path:
    """The command as the app ships it: the repo's kepler package and vendored splunklib
    first on sys.path, nothing else (run it with -S: no site-packages, as in Splunk)."""
    path = folder / "kepler.py"
    path.write_text(SHIM.format(root=str(ROOT), lib=str(ROOT / "build" / "vendor" / "lib")))
    return path
