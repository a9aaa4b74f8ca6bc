"""The async apply job: every row scored and written to HEC, resumed after the last
written batch, failed with the setting to change."""

from __future__ import annotations

from pathlib import Path

import pytest

from kepler.core.spec import FitSpec
from kepler.hec import HecSettings
from kepler.server.context import ServerContext
from kepler.server.jobs import apply
from kepler.server.jobs.apply import run_apply
from kepler.server.jobs.fit import run_fit
from kepler.server.settings import ServerSettings
from kepler.server.stores.jobs import FAILED, SUCCEEDED, JobStore
from tests.hec.receiver import HecReceiver

TOKEN = "abababab-cdcd-efef-0101-232323232323"


def _stack_settings(tmp_path: Path, rx: HecReceiver | None) -> ServerSettings:
    hec = HecSettings(url=rx.url, token=TOKEN, linger=0.01) if rx else HecSettings(url="")
    return ServerSettings(home=tmp_path / "home", token="test-token", hec=hec)


def _apply_job(
    ctx: ServerContext, index: str = "scores", shadow: str | None = None
) -> tuple[str, str, JobStore]:
    from tests.server.jobs.test_fit import _regression_csv, _upload_csv

    settings = ctx.settings
    train = _upload_csv(settings, _regression_csv())
    jobs = ctx.jobs
    spec = FitSpec("LinearRegression", target="y", features=("x",), into="line")
    fit = jobs.create("fit", spec.to_dict(), model="line", dataset_id=train)
    assert run_fit(ctx, train, fit.id)["version"] == 1
    new = _upload_csv(
        settings, "_time,x\r\n" + "".join(f"{1700000000 + i},{i}\r\n" for i in range(200))
    )
    job = jobs.create(
        "apply",
        {
            "model": "line",
            "version": 1,
            "index": index,
            "sourcetype": None,
            "rows": 200,
            "shadow": shadow,
        },
        model="line",
        dataset_id=new,
    )
    return new, job.id, jobs


def test_apply_job_writes_every_row_and_resumes_after_the_last_written_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(apply, "BATCH_ROWS", 50)  # four batches of 50 rows
    with HecReceiver(token=TOKEN) as rx:
        ctx = ServerContext(_stack_settings(tmp_path, rx), component="worker")
        dataset_id, job_id, jobs = _apply_job(ctx)
        result = run_apply(ctx, dataset_id, job_id)
        assert (result["rows"], result["events_written"], result["version"]) == (200, 200, 1)
        scores = [e for e in rx.events if e["index"] == "scores"]
        assert sorted(e["time"] for e in scores) == [1700000000.0 + i for i in range(200)]
        for e in scores:
            assert e["event"]["predicted(y)"] == pytest.approx(3 * float(e["event"]["x"]) + 1)
        assert jobs.get(job_id).state == SUCCEEDED
        # A redelivered message after the job finished writes nothing again.
        assert run_apply(ctx, dataset_id, job_id) == result
        # A worker lost after two written batches (the job running, its heartbeat long
        # silent): the redelivery writes only the other two.
        jobs._update(job_id, state="running", heartbeat_at=0.0)
        jobs.checkpoint(job_id, {"batches_written": 2, "rows": 100})
        with rx.lock:
            rx.events.clear()
        again = run_apply(ctx, dataset_id, job_id)
        assert again["rows"] == 200 and again["events_written"] == 100
        assert sorted(e["time"] for e in rx.events if e["index"] == "scores") == [
            1700000000.0 + i for i in range(100, 200)
        ]
        # Every run of the job scored with the one model this worker process loaded.
        assert ctx.cache.loads == 1


def test_apply_job_without_hec_fails_with_the_settings_to_set(tmp_path: Path) -> None:
    ctx = ServerContext(_stack_settings(tmp_path, None), component="worker")
    dataset_id, job_id, jobs = _apply_job(ctx)
    result = run_apply(ctx, dataset_id, job_id)
    assert result["error"]["code"] == "hec_not_configured"
    job = jobs.get(job_id)
    assert job.state == FAILED and "KEPLER_HEC_URL" in job.message


