"""One monitor run as a plain function: real model store (MLflow on SQLite), the splunkd
REST double and the HEC receiver double on loopback (the Celery task only calls this)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score

from kepler.core.refs import ModelRef
from kepler.core.spec import FitSpec
from kepler.hec import HecSettings
from kepler.ml.outputs import predict_frame
from kepler.ml.store import ModelStore
from kepler.ml.training import train
from kepler.server.context import ServerContext
from kepler.server.jobs.monitor import MIN_EVENTS, fire, run_monitor
from kepler.server.settings import ServerSettings
from kepler.server.stores.jobs import FAILED, SUCCEEDED
from kepler.splunk.settings import SplunkSettings
from tests.hec.receiver import HecReceiver
from tests.splunk.splunkd_rest import SplunkdRest

TOKEN = "monitor-splunk-token"
HEC_TOKEN = "11111111-2222-3333-4444-777777777777"
METRICS = "kepler_metrics"


def pumps(n: int, *, seed: int, hot: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    temp = rng.normal(60 + hot, 5, n)
    site = rng.choice(["north", "south", "east"], n, p=[0.5, 0.3, 0.2])
    failure = np.where(temp + rng.normal(0, 3, n) > 66, "yes", "no")
    flow = 3.0 * temp + rng.normal(0, 4, n)
    return pd.DataFrame({"temp": temp, "site": site, "failure": failure, "flow": flow})


def as_events(frame: pd.DataFrame) -> list[dict[str, str]]:
    """Rows as splunkd sends them: every value text."""
    return [{k: str(v) for k, v in row.items()} for row in frame.to_dict("records")]


CLEAN = pumps(400, seed=1)
HOT = pumps(400, seed=2, hot=8.0)


@pytest.fixture(scope="module")
def splunkd() -> Iterator[SplunkdRest]:
    with SplunkdRest(tokens=[TOKEN]) as rest:
        rest.add_search("search index=clean", as_events(CLEAN))
        rest.add_search("search index=hot", as_events(HOT))
        rest.add_search("search index=few", as_events(CLEAN.head(MIN_EVENTS - 1)))
        yield rest


@pytest.fixture
def hec() -> Iterator[HecReceiver]:
    with HecReceiver(token=HEC_TOKEN, indexes={METRICS, "main"}) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> ServerSettings:
    s = ServerSettings(home=tmp_path_factory.mktemp("home"), token="t")
    store = ModelStore(s.tracking_uri, s.artifact_location, s.experiment)
    data = pumps(3_000, seed=0)
    store.register(
        train(data, FitSpec("LogisticRegression", target="failure", features=("temp", "site"))),
        "pump",
    )
    store.register(
        train(data, FitSpec("LinearRegression", target="flow", features=("temp",))), "flow"
    )
    legacy = train(data, FitSpec("LogisticRegression", target="failure", features=("temp",)))
    legacy.baseline = None  # fitted before Kepler kept baselines
    store.register(legacy, "legacy")
    return s


def monitor_run(
    ctx: ServerContext,
    splunkd: SplunkdRest,
    hec: HecReceiver,
    *,
    search: str,
    model: str = "pump",
    **kw: Any,
) -> str:
    name = f"m{len(ctx.monitors.list())}"
    mon = ctx.monitors.create(name, search=search, model=model, every="1h", index=METRICS, **kw)
    job = fire(ctx, mon, trigger="manual")
    run_monitor(
        ctx,
        job.id,
        splunk=SplunkSettings(url=splunkd.url, token=TOKEN),
        hec=HecSettings(url=hec.url, token=HEC_TOKEN, queue_dir=ctx.settings.home / "q"),
    )
    return job.id


def metric_events(hec: HecReceiver) -> list[dict[str, Any]]:
    return [e for e in hec.events if e.get("event") == "metric"]


def drift_events(hec: HecReceiver) -> list[dict[str, Any]]:
    return [e for e in hec.events if e.get("sourcetype") == "kepler:drift"]


def test_run_on_a_clean_window_writes_one_metric_event_per_field_and_no_drift_event(
    ctx: ServerContext, splunkd: SplunkdRest, hec: HecReceiver
) -> None:
    job_id = monitor_run(ctx, splunkd, hec, search="index=clean")
    job = ctx.jobs.get(job_id)
    assert job.state == SUCCEEDED, job.error
    result = job.result or {}
    assert result["rows"] == len(CLEAN) and result["drifted"] == []
    assert set(result["fields"]) == {"temp", "site", "predicted(failure)"}
    events = metric_events(hec)
    assert len(events) == 3 and result["sent"] == 3
    temp = next(e for e in events if e["fields"]["field"] == "temp")
    # HEC's metrics format: the measurement as metric_name:<name>, the rest dimensions.
    assert set(temp) == {"time", "event", "source", "index", "fields"}
    assert temp["event"] == "metric" and temp["index"] == METRICS
    assert temp["source"].startswith("kepler:monitor:")
    assert temp["fields"] == {
        "metric_name:kepler.drift.wasserstein": pytest.approx(
            result["fields"]["temp"]["statistic"]
        ),
        "model": "pump",
        "version": "1",
        "monitor": temp["source"].removeprefix("kepler:monitor:"),
        "field": "temp",
        "drifted": "false",
    }
    assert result["fields"]["temp"]["statistic"] < 0.1
    assert drift_events(hec) == []


def test_run_on_a_drifted_window_writes_a_kepler_drift_event(
    ctx: ServerContext, splunkd: SplunkdRest, hec: HecReceiver
) -> None:
    job_id = monitor_run(ctx, splunkd, hec, search="index=hot")
    result = ctx.jobs.get(job_id).result or {}
    assert "temp" in result["drifted"] and "site" not in result["drifted"]
    temp = next(e for e in metric_events(hec) if e["fields"]["field"] == "temp")
    assert temp["fields"]["drifted"] == "true"
    (event,) = drift_events(hec)
    body = event["event"]
    assert body["drifted"] == result["drifted"] and body["kepler_job"] == job_id
    assert body["fields"]["temp"]["method"] == "wasserstein"
    assert body["fields"]["temp"]["statistic"] == pytest.approx(
        temp["fields"]["metric_name:kepler.drift.wasserstein"]
    )
    assert (body["model"], body["version"], body["rows"]) == ("pump", "1", len(HOT))


def test_run_with_a_label_writes_live_metrics_that_agree_with_scikit_learn(
    ctx: ServerContext, splunkd: SplunkdRest, hec: HecReceiver
) -> None:
    job = ctx.jobs.get(
        monitor_run(ctx, splunkd, hec, search="index=hot", label="failure", method="psi")
    )
    assert job.state == SUCCEEDED, job.error
    result = job.result or {}
    _, (pipeline, meta) = ctx.cache.fetch(ModelRef.parse("pump@1"))
    guess = predict_frame(pipeline, meta, HOT).iloc[:, 0].astype(str)
    assert result["metrics"]["rows"] == len(HOT)
    assert result["metrics"]["accuracy"] == pytest.approx(accuracy_score(HOT["failure"], guess))
    assert result["metrics"]["f1"] == pytest.approx(
        f1_score(HOT["failure"], guess, average="weighted")
    )
    live = {
        k.removeprefix("metric_name:"): e
        for e in metric_events(hec)
        for k in e["fields"]
        if k.startswith("metric_name:kepler.live.")
    }
    assert set(live) == {"kepler.live.accuracy", "kepler.live.f1"}
    assert live["kepler.live.accuracy"]["fields"] == {
        "metric_name:kepler.live.accuracy": pytest.approx(result["metrics"]["accuracy"]),
        "model": "pump",
        "version": "1",
        "monitor": live["kepler.live.accuracy"]["source"].removeprefix("kepler:monitor:"),
        "label": "failure",
    }
    drift_names = {
        k
        for e in metric_events(hec)
        for k in e["fields"]
        if k.startswith("metric_name:kepler.drift")
    }
    assert drift_names == {"metric_name:kepler.drift.psi"}


def test_regressor_live_metrics_are_r2_and_mae(
    ctx: ServerContext, splunkd: SplunkdRest, hec: HecReceiver
) -> None:
    job = ctx.jobs.get(
        monitor_run(ctx, splunkd, hec, search="index=clean", model="flow", label="flow")
    )
    assert job.state == SUCCEEDED, job.error
    result = job.result or {}
    _, (pipeline, meta) = ctx.cache.fetch(ModelRef.parse("flow"))
    guess = predict_frame(pipeline, meta, CLEAN).iloc[:, 0].to_numpy(dtype=float)
    assert result["metrics"]["r2"] == pytest.approx(r2_score(CLEAN["flow"], guess))
    assert result["metrics"]["mae"] == pytest.approx(mean_absolute_error(CLEAN["flow"], guess))


def test_run_of_a_model_without_baseline_fails_saying_how_to_get_one(
    ctx: ServerContext, splunkd: SplunkdRest, hec: HecReceiver
) -> None:
    job = ctx.jobs.get(monitor_run(ctx, splunkd, hec, search="index=clean", model="legacy"))
    assert job.state == FAILED and (job.error or {})["code"] == "baseline_not_found"
    assert 'kp.baseline("legacy@1", df)' in job.message
    assert hec.events == []


def test_run_on_too_few_events_is_reported_not_crashed(
    ctx: ServerContext, splunkd: SplunkdRest, hec: HecReceiver
) -> None:
    job = ctx.jobs.get(monitor_run(ctx, splunkd, hec, search="index=few"))
    assert job.state == SUCCEEDED
    result = job.result or {}
    assert result["rows"] == MIN_EVENTS - 1 and result["sent"] == 0
    assert f"at least {MIN_EVENTS}" in result["notes"][0]
    assert hec.events == []


@pytest.mark.parametrize(
    ("model", "label", "says"),
    [
        ("pump", "site", "has the classes ['no', 'yes']"),
        ("flow", "site", "holds text such as"),
        ("pump", "colour", "is not in the events"),
    ],
)
def test_run_with_a_label_of_another_type_fails_naming_it(
    ctx: ServerContext, splunkd: SplunkdRest, hec: HecReceiver, model: str, label: str, says: str
) -> None:
    job = ctx.jobs.get(
        monitor_run(ctx, splunkd, hec, search="index=clean", model=model, label=label)
    )
    assert job.state == FAILED and (job.error or {})["code"] == "data_error"
    assert says in job.message and repr(label) in job.message
