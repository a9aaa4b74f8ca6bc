"""Every dashboard of the app rendered in a real browser: Splunk's Dashboard Studio packages
from npm (dashboards/preview) in headless Chromium, each data source fed with what the
real searches answered (tests/dashboards/searches.py) after real Kepler runs: fits, an
AutoML search, applies and scores through the app's `kepler` command against a bridge and
worker that send their events to the HEC double. Each visualization must show data and no
error; the screenshots land in build/screenshots/ (`make screenshots`)."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kepler._stack import LocalStack, wait_until
from kepler.hec import HecSender, make_event
from tests.dashboards.definitions import ROOT, definitions
from tests.dashboards.searches import FIXTURES, Results
from tests.hec.receiver import HecReceiver, Token
from tests.splunk.harness import Splunkd, chunks
from tests.splunk.kepler_command import run_fit, sensor_events, splunkd

pytestmark = pytest.mark.system

PREVIEW = ROOT / "dashboards" / "preview"
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "build" / "screenshots"
HEC_TOKEN = str(uuid.uuid4())
INDEXES = {"kepler", "kepler_metrics", "kepler_scores"}
FIELDS = ["_time", "temp", "vibration", "site", "failure"]
MODEL = "pump"
BROKEN = "broken_scores"  # a copy with a failing and an empty search: the check must see them


@pytest.fixture(scope="module")
def receiver() -> Iterator[HecReceiver]:
    with HecReceiver(tokens={HEC_TOKEN: Token(indexes=INDEXES)}) as rx:
        yield rx


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, receiver: HecReceiver) -> Iterator[LocalStack]:
    env = {
        "KEPLER_HEC_URL": receiver.url,
        "KEPLER_HEC_TOKEN": HEC_TOKEN,
        "KEPLER_HEC_INDEX": "kepler",
        "KEPLER_HEC_METRICS_INDEX": "kepler_metrics",
        "KEPLER_HEC_LINGER": "0.05",
    }
    with LocalStack(tmp_path_factory.mktemp("preview-stack"), extra_env=env) as s:
        yield s


def generate(script: Path, stack: LocalStack, args: list[str]) -> list[dict]:
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(args)
    assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
    reply = cmd.execute(b"", finished=True)
    assert cmd.close() == 0, cmd.stderr
    return reply.records()


def stream(script: Path, stack: LocalStack, args: list[str], events: list[dict]) -> list[dict]:
    """A streaming or reporting subcommand (apply, score) over `events`, all in one chunk."""
    cmd: Splunkd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(args)
    assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
    fields = list(dict.fromkeys(k for e in events for k in e))
    _, rows = cmd.send(events, finished=True, fields=fields)
    assert cmd.close() == 0, cmd.stderr
    return rows


def fit(script: Path, stack: LocalStack, args: list[str], n: int = 400) -> list[dict]:
    cmd = splunkd(script, stack.url, stack.token)
    _, replies = run_fit(cmd, args, chunks(sensor_events(n), 200, FIELDS))
    assert cmd.close() == 0, cmd.stderr
    return replies[-1].records()


def wasserstein(a: list[float], b: list[float]) -> float:
    """W1 between two samples of one size: the mean gap of their sorted values."""
    return sum(abs(x - y) for x, y in zip(sorted(a), sorted(b), strict=True)) / len(a)


def monitor_runs(script: Path, stack: LocalStack, receiver: HecReceiver) -> None:
    """What a drift monitor sends each hour (issue 16; the shapes of wip/monitor, not on this
    branch): per field a
    `kepler.drift.wasserstein` metric (dimensions model, version, field, drifted), the live
    accuracy of the model's answers (`| kepler apply`) on the hour's labelled events
    (`kepler.live.accuracy`), and a `kepler:drift` event when a field drifted. The data is
    real: production windows whose temperature creeps up hour by hour, scored by the model."""
    train = sensor_events(400)
    now = time.time()
    with HecSender(url=receiver.url, token=HEC_TOKEN, linger=0.05) as hec:
        for hour in range(4):
            window = sensor_events(200, seed=10 + hour)
            for e in window:
                e["temp"] = f"{float(e['temp']) + 6 * hour:.2f}"
            at = now - (3 - hour) * 3600
            scored = stream(script, stack, ["apply", MODEL], window)
            hits = sum(r["failure"] == r["predicted(failure)"] for r in scored)
            drifted: list[str] = []
            for name in ("temp", "vibration"):
                stat = wasserstein(
                    [float(e[name]) for e in train[:200]], [float(e[name]) for e in window]
                )
                flag = stat > 5.0
                drifted += [name] if flag else []
                dims = {
                    "model": MODEL,
                    "version": "2",
                    "monitor": "pump-drift",
                    "field": name,
                    "drifted": str(flag).lower(),
                }
                fields = {**dims, "metric_name:kepler.drift.wasserstein": stat}
                hec.send(
                    make_event(
                        "metric",
                        time=at,
                        index="kepler_metrics",
                        sourcetype="kepler:metrics",
                        fields=fields,
                    )
                )
            live_fields = {
                "model": MODEL,
                "version": "2",
                "metric_name:kepler.live.accuracy": hits / len(scored),
            }
            hec.send(
                make_event(
                    "metric",
                    time=at,
                    index="kepler_metrics",
                    sourcetype="kepler:metrics",
                    fields=live_fields,
                )
            )
            if drifted:
                event = {
                    "model": MODEL,
                    "version": "2",
                    "monitor": "pump-drift",
                    "drifted": drifted,
                    "rows": len(window),
                    "kepler_job": f"monitor-run-{hour}",
                }
                hec.send(
                    make_event(
                        event, time=at, index="kepler", sourcetype="kepler:drift", source="kepler"
                    )
                )
        hec.flush(30)


@pytest.fixture(scope="module")
def results(
    tmp_path_factory: pytest.TempPathFactory, stack: LocalStack, receiver: HecReceiver
) -> Results:
    from tests.splunk.kepler_command import write_shim

    script = write_shim(tmp_path_factory.mktemp("bin"))
    fit(
        script,
        stack,
        ["fit", "LogisticRegression", "failure", "from", "temp", "vibration", "into", MODEL],
    )
    fit(
        script,
        stack,
        [
            "fit",
            "RandomForestClassifier",
            "failure",
            "from",
            "temp",
            "vibration",
            "site",
            "into",
            MODEL,
        ],
    )
    fit(
        script, stack, ["fit", "DecisionTreeClassifier", "failure", "from", "temp", "into", "valve"]
    )
    stack.client().set_alias(MODEL, "production", 2)
    fit(
        script,
        stack,
        [
            "automl",
            "failure",
            "from",
            "temp",
            "vibration",
            "into",
            "pump_auto",
            "time_budget=60",
            "max_trials=3",
            "seed=1",
            "algorithms=DecisionTreeClassifier,LogisticRegression",
        ],
    )
    # The AutoML dashboard's leaderboard, before a second search starts (| kepler
    # leaderboard "*": the newest search, the model input's "All").
    leaderboard = generate(script, stack, ["leaderboard", '"*"'])
    assert leaderboard and leaderboard[0]["model"] == "pump_auto", leaderboard
    # A job that fails in the worker: a regressor asked to learn a yes/no label.
    cmd = splunkd(script, stack.url, stack.token)
    run_fit(
        cmd,
        ["fit", "LinearRegression", "failure", "from", "site", "into", "broken"],
        chunks(sensor_events(100), 100, FIELDS),
    )
    cmd.close()
    monitor_runs(script, stack, receiver)
    rng = random.Random(7)
    scores = sensor_events(300, seed=20)
    for e in scores:
        e["_time"] = time.time() - rng.uniform(0, 3 * 3600)
    stream(script, stack, ["apply", MODEL, "index=kepler_scores"], scores)
    wait_until(
        lambda: any(e.get("sourcetype") == "kepler:apply" for e in receiver.events),
        30,
        "apply telemetry",
    )
    # A job still running when the jobs are listed (the stack stops it at the end).
    cmd = splunkd(script, stack.url, stack.token)
    cmd.getinfo(
        [
            "automl",
            "failure",
            "from",
            "temp",
            "vibration",
            "into",
            "pump_auto",
            "async=true",
            "time_budget=60",
        ]
    )
    cmd.execute_all(chunks(sensor_events(300), 300, FIELDS)[0], finished=True)
    assert cmd.close() == 0, cmd.stderr
    with receiver.lock:
        events = list(receiver.events)
    return Results(
        models=generate(script, stack, ["models"]),
        jobs=generate(script, stack, ["jobs", "limit=500"]),
        summary={MODEL: generate(script, stack, ["summary", MODEL])},
        leaderboard=leaderboard,
        events=events,
        model=MODEL,
    )


@pytest.fixture(scope="module")
def preview_page() -> Path:
    """The page `make install` built (npm ci from the lock, then esbuild); built here only
    when it is missing or older than its sources, so a failed npm install fails this test."""
    assert shutil.which("node") and shutil.which("npm"), "node and npm are needed: make install"
    assert CHROMIUM.exists(), f"no {CHROMIUM}: `make system-deps` installs Debian's chromium"
    page = PREVIEW / "dist" / "index.html"
    if not (PREVIEW / "node_modules" / ".package-lock.json").exists():
        proc = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=PREVIEW,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, (
            f"npm ci failed in {PREVIEW}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    sources = [PREVIEW / "build.mjs", PREVIEW / "package-lock.json", *(PREVIEW / "src").iterdir()]
    if not page.exists() or page.stat().st_mtime < max(p.stat().st_mtime for p in sources):
        proc = subprocess.run(
            ["node", "build.mjs"], cwd=PREVIEW, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, f"building the preview page failed:\n{proc.stderr[-3000:]}"
    return page


@pytest.fixture(scope="module")
def rendered(
    preview_page: Path, results: Results, tmp_path_factory: pytest.TempPathFactory
) -> dict:
    dashboards = []
    for name, d in definitions().items():
        dashboards.append({"name": name, "definition": d, "fixtures": FIXTURES[name](results)})
    broken = dict(FIXTURES["kepler_scores"](results))
    del broken["ds_scores_time"]
    broken["ds_score_count"] = {"fields": [{"name": "scored"}], "columns": [[]]}
    scores = definitions()["kepler_scores"]
    dashboards.append({"name": BROKEN, "definition": scores, "fixtures": broken, "settleMs": 3000})
    folder = tmp_path_factory.mktemp("preview")
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"chromium": str(CHROMIUM), "dashboards": dashboards}))
    (folder / "fixtures.json").write_text(json.dumps(dashboards, indent=1))
    out = Path(os.environ.get("KEPLER_SCREENSHOTS", SCREENSHOTS))
    proc = subprocess.run(
        ["node", "render.mjs", str(manifest), str(out)],
        cwd=PREVIEW,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"render.mjs failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return json.loads((out / "report.json").read_text()) | {"_out": str(out)}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_dashboard_renders_every_visualization_with_data(rendered: dict, name: str) -> None:
    report = rendered[name]
    assert report["pageErrors"] == [], report["pageErrors"]
    assert report["unknownCalls"] == [], (
        f"splunkd calls the preview double does not answer: {report['unknownCalls']}"
    )
    bad = {k: v for k, v in report["visualizations"].items() if v["state"] != "data"}
    assert not bad, f"{name}: visualizations without data or in error: {json.dumps(bad, indent=1)}"
    assert set(report["visualizations"]) == set(definitions()[name]["visualizations"])
    assert len(report["inputs"]) == 2 and all("Cannot access" not in i for i in report["inputs"]), (
        report["inputs"]
    )
    png = Path(rendered["_out"]) / f"{name}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_search_without_results_shows_as_such(rendered: dict) -> None:
    """The check can fail: on a copy of a dashboard, a data source with no fixture (as a
    search that errors) and one without rows are reported as error and not as data."""
    seen = rendered[BROKEN]["visualizations"]
    assert seen["viz_scores_time"]["state"] == "error"
    assert "no fixture" in seen["viz_scores_time"]["text"]
    assert seen["viz_score_count"]["state"] != "data"
    assert seen["viz_scores_version"]["state"] == "data"