def test_apply_job_fails_with_hec_queue_full_instead_of_waiting_at_0_percent(
    tmp_path: Path,
) -> None:
    import os
    import threading

    from kepler.core.errors import HecQueueFull

    rx = HecReceiver(token=TOKEN).start()
    rx.stop()  # HEC down for the whole test
    hec = HecSettings(
        url=rx.url,
        token=TOKEN,
        linger=0.01,
        max_retries=0,
        backoff_max=0.2,
        queue_max_bytes=64 * 1024,
        flush_timeout=20,
    )
    settings = ServerSettings(home=tmp_path / "home", token="test-token", hec=hec)
    ctx = ServerContext(settings, component="worker")
    try:
        dataset_id, job_id, jobs = _apply_job(ctx)
        sender = ctx.senders.own(settings.hec)
        assert sender is not None
        # The worker's queue fills up with other events (random, so gzip cannot shrink
        # them on disk and make room again), until not even one more fits.
        for _ in range(100):
            with pytest.raises(HecQueueFull):
                for i in range(100_000):
                    sender.send({"id": i, "pad": os.urandom(150).hex()})
            sender.flush(timeout=20)
            if i == 0:
                break
        outcome: list[dict[str, object]] = []
        worker = threading.Thread(
            target=lambda: outcome.append(run_apply(ctx, dataset_id, job_id)),
            daemon=True,
        )
        worker.start()
        worker.join(60)  # a hang guard: it ends at once, or the old hang is back
        assert not worker.is_alive(), "the apply job waited on a full HEC queue"
        job = jobs.get(job_id)
        assert job.state == FAILED and job.error is not None
        assert job.error["code"] == "hec_queue_full" and job.error["status"] == 507
        assert "KEPLER_HEC_QUEUE_MAX_BYTES" in job.message and rx.url in job.message
        assert TOKEN not in job.message
    finally:
        ctx.close(timeout=0)


def test_apply_job_with_a_shadow_writes_the_champions_scores_and_each_batchs_agreement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.server.jobs.test_fit import _upload_csv

    monkeypatch.setattr(apply, "BATCH_ROWS", 100)  # two batches of 100 rows
    with HecReceiver(token=TOKEN) as rx:
        ctx = ServerContext(_stack_settings(tmp_path, rx), component="worker")
        dataset_id, job_id, jobs = _apply_job(ctx, shadow="line@2")  # line@1: y = 3x + 1
        # The challenger, line@2: y = 2x + 1, so it is off by x on every row.
        train = _upload_csv(
            ctx.settings, "x,y\r\n" + "".join(f"{i},{2 * i + 1}\r\n" for i in range(50))
        )
        spec = FitSpec("LinearRegression", target="y", features=("x",), into="line")
        fit = jobs.create("fit", spec.to_dict(), model="line", dataset_id=train)
        assert run_fit(ctx, train, fit.id)["version"] == 2

        result = run_apply(ctx, dataset_id, job_id)
        assert (result["rows"], result["events_written"]) == (200, 200)
        # What reached the index is the champion's alone.
        scores = [e for e in rx.events if e["index"] == "scores"]
        for e in scores:
            assert e["event"]["predicted(y)"] == pytest.approx(3 * float(e["event"]["x"]) + 1)
        # One kepler:shadow event a batch, and the job's result sums them up.
        shadows = [e["event"] for e in rx.events if e.get("sourcetype") == "kepler:shadow"]
        assert sorted(e["rows"] for e in shadows) == [100, 100]
        assert {(e["mode"], e["job"], e["champion"], e["challenger"]) for e in shadows} == {
            ("async", job_id, "line@1", "line@2")
        }
        # |(3x + 1) - (2x + 1)| = x: 49.5 over rows 0..99, 149.5 over 100..199.
        diffs = sorted(e["mean_abs_diff"] for e in shadows)
        assert diffs == pytest.approx([49.5, 149.5])
        assert result["shadow"]["challenger"] == "line@2"
        assert result["shadow"]["rows"] == 200
        assert result["shadow"]["mean_abs_diff"] == pytest.approx(99.5)


def test_apply_job_of_a_forecaster_is_refused_at_submit(tmp_path: Path) -> None:
    from kepler.core.errors import InvalidSpec
    from kepler.server.jobs.apply import submit_apply
    from tests.server.jobs.test_fit import _upload_csv

    hec = HecSettings(url="http://127.0.0.1:9", token=TOKEN)
    ctx = ServerContext(
        ServerSettings(home=tmp_path / "home", token="t", hec=hec), component="bridge"
    )
    series = "_time,x\r\n" + "".join(f"{1700000000 + 60 * i},{i % 7}\r\n" for i in range(60))
    data = _upload_csv(ctx.settings, series)
    spec = FitSpec("StateSpaceForecast", features=("x",), into="ssf")
    fit = ctx.jobs.create("fit", spec.to_dict(), model="ssf", dataset_id=data)
    assert run_fit(ctx, data, fit.id)["version"] == 1
    # the workers score in batches; a forecaster must run over the whole series at once
    with pytest.raises(InvalidSpec, match="runs over one whole series"):
        submit_apply(ctx, {"model": "ssf", "dataset_id": data, "index": "scores"})
