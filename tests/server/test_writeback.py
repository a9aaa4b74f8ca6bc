"""Scored rows as HEC events, and where the HEC settings for a request come from."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kepler.core.errors import Forbidden, HecNotConfigured
from kepler.core.spec import FitSpec
from kepler.hec import HecSettings
from kepler.server import writeback
from kepler.server.fitting import run_fit_job
from kepler.server.jobs import FAILED, SUCCEEDED, JobStore
from kepler.server.model_cache import process_cache
from kepler.server.scoring import rows_to_events
from kepler.server.settings import ServerSettings
from kepler.server.writeback import hec_target, run_apply_job
from tests.hec.receiver import HecReceiver

TOKEN = "abababab-cdcd-efef-0101-232323232323"


def test_rows_become_events_with_their_time_and_no_splunk_internals() -> None:
    rows = [
        {"_time": "1700000000.5", "_raw": "x", "temp": "12.5", "predicted(failure)": "no"},
        {"_time": "", "temp": None, "predicted(failure)": "yes", "score": float("nan")},
    ]
    first, second = rows_to_events(rows, index="scores", sourcetype=None, source="kepler:apply:p@1")
    assert first == {
        "event": {"temp": "12.5", "predicted(failure)": "no"},
        "time": 1700000000.5,
        "index": "scores",
        "sourcetype": "kepler:score",
        "source": "kepler:apply:p@1",
    }
    assert second["event"] == {"predicted(failure)": "yes"} and "time" not in second


def test_headers_override_the_bridges_settings() -> None:
    base = HecSettings(
        url="https://own:8088",
        token="own-token",
        index="kepler",
        ack=True,
        allowed_urls="https://page:8088",
    )
    assert hec_target(base, {}) is base
    assert hec_target(base, {"X-Kepler-Hec-Url": "https://page:8088"}) is base  # no token
    page = hec_target(
        base,
        {
            "x-kepler-hec-url": "https://page:8088/services/collector",
            "x-kepler-hec-token": "page-token",
            "x-kepler-hec-ack": "false",
        },
    )
    assert page.url == "https://page:8088"
    assert page.token is not None and page.token.get_secret_value() == "page-token"
    assert (page.ack, page.verify_tls, page.index) == (False, True, "kepler")
    assert "page-token" not in repr(page)


def _page(url: str, token: str = "page-token", **more: str) -> dict[str, str]:  # noqa: S107
    return {"X-Kepler-Hec-Url": url, "X-Kepler-Hec-Token": token, **more}


def test_caller_target_not_allowed_is_refused_naming_the_setting() -> None:
    base = HecSettings(url="https://own:8088", token="own-token")
    # By default only the bridge's own URL, with whatever token the caller brings.
    assert hec_target(base, _page("https://own:8088/services/collector")).url == "https://own:8088"
    for url in (
        "https://elsewhere:8088",
        "https://own.evil.example:8088",
        "http://own:8088",  # not the same scheme
        "https://own:9999",
        "https://169.254.169.254",
    ):
        with pytest.raises(Forbidden) as refused:
            hec_target(base, _page(url, token="caller-secret"))
        message = refused.value.message
        assert "KEPLER_HEC_ALLOWED_URLS" in message and "https://own:8088" in message
        assert "caller-secret" not in message and refused.value.status == 403
    with pytest.raises(HecNotConfigured, match="not a URL"):  # the string starts alike
        hec_target(base, _page("https://own:8088.evil.example"))
    with pytest.raises(HecNotConfigured, match="user info"):
        hec_target(base, _page("https://own:8088@evil.example"))
    with pytest.raises(HecNotConfigured, match="http"):
        hec_target(base, _page("file:///etc/passwd"))
    # Without a URL of its own and no list, the bridge writes to no caller's target.
    with pytest.raises(Forbidden, match="allowed: none"):
        hec_target(HecSettings(url=""), _page("https://own:8088"))


def test_allowed_urls_are_base_urls_with_an_optional_path_prefix() -> None:
    base = HecSettings(url="", allowed_urls="https://a.example:8088, https://proxy.example/hec")
    assert base.allowed_urls == ["https://a.example:8088", "https://proxy.example/hec"]
    assert hec_target(base, _page("https://A.example:8088")).url == "https://A.example:8088"
    assert hec_target(base, _page("https://proxy.example:443/hec/eu")).token is not None
    for url in ("https://proxy.example/hecx", "https://proxy.example/", "https://a.example"):
        with pytest.raises(Forbidden):
            hec_target(base, _page(url))
    anywhere = HecSettings(url="", allowed_urls="*")
    assert hec_target(anywhere, _page("https://any.example:8088")).url
    with pytest.raises(ValidationError, match="KEPLER_HEC_ALLOWED_URLS"):
        HecSettings(allowed_urls="splunk.example:8088")


def test_tls_verification_off_needs_the_admins_setting_not_just_a_header() -> None:
    base = HecSettings(url="https://own:8088", token="own-token")
    off = _page("https://own:8088", **{"X-Kepler-Hec-Verify-Tls": "false"})
    with pytest.raises(Forbidden) as refused:
        hec_target(base, off)
    assert "KEPLER_HEC_ALLOW_TLS_VERIFY_OFF" in refused.value.message
    allowing = base.model_copy(update={"allow_tls_verify_off": True})
    assert hec_target(allowing, off).verify_tls is False
    assert hec_target(base, _page("https://own:8088")).verify_tls is True


def _stack_settings(tmp_path: Path, rx: HecReceiver | None) -> ServerSettings:
    hec = HecSettings(url=rx.url, token=TOKEN, linger=0.01) if rx else HecSettings(url="")
    return ServerSettings(home=tmp_path / "home", token="test-token", hec=hec)


def _apply_job(settings: ServerSettings, index: str = "scores") -> tuple[str, str, JobStore]:
    from tests.server.test_fitting import _regression_csv, _upload_csv

    train = _upload_csv(settings, _regression_csv())
    jobs = JobStore(settings.database_url)
    spec = FitSpec("LinearRegression", target="y", features=("x",), into="line")
    fit = jobs.create("fit", spec.to_dict(), model="line", dataset_id=train)
    assert run_fit_job(train, fit.id, settings)["version"] == 1
    new = _upload_csv(
        settings, "_time,x\r\n" + "".join(f"{1700000000 + i},{i}\r\n" for i in range(200))
    )
    job = jobs.create(
        "apply",
        {"model": "line", "version": 1, "index": index, "sourcetype": None, "rows": 200},
        model="line",
        dataset_id=new,
    )
    return new, job.id, jobs


def test_apply_job_writes_every_row_and_resumes_after_the_last_written_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writeback, "BATCH_ROWS", 50)  # four batches of 50 rows
    with HecReceiver(token=TOKEN) as rx:
        settings = _stack_settings(tmp_path, rx)
        dataset_id, job_id, jobs = _apply_job(settings)
        result = run_apply_job(dataset_id, job_id, settings)
        assert (result["rows"], result["events_written"], result["version"]) == (200, 200, 1)
        scores = [e for e in rx.events if e["index"] == "scores"]
        assert sorted(e["time"] for e in scores) == [1700000000.0 + i for i in range(200)]
        for e in scores:
            assert e["event"]["predicted(y)"] == pytest.approx(3 * float(e["event"]["x"]) + 1)
        assert jobs.get(job_id).state == SUCCEEDED
        # A redelivered message after the job finished writes nothing again.
        assert run_apply_job(dataset_id, job_id, settings) == result
        # A worker lost after two written batches (the job running, its heartbeat long
        # silent): the redelivery writes only the other two.
        jobs._update(job_id, state="running", heartbeat_at=0.0)
        jobs.checkpoint(job_id, {"batches_written": 2, "rows": 100})
        with rx.lock:
            rx.events.clear()
        again = run_apply_job(dataset_id, job_id, settings)
        assert again["rows"] == 200 and again["events_written"] == 100
        assert sorted(e["time"] for e in rx.events if e["index"] == "scores") == [
            1700000000.0 + i for i in range(100, 200)
        ]
        # Every run of the job scored with the one model this worker process loaded.
        assert process_cache(settings).loads == 1


def test_apply_job_without_hec_fails_with_the_settings_to_set(tmp_path: Path) -> None:
    settings = _stack_settings(tmp_path, None)
    dataset_id, job_id, jobs = _apply_job(settings)
    result = run_apply_job(dataset_id, job_id, settings)
    assert result["error"]["code"] == "hec_not_configured"
    job = jobs.get(job_id)
    assert job.state == FAILED and "KEPLER_HEC_URL" in job.message


def test_apply_job_fails_with_hec_queue_full_instead_of_waiting_at_0_percent(
    tmp_path: Path,
) -> None:
    import os
    import threading

    from kepler.core.errors import HecQueueFull
    from kepler.server.telemetry import close_senders, sender_for

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
    try:
        dataset_id, job_id, jobs = _apply_job(settings)
        sender = sender_for(settings.hec)
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
            target=lambda: outcome.append(run_apply_job(dataset_id, job_id, settings)),
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
        close_senders(timeout=0)
