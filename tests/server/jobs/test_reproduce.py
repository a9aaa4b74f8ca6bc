"""A reproduce job in process with the real stores: queued as its own kind and task,
retrained into a tagged version, refusals (AutoML, missing records) and what force keeps."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kepler.core.errors import NotReproducible
from kepler.core.refs import ModelRef
from kepler.core.spec import FitSpec
from kepler.server.context import ServerContext
from kepler.server.jobs.fit import run_fit
from kepler.server.jobs.reproduce import run_reproduce, submit_reproduce
from kepler.server.queue import REPRODUCE_TASK
from kepler.server.settings import ServerSettings
from kepler.server.stores.jobs import FAILED, SUCCEEDED
from tests.server.jobs.test_fit import _regression_csv, _upload_csv


class Sent:
    """A broker that keeps what was sent."""

    def __init__(self) -> None:
        self.tasks: list[tuple[str, list]] = []

    def send_task(self, name: str, args: list, **_: object) -> None:
        self.tasks.append((name, args))


@pytest.fixture
def broker() -> Sent:
    return Sent()


@pytest.fixture
def worker(settings: ServerSettings, broker: Sent) -> Iterator[ServerContext]:
    context = ServerContext(settings, component="worker", celery=broker)
    yield context
    context.close(timeout=5)


def _fitted(settings: ServerSettings, ctx: ServerContext, name: str) -> str:
    dataset_id = _upload_csv(settings, _regression_csv())
    spec = FitSpec("LinearRegression", target="y", features=("x",), into=name)
    job = ctx.jobs.create("fit", spec.to_dict(), model=name, dataset_id=dataset_id)
    run_fit(ctx, dataset_id, job.id)
    return f"{name}@1"


def test_reproduce_job_is_its_own_kind_and_registers_a_tagged_version(
    settings: ServerSettings, worker: ServerContext, broker: Sent
) -> None:
    ref = _fitted(settings, worker, "line")
    job = submit_reproduce(worker, ModelRef.parse(ref), user="ana")
    assert job.kind == "reproduce" and job.spec["reproduces"] == ref
    assert broker.tasks == [(REPRODUCE_TASK, [job.dataset_id, job.id])]

    result = run_reproduce(worker, str(job.dataset_id), job.id)
    assert (result["model"], result["version"], result["verdict"]) == ("line", 2, "exact")
    assert result["rule"]["kind"] == "exact" and result["forced"] is False
    done = worker.jobs.get(job.id)
    assert done.state == SUCCEEDED and done.user == "ana"
    described = worker.models.describe(ModelRef("line", version=2))
    assert described["reproduces"]["of"] == ref and described["user"] == "ana"
    assert [r["version"] for r in worker.models.describe(ModelRef.parse(ref))["reproductions"]] == [
        2
    ]


def test_a_version_chosen_by_automl_is_refused_at_submit(
    settings: ServerSettings, worker: ServerContext, broker: Sent
) -> None:
    ref = _fitted(settings, worker, "auto")
    run_id = worker.models.resolve(ModelRef.parse(ref)).run_id
    worker.models.client.set_tag(run_id, "mlflow.parentRunId", run_id)
    with pytest.raises(NotReproducible, match="chosen by AutoML"):
        submit_reproduce(worker, ModelRef.parse(ref))
    assert broker.tasks == []


def test_a_version_that_recorded_no_packages_needs_force(
    settings: ServerSettings, worker: ServerContext
) -> None:
    ref = _fitted(settings, worker, "old")
    run_id = worker.models.resolve(ModelRef.parse(ref)).run_id
    for tag in list(worker.models.client.get_run(run_id).data.tags):
        if tag.startswith("kepler.package."):
            worker.models.client.delete_tag(run_id, tag)

    job = submit_reproduce(worker, ModelRef.parse(ref))
    refused = run_reproduce(worker, str(job.dataset_id), job.id)
    assert refused["error"]["code"] == "not_reproducible"
    assert "records no package versions" in refused["error"]["message"]
    assert worker.jobs.get(job.id).state == FAILED

    job = submit_reproduce(worker, ModelRef.parse(ref), force=True)
    forced = run_reproduce(worker, str(job.dataset_id), job.id)
    assert forced["forced"] is True and forced["verdict"] == "exact"
    assert forced["package_differences"] == [
        {"package": "*", "recorded": None, "installed": "(not recorded)"}
    ]
