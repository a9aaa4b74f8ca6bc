"""`kepler jobs`, `kepler job show|cancel` and the bounded waits (`--wait --timeout`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kepler._stack import LocalStack
from tests.cli.conftest import Run, clean_env

JOB_KEYS = {"id", "state", "kind", "model", "user", "progress", "message", "created_at", "age_s"}


@pytest.fixture(scope="module")
def idle_stack(
    cli_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    """A bridge over the same registry and jobs as ``cli_stack`` whose queue no worker
    reads: its jobs stay queued, so every wait on them runs into its timeout."""
    broker = tmp_path_factory.mktemp("idle") / "broker.db"
    stack = LocalStack(
        cli_stack.home,
        workers=0,
        beat=False,
        token=cli_stack.token,
        extra_env={"KEPLER_BROKER_URL": f"sqla+sqlite:///{broker}"},
    )
    with stack:
        yield stack


@pytest.fixture
def idle(idle_stack: LocalStack, run_in: Callable[..., Run], tmp_path: Path) -> Run:
    env = clean_env(tmp_path / "home", KEPLER_URL=idle_stack.url, KEPLER_TOKEN=idle_stack.token)
    return run_in(env)


@pytest.fixture
def fitted(kepler: Run, pumps_csv: Path) -> dict[str, object]:
    out = kepler(
        "fit", str(pumps_csv), "LinearRegression temp from vibration into cli_jobs", "--json"
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_jobs_lists_recent_with_stable_keys(kepler: Run, fitted: dict[str, object]) -> None:
    out = kepler("jobs", "--json", "--limit", "5")
    assert out.returncode == 0, out.stderr
    jobs = json.loads(out.stdout)
    assert 1 <= len(jobs) <= 5 and all(set(j) == JOB_KEYS for j in jobs)
    mine = next(j for j in jobs if j["id"] == fitted["job_id"])
    assert mine["state"] == "succeeded" and mine["kind"] == "fit"
    assert mine["model"] == "cli_jobs" and mine["progress"] == 1.0 and mine["age_s"] >= 0
    table = kepler("jobs")
    assert table.returncode == 0 and str(fitted["job_id"]) in table.stdout
    assert table.stdout.splitlines()[0].split() == [
        "id",
        "state",
        "kind",
        "model",
        "user",
        "progress",
        "age",
        "message",
    ]


def test_jobs_state_filter(kepler: Run, fitted: dict[str, object]) -> None:
    done = json.loads(kepler("jobs", "--json", "--state", "succeeded").stdout)
    assert done and {j["state"] for j in done} == {"succeeded"}
    failed = json.loads(kepler("jobs", "--json", "--state", "failed").stdout)
    assert fitted["job_id"] not in {j["id"] for j in failed}
    bad = kepler("jobs", "--state", "done")
    assert bad.returncode == 2 and "queued, running, succeeded, failed, cancelled" in bad.stderr


def test_job_show(kepler: Run, fitted: dict[str, object]) -> None:
    out = kepler("job", "show", str(fitted["job_id"]), "--json")
    assert out.returncode == 0, out.stderr
    job = json.loads(out.stdout)
    assert job["id"] == fitted["job_id"] and job["state"] == "succeeded"
    assert job["result"]["version"] == fitted["version"]
    waited = kepler("job", "show", str(fitted["job_id"]), "--wait")
    assert waited.returncode == 0 and "succeeded" in waited.stdout
    missing = kepler("job", "show", "no-such-job")
    assert missing.returncode == 1 and "no-such-job" in missing.stderr


def test_fit_wait_is_bounded_then_job_cancelled(idle: Run, pumps_csv: Path) -> None:
    out = idle(
        "fit",
        str(pumps_csv),
        "LinearRegression temp from vibration into cli_idle",
        "--timeout",
        "1",
        timeout=90,
    )
    assert out.returncode == 1
    assert "still queued" in out.stderr and "after 1 s" in out.stderr
    job_id = out.stderr.split("job ", 1)[1].split()[0]
    assert f"kepler job cancel {job_id}" in out.stderr

    show = idle("job", "show", job_id, "--wait", "--timeout", "1", timeout=90)
    assert show.returncode == 1 and "still queued" in show.stderr

    cancelled = idle("job", "cancel", job_id, "--json")
    assert cancelled.returncode == 0, cancelled.stderr
    assert json.loads(cancelled.stdout)["state"] == "cancelled"
    ended = idle("job", "show", job_id, "--wait")
    assert ended.returncode == 1 and f"job {job_id} cancelled" in ended.stderr


def test_schedule_run_now_wait_is_bounded(
    kepler: Run, idle: Run, fitted: dict[str, object]
) -> None:
    added = kepler(
        "schedule",
        "add",
        "cli_sched",
        "--search",
        "index=sensors",
        "--model",
        "cli_jobs",
        "--every",
        "1d",
        "--shadow",
        "cli_jobs@1",
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip().endswith("shadow cli_jobs@1")
    try:
        out = idle("schedule", "run-now", "cli_sched", "--wait", "--timeout", "1", timeout=90)
        assert out.returncode == 1
        assert out.stdout.startswith("queued job ")
        assert "still queued" in out.stderr and "--timeout" in out.stderr
    finally:
        assert kepler("schedule", "remove", "cli_sched").returncode == 0
