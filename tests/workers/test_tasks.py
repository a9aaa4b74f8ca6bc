"""Worker tasks: JSON only, late acknowledgement, and a lost pool process hands its job on."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import psutil
import pytest

from kepler._stack import LocalStack, wait_until


def test_fit_task_acks_late_and_takes_ids() -> None:
    from kepler_workers.app import app
    from kepler_workers.tasks import fit

    assert fit.acks_late is True
    assert app.conf.task_acks_late and app.conf.task_reject_on_worker_lost
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    assert app.conf.worker_prefetch_multiplier == 1
    assert list(fit.__annotations__)[:2] == ["dataset_id", "job_id"]


def test_sqlite_broker_uses_fast_polling_transport(settings) -> None:  # type: ignore[no-untyped-def]
    from kepler.server.queue import make_celery

    app = make_celery(settings)
    with app.connection_for_write() as conn:
        assert conn.transport.polling_interval <= 0.1
        assert conn.transport_cls.endswith("SQLiteTransport")


@pytest.mark.system
def test_lost_pool_process_job_is_redelivered_and_registers_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(30_000, 10)), columns=[f"f{i}" for i in range(10)])
    frame["y"] = (frame["f0"] + rng.normal(size=len(frame)) > 0).astype(int)
    # The redelivered message finds the job running with a fresh heartbeat and leaves it;
    # the beat re-queues it once the heartbeat is stale: short settings, a short wait.
    fast = {"KEPLER_JOB_HEARTBEAT_S": "1", "KEPLER_JOB_STALE_S": "5"}
    with LocalStack(tmp_path / "home", extra_env=fast) as stack:
        client = stack.client()
        first = client.fit(
            frame,
            "RandomForestClassifier",
            target="y",
            into="crash",
            n_estimators=40,
            n_jobs=1,
            random_state=0,
            wait=False,
        )
        wait_until(lambda: client.job(first.job_id)["state"] == "running", 60, "job start")
        worker = psutil.Process(stack.workers[0].pid)
        (child,) = worker.children()
        child.kill()  # the pool process dies mid-fit; the message was not acknowledged
        result = client.wait(first.job_id, progress=False)
        assert result.version == 1
        assert client.job(first.job_id)["state"] == "succeeded"
        versions = client.summary("crash")["versions"]
        assert len(versions) == 1, versions
        time.sleep(0.5)
        assert client.models().set_index("name").loc["crash", "latest_version"] == 1
