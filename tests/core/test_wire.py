"""The wire contract in kepler.core.wire: the bridge's published paths, and jobs as the
bridge answers them."""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path

import pytest

from kepler.core import wire
from kepler.core.refs import ModelRef
from kepler.server.jobs import JobStore
from kepler.server.settings import ServerSettings

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def _shape(template: str) -> str:
    """A path template with its parameter names dropped: /v1/models/{ref} and
    /v1/models/{name} are one path."""
    return re.sub(r"\{[^}]+\}", "{}", template)


def _published() -> set[str]:
    return {_shape(p) for p in json.loads(OPENAPI.read_text())["paths"]}


def test_every_wire_path_is_published() -> None:
    missing = sorted(p for p in wire.PATHS if _shape(p) not in _published())
    assert missing == []


def test_every_published_path_is_in_wire() -> None:
    assert sorted(_published() - {_shape(p) for p in wire.PATHS}) == []


def test_wire_paths_are_listed_once() -> None:
    assert len(set(wire.PATHS)) == len(wire.PATHS)


def test_path_builders_fill_their_templates() -> None:
    assert wire.dataset("d1") == wire.DATASET.format(dataset_id="d1")
    assert wire.chunk("d1", 3) == wire.DATASET_CHUNK.format(dataset_id="d1", seq=3)
    assert wire.complete("d1") == wire.DATASET_COMPLETE.format(dataset_id="d1")
    assert wire.dataset_apply("d1") == wire.DATASET_APPLY.format(dataset_id="d1")
    assert wire.job("j1") == wire.JOB.format(job_id="j1")
    assert [wire.jobs(k) for k in ("fit", "automl", "apply")] == [
        wire.FIT_JOBS,
        wire.AUTOML_JOBS,
        wire.APPLY_JOBS,
    ]
    assert wire.model(ModelRef.parse("pump@3")) == wire.MODEL.format(ref="pump@3")
    assert wire.apply("pump:production") == wire.MODEL_APPLY.format(ref="pump:production")
    assert wire.alias("pump", "prod") == wire.MODEL_ALIAS.format(name="pump", alias="prod")
    assert wire.drift("pump@3") == wire.MODEL_DRIFT.format(ref="pump@3")
    assert wire.baseline("pump:prod") == wire.MODEL_BASELINE.format(ref="pump:prod")
    assert wire.schedule("nightly") == wire.SCHEDULE.format(name="nightly")
    assert wire.schedule_run("nightly") == wire.SCHEDULE_RUN.format(name="nightly")
    assert wire.schedule_runs("nightly") == wire.SCHEDULE_RUNS.format(name="nightly")


def test_unknown_job_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="no job kind"):
        wire.jobs("train")


@pytest.mark.parametrize("text", ["pump@3", "pump:prod", "a b/c?d%#", "Köln", "x~_.-"])
def test_path_segments_are_quoted_as_urllib_quotes_them(text: str) -> None:
    assert wire.model(text) == f"{wire.MODELS}/{urllib.parse.quote(text, safe='@:')}"


def test_under_gives_a_route_relative_to_its_prefix() -> None:
    assert wire.under(wire.DATASETS, wire.DATASET_CHUNK) == "/{dataset_id}/chunks/{seq}"
    assert wire.under(wire.HEC, wire.HEC) == ""
    with pytest.raises(ValueError, match="not under"):
        wire.under(wire.JOBS, wire.MODELS)


def test_job_view_round_trips_the_bridges_job(settings: ServerSettings) -> None:
    store = JobStore(settings.database_url)
    job = store.create("fit", {"algorithm": "KMeans"}, model="m", dataset_id="d1", user="ann")
    store.start(job.id, "host-1")
    store.progress(job.id, 0.4, "training")
    store.succeed(job.id, {"model": "m", "version": 3, "metrics": {"f1": 0.9}})
    answer = json.loads(json.dumps(store.get(job.id).to_dict()))  # as it crosses the wire

    view = wire.JobView.from_dict(answer)

    assert view.to_dict() == answer
    assert (view.id, view.kind, view.state, view.model) == (job.id, "fit", "succeeded", "m")
    assert view.finished and view.succeeded
    assert view.outcome["version"] == 3
    assert view.user == "ann" and view.worker == "host-1"
    assert view.duration_s is not None


def test_job_view_reads_a_queued_job(settings: ServerSettings) -> None:
    answer = JobStore(settings.database_url).create("automl", {}).to_dict()
    view = wire.JobView.from_dict(answer)
    assert view.to_dict() == answer
    assert not view.finished and view.percent == 0 and view.outcome == {}


def test_job_view_skips_fields_it_does_not_know_and_nulls() -> None:
    view = wire.JobView.from_dict(
        {"id": "j1", "kind": "fit", "state": "running", "progress": None, "new": 1}
    )
    assert (view.progress, view.message, view.percent) == (0.0, "", 0)
    assert "new" not in view.to_dict()
