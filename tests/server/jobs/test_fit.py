"""A fit job in process with the real stores: results, failures, idempotency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kepler.core.spec import FitSpec
from kepler.ml.store import ModelStore
from kepler.server.context import ServerContext
from kepler.server.datasets import DatasetStore
from kepler.server.jobs.fit import run_fit
from kepler.server.settings import ServerSettings
from kepler.server.stores.jobs import FAILED, SUCCEEDED
from kepler_bridge.ingest import ingest_chunk


def _upload_csv(settings: ServerSettings, body: str, source: dict | None = None) -> str:
    store = DatasetStore(settings.dataset_store)
    dataset_id = store.create("csv", source)

    async def stream() -> AsyncIterator[bytes]:
        yield body.encode()

    asyncio.run(
        ingest_chunk(
            store,
            dataset_id,
            0,
            stream(),
            fmt="csv",
            max_chunk_bytes=settings.max_chunk_bytes,
            max_dataset_bytes=settings.max_dataset_bytes,
        )
    )
    store.complete(dataset_id, 1, None)
    return dataset_id


def _regression_csv(n: int = 200) -> str:
    return "x,y\r\n" + "".join(f"{i},{3 * i + 1}\r\n" for i in range(n))


def test_fit_job_registers_version_and_records_result(
    settings: ServerSettings, ctx: ServerContext
) -> None:
    dataset_id = _upload_csv(settings, _regression_csv(), {"search": "index=a", "sid": "9"})
    jobs = ctx.jobs
    spec = FitSpec("LinearRegression", target="y", features=("x",), into="line")
    job = jobs.create("fit", spec.to_dict(), model="line", dataset_id=dataset_id)

    result = run_fit(ctx, dataset_id, job.id)

    assert (result["model"], result["version"]) == ("line", 1)
    assert result["metrics"]["r2"] == pytest.approx(1.0)
    done = jobs.get(job.id)
    assert done.state == SUCCEEDED and done.result == result
    assert done.worker


def test_fit_job_is_idempotent_when_redelivered(
    settings: ServerSettings, ctx: ServerContext
) -> None:
    dataset_id = _upload_csv(settings, _regression_csv())
    jobs = ctx.jobs
    spec = FitSpec("LinearRegression", target="y", features=("x",), into="once")
    job = jobs.create("fit", spec.to_dict(), model="once", dataset_id=dataset_id)
    first = run_fit(ctx, dataset_id, job.id)
    # A redelivery after the job finished: the stored result, no new version.
    assert run_fit(ctx, dataset_id, job.id) == first
    # A redelivery after a crash between registering and recording (the job left running,
    # its worker silent since): same version again.
    jobs._update(job.id, state="running", heartbeat_at=0.0)
    again = run_fit(ctx, dataset_id, job.id)
    assert again["version"] == first["version"] == 1
    store = ModelStore(settings.tracking_uri, settings.artifact_location)
    assert [m["latest_version"] for m in store.list_models() if m["name"] == "once"] == [1]


def test_fit_job_failure_is_recorded_with_user_message(
    settings: ServerSettings, ctx: ServerContext
) -> None:
    dataset_id = _upload_csv(settings, "x,y\r\n1,a\r\n2,a\r\n3,a\r\n4,a\r\n5,a\r\n6,a\r\n")
    jobs = ctx.jobs
    spec = FitSpec("LogisticRegression", target="y", features=("x",), into="const")
    job = jobs.create("fit", spec.to_dict(), model="const", dataset_id=dataset_id)
    result = run_fit(ctx, dataset_id, job.id)
    failed = jobs.get(job.id)
    assert failed.state == FAILED
    assert failed.error is not None and failed.error["code"] == "data_error"
    assert "y" in failed.error["message"]
    assert result == {"error": failed.error}


def test_fit_reads_only_the_target_and_features() -> None:
    from kepler.core.spec import FitSpec
    from kepler.server.jobs.fit import _fields_used

    names = ["_time", "_raw", "host", "temp_1", "temp_2", "vibration", "failure"]
    spec = FitSpec(algorithm="RandomForestClassifier", target="failure", features=("temp_*",))
    assert _fields_used(spec, names) == ["temp_1", "temp_2", "failure"]
    unsupervised = FitSpec(algorithm="KMeans", features=("*",))
    assert _fields_used(unsupervised, names) == ["host", "temp_1", "temp_2", "vibration", "failure"]
    # A field the data lacks: read everything, so training names the problem.
    assert (
        _fields_used(FitSpec(algorithm="SVM", target="nope", features=("vibration",)), names)
        is None
    )
    assert (
        _fields_used(FitSpec(algorithm="SVM", target="failure", features=("nope",)), names) is None
    )
    # A time-ordered split or lags read the time field too, and only then.
    timed = FitSpec(algorithm="SVM", target="failure", features=("vibration",), split="time")
    assert _fields_used(timed, names) == ["_time", "vibration", "failure"]
    lagged = FitSpec(algorithm="SVM", target="failure", features=("vibration",), lags=(1,))
    assert _fields_used(lagged, names) == ["_time", "vibration", "failure"]
    # Imputer's strategy=field reads field= whether or not it is listed, as MLTK's does
    params = {"strategy": "field", "field": "temp_2"}
    imputer = FitSpec(algorithm="Imputer", features=("temp_1",), params=params)
    assert _fields_used(imputer, names) == ["temp_1", "temp_2"]


def test_fit_job_by_more_groups_than_the_setting_fails_naming_it(tmp_path: Path) -> None:
    settings = ServerSettings(home=tmp_path / "home", token="test-token", max_groups=3)
    body = "x,y,site\r\n" + "".join(f"{i},{2 * i},s{i % 4}\r\n" for i in range(80))
    dataset_id = _upload_csv(settings, body)
    spec = FitSpec("LinearRegression", target="y", features=("x",), by=("site",), into="g")
    context = ServerContext(settings, component="worker")
    try:
        job = context.jobs.create("fit", spec.to_dict(), model="g", dataset_id=dataset_id)
        result = run_fit(context, dataset_id, job.id)
    finally:
        context.close(timeout=5)
    assert result["error"]["code"] == "data_error"
    assert "makes 4 groups, more than the 3 allowed" in result["error"]["message"]
    assert "KEPLER_MAX_GROUPS" in result["error"]["message"]


def test_fit_job_by_records_skipped_groups_as_warnings(
    settings: ServerSettings, ctx: ServerContext
) -> None:
    rows = [f"{i},{'yes' if i % 2 else 'no'},a" for i in range(60)]
    rows += [f"{i},no,b" for i in range(10)]  # one class only: skipped
    dataset_id = _upload_csv(settings, "x,y,site\r\n" + "\r\n".join(rows) + "\r\n")
    spec = FitSpec("LogisticRegression", target="y", features=("x",), by=("site",), into="w")
    job = ctx.jobs.create("fit", spec.to_dict(), model="w", dataset_id=dataset_id)
    result = run_fit(ctx, dataset_id, job.id)
    assert result["version"] == 1
    (warning,) = result["warnings"]
    assert "1 of 2 groups" in warning and "b: only one class ('no')" in warning


def test_build_spec_takes_by_from_the_sdks_parts() -> None:
    from kepler.server.jobs.fit import build_spec

    spec = build_spec(algorithm="KMeans", features=["temp"], by=["site", "zone"], params={})
    assert spec.by == ("site", "zone")


def test_max_groups_setting_is_bounded_by_the_catalog(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from kepler.core.algorithms import MAX_GROUPS

    with pytest.raises(ValidationError, match="max_groups"):
        ServerSettings(home=tmp_path, token="test-token", max_groups=MAX_GROUPS + 1)
