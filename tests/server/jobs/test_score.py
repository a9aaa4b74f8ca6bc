"""One scheduled scoring run as a plain function: real model store, splunkd REST double and
HEC receiver double on loopback (the Celery task only calls this)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kepler.hec import HecSettings
from kepler.server.context import ServerContext
from kepler.server.jobs.score import fire, run_score
from kepler.server.settings import ServerSettings
from kepler.server.stores.jobs import FAILED, SUCCEEDED
from kepler.splunk.settings import SplunkSettings
from tests.hec.receiver import HecReceiver
from tests.splunk.splunkd_rest import SplunkdRest

TOKEN = "scheduled-splunk-token"
HEC_TOKEN = "11111111-2222-3333-4444-666666666666"


@pytest.fixture(scope="module")
def splunkd() -> Iterator[SplunkdRest]:
    with SplunkdRest(tokens=[TOKEN]) as rest:
        rest.add_search(
            "search index=s",
            [{"_time": f"2026-01-01T00:00:0{i}.000+00:00", "x": str(i)} for i in range(5)],
        )
        yield rest


@pytest.fixture
def hec() -> Iterator[HecReceiver]:
    with HecReceiver(token=HEC_TOKEN, indexes={"scores"}) as receiver:
        yield receiver


def register(settings: ServerSettings, name: str) -> str:
    import pandas as pd

    from kepler.core.spec import FitSpec
    from kepler.ml.store import ModelStore
    from kepler.ml.training import train

    frame = pd.DataFrame({"x": [float(i) for i in range(20)], "y": [5.0 * i for i in range(20)]})
    trained = train(frame, FitSpec("LinearRegression", target="y", features=("x",)))
    ModelStore(settings.tracking_uri, settings.artifact_location).register(trained, name)
    return name


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> ServerSettings:
    return ServerSettings(home=tmp_path_factory.mktemp("home"), token="t")


@pytest.fixture(scope="module")
def model(settings: ServerSettings) -> str:
    return register(settings, "five")


def queue_run(ctx: ServerContext, model: str, index: str = "scores") -> str:
    schedules = ctx.schedules
    name = f"s{len(schedules.list())}"
    sched = schedules.create(name, search="index=s", model=model, every="1m", index=index)
    job = fire(ctx, sched, trigger="manual")
    return job.id


def run(
    ctx: ServerContext, job_id: str, splunkd: SplunkdRest, hec: HecReceiver, **kw: Any
) -> dict[str, Any]:
    settings = ctx.settings
    return run_score(
        ctx,
        job_id,
        splunk=SplunkSettings(url=splunkd.url, token=TOKEN),
        hec=HecSettings(url=hec.url, token=HEC_TOKEN, queue_dir=settings.home / "q", **kw),
    )


def test_run_scores_and_writes_each_row_once(
    settings: ServerSettings, ctx: ServerContext, model: str, splunkd: SplunkdRest, hec: HecReceiver
) -> None:
    job_id = queue_run(ctx, model)
    result = run(ctx, job_id, splunkd, hec)
    assert result["rows"] == 5 and result["sent"] == 5 and result["version"] == 1
    job = ctx.jobs.get(job_id)
    assert job.state == SUCCEEDED and job.result == result
    events = sorted(hec.events, key=lambda e: e["event"]["kepler_row"])
    assert [e["event"]["predicted(y)"] for e in events] == pytest.approx([0, 5, 10, 15, 20])
    assert [e["event"]["kepler_job"] for e in events] == [job_id] * 5
    assert {e["index"] for e in events} == {"scores"}
    # A redelivered message finds the job done: nothing is searched or sent again.
    exports = len([p for p in splunkd.paths() if p.endswith("/export")])
    assert run(ctx, job_id, splunkd, hec) == result
    assert len(hec.events) == 5
    assert len([p for p in splunkd.paths() if p.endswith("/export")]) == exports


def test_run_without_hec_fails_before_searching(
    settings: ServerSettings, ctx: ServerContext, model: str, splunkd: SplunkdRest, hec: HecReceiver
) -> None:
    job_id = queue_run(ctx, model)
    exports = len([p for p in splunkd.paths() if p.endswith("/export")])
    run_score(
        ctx,
        job_id,
        splunk=SplunkSettings(url=splunkd.url, token=TOKEN),
        hec=HecSettings(url="", queue_dir=settings.home / "q"),
    )
    job = ctx.jobs.get(job_id)
    assert job.state == FAILED and (job.error or {})["code"] == "hec_not_configured"
    assert "KEPLER_HEC_URL" in job.message
    assert len([p for p in splunkd.paths() if p.endswith("/export")]) == exports


def test_run_into_an_index_hec_refuses_is_failed_with_counts(
    settings: ServerSettings, ctx: ServerContext, model: str, splunkd: SplunkdRest, hec: HecReceiver
) -> None:
    job_id = queue_run(ctx, model, index="not_allowed")
    run(ctx, job_id, splunkd, hec)
    job = ctx.jobs.get(job_id)
    assert job.state == FAILED and (job.error or {})["code"] == "hec_rejected"
    assert "refused 5 of 5" in job.message and "index" in job.message
    assert (job.error or {})["detail"]["rows"] == 5
    assert hec.events == []


def test_run_of_a_deleted_model_is_failed(
    settings: ServerSettings, ctx: ServerContext, model: str, splunkd: SplunkdRest, hec: HecReceiver
) -> None:
    from kepler.ml.store import ModelStore

    doomed = register(settings, "doomed")
    job_id = queue_run(ctx, doomed)
    ModelStore(settings.tracking_uri, settings.artifact_location).delete(doomed)
    run(ctx, job_id, splunkd, hec)
    job = ctx.jobs.get(job_id)
    assert job.state == FAILED and (job.error or {})["code"] == "model_not_found"


def test_run_with_a_shadow_writes_the_champions_scores_and_records_the_agreement(
    settings: ServerSettings, splunkd: SplunkdRest, hec: HecReceiver
) -> None:
    import pandas as pd

    from kepler.core.spec import FitSpec
    from kepler.ml.store import ModelStore
    from kepler.ml.training import train

    store = ModelStore(settings.tracking_uri, settings.artifact_location)
    for slope in (5.0, 4.0):  # duel@1: y = 5x, the champion; duel@2: y = 4x
        frame = pd.DataFrame({"x": [float(i) for i in range(20)]})
        frame["y"] = slope * frame["x"]
        spec = FitSpec("LinearRegression", target="y", features=("x",))
        store.register(train(frame, spec), "duel")
    # This worker's own events (kepler:shadow among them) go to the receiver too.
    telemetry = HecSettings(url=hec.url, token=HEC_TOKEN, index="scores", linger=0.01)
    ctx = ServerContext(settings.model_copy(update={"hec": telemetry}), component="worker")
    try:
        sched = ctx.schedules.create(
            "duel", search="index=s", model="duel@1", every="1m", index="scores", shadow="duel@2"
        )
        assert ctx.schedules.get("duel").shadow == "duel@2"
        job = fire(ctx, sched, trigger="manual")
        assert ctx.jobs.get(job.id).spec["shadow"] == "duel@2"
        result = run(ctx, job.id, splunkd, hec)
        assert ctx.jobs.get(job.id).state == SUCCEEDED
        scores = [e["event"] for e in hec.events if e["event"].get("kepler_schedule") == "duel"]
        by_row = sorted(scores, key=lambda e: e["kepler_row"])
        assert [e["predicted(y)"] for e in by_row] == pytest.approx([0, 5, 10, 15, 20])
        (event,) = [e["event"] for e in hec.events if e.get("sourcetype") == "kepler:shadow"]
        assert (event["mode"], event["job"], event["schedule"]) == ("schedule", job.id, "duel")
        assert (event["champion"], event["challenger"], event["rows"]) == ("duel@1", "duel@2", 5)
        # |5x - 4x| = x over x = 0..4
        assert event["mean_abs_diff"] == pytest.approx(2.0)
        assert result["shadow"]["mean_abs_diff"] == pytest.approx(2.0)
        assert result["shadow"]["rows"] == 5
    finally:
        ctx.close(timeout=5)
