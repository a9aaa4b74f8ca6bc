"""The wire contract in kepler.core.wire: the bridge's published paths, the bodies clients
send (each the twin of the bridge's pydantic model), and jobs and models as the bridge
answers them."""

from __future__ import annotations

import dataclasses
import json
import re
import typing
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from kepler.core import wire
from kepler.core.errors import InvalidSpec
from kepler.core.refs import ModelRef
from kepler.server.db import Database
from kepler.server.settings import ServerSettings
from kepler.server.stores.jobs import JobStore
from kepler_bridge import wire as bridge_wire

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
    assert wire.register("pump") == wire.MODEL_REGISTER.format(name="pump")


def test_register_frame_splits_back_and_refuses_another_shape() -> None:
    body = wire.frame_register(b'{"features": ["a"]}', b"PK\x03\x04model")
    assert wire.split_register(body) == (b'{"features": ["a"]}', b"PK\x03\x04model", b"")
    with_rows = wire.frame_register(b'{"features": ["a"]}', b"PK\x03\x04model", b"ARROW")
    parts = wire.split_register(with_rows)
    assert (parts.meta_json, parts.model, parts.data) == (
        b'{"features": ["a"]}',
        b"PK\x03\x04model",
        b"ARROW",
    )
    with pytest.raises(InvalidSpec, match=wire.REGISTER_MEDIA):
        wire.split_register(b"PK\x03\x04model")
    with pytest.raises(InvalidSpec, match="upgrade the client"):
        wire.split_register(b"KEPLER-REGISTER-1\n\x00\x00\x00\x02{}PK")
    with pytest.raises(InvalidSpec, match="cut short"):
        wire.split_register(body[: len(wire.REGISTER_MAGIC) + 14])
    with pytest.raises(InvalidSpec, match="cut short"):
        wire.split_register(with_rows[: len(with_rows) - len(b"ARROW") - 1])


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
    store = JobStore(Database(settings.database_url))
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
    answer = JobStore(Database(settings.database_url)).create("automl", {}).to_dict()
    view = wire.JobView.from_dict(answer)
    assert view.to_dict() == answer
    assert not view.finished and view.percent == 0 and view.outcome == {}


def test_job_view_skips_fields_it_does_not_know_and_nulls() -> None:
    view = wire.JobView.from_dict(
        {"id": "j1", "kind": "fit", "state": "running", "progress": None, "new": 1}
    )
    assert (view.progress, view.message, view.percent) == (0.0, "", 0)
    assert "new" not in view.to_dict()


# -- request bodies and query options ------------------------------------------------------

SOURCE = wire.SplunkSource(search="index=main", earliest="-24h", latest="now", sid="17.42")
SAMPLES: dict[type[wire.Body], wire.Body] = {
    wire.SplunkSource: SOURCE,
    wire.DatasetCreate: wire.DatasetCreate("arrow", SOURCE, name="sensors-2026-w48"),
    wire.DatasetComplete: wire.DatasetComplete(chunks=3, rows=120),
    wire.FitJob: wire.FitJob(
        dataset_id="d1",
        line="fit KMeans * into m",
        algorithm="RandomForestClassifier",
        target="failure",
        features=["temp", "vibration"],
        params={"n_estimators": 10},
        into="pump",
        output_name="guess",
        probabilities=True,
        holdout=0.3,
        by=["site"],
        partial_fit=True,
        split="time",
        time_field="ts",
        kfold_cv=5,
        gap=2,
        lags=[1, 24],
        rolling=["mean:12"],
    ),
    wire.AutoMLJob: wire.AutoMLJob(
        dataset_id="d1",
        line="automl y from * into m",
        target="y",
        features=["a", "b"],
        into="m",
        task="classifier",
        time_budget="10m",
        metric="f1",
        algorithms=["LogisticRegression"],
        seed=7,
        max_trials=20,
        parallel=2,
        cv=5,
        holdout=0.25,
        max_latency_ms_per_row=0.5,
        max_model_mb=10.0,
        max_false_positive_rate=0.1,
        interpretable=True,
        use_case="fraud",
        split="time",
        time_field="ts",
    ),
    wire.ApplyJob: wire.ApplyJob(
        dataset_id="d1",
        model="pump@3",
        index="scores",
        sourcetype="kepler:score",
        output_name="guess",
        probabilities=False,
        shadow="pump@5",
    ),
    wire.AliasSet: wire.AliasSet(version=3),
    wire.SpecParse: wire.SpecParse(line="fit KMeans * into m"),
    wire.ScheduleCreate: wire.ScheduleCreate(
        name="nightly",
        search="index=sensors",
        model="pump:production",
        every="1h",
        earliest="-1h",
        latest="now",
        index="scores",
        sourcetype="kepler:score",
        start_now=True,
        shadow="pump@5",
        retrain=True,
        gate="f1>=production.f1-0.01",
        alias="production",
        spec="LogisticRegression failure from temp",
    ),
    wire.MonitorCreate: wire.MonitorCreate(
        name="pump-drift",
        search="index=sensors",
        model="pump:production",
        every="30m",
        label="failure",
        method="psi",
        threshold=0.2,
        index="kepler_metrics",
        start_now=True,
    ),
    wire.ScoreRequest: wire.ScoreRequest(
        dataset_id="d1",
        metric="f1_score",
        fields=["failure"],
        against=["predicted(failure)"],
        options={"average": "macro"},
    ),
    wire.ModelApply: wire.ModelApply(
        probabilities=True,
        output_name="guess",
        include_input=False,
        echo="_chunked_idx",
        index="scores",
        sourcetype="kepler:score",
        shadow="pump@5",
        threshold="0.05,0.01",
        lower_threshold="0.01",
        upper_threshold="0.02",
        show_density=True,
        sample=True,
        full_sample=False,
        show_options="feature_variables,split_by,params",
        forecast_k="2weeks",
        conf_interval=80.0,
        holdback=3,
        output_metadata=True,
        target="sales,visits",
        specialdays="holiday",
        period=12,
    ),
    wire.DriftOptions: wire.DriftOptions(method="psi", threshold=0.2, dataset_id="d1"),
    wire.DatasetApply: wire.DatasetApply(model="pump@3", probabilities=False, output_name="g"),
    wire.Reproduce: wire.Reproduce(force=True),
    wire.ModelRegister: wire.ModelRegister(
        features=["temp", "site"],
        target="failure",
        feature_types={"temp": "numeric", "site": "categorical"},
        requirements=["xgboost>=3"],
        packages={"scikit-learn": "1.6.1"},
        python="3.12.1",
        description="fitted in a notebook",
    ),
}


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def test_every_body_has_a_sample_that_sets_each_field() -> None:
    assert set(SAMPLES) == set(wire.BODIES)
    for body in SAMPLES.values():
        unset = [f.name for f in dataclasses.fields(body) if getattr(body, f.name) == _default(f)]
        assert unset == [], type(body).__name__


@pytest.mark.parametrize("body", SAMPLES.values(), ids=lambda b: type(b).__name__)
def test_body_round_trips_through_json(body: wire.Body) -> None:
    sent = json.loads(json.dumps(body.to_dict()))
    assert type(body).from_dict(sent) == body


@pytest.mark.parametrize("cls", wire.BODIES, ids=lambda c: c.__name__)
def test_body_refuses_an_unknown_key_naming_it(cls: type[wire.Body]) -> None:
    data = {**SAMPLES[cls].to_dict(), "colour": "red"}
    with pytest.raises(InvalidSpec, match="no field 'colour'") as err:
        cls.from_dict(data)
    assert err.value.detail == {"field": "colour"}


@pytest.mark.parametrize(
    ("cls", "key"),
    [
        (wire.ApplyJob, "index"),
        (wire.AliasSet, "version"),
        (wire.SpecParse, "line"),
        (wire.ScheduleCreate, "search"),
        (wire.MonitorCreate, "model"),
        (wire.DatasetApply, "model"),
        (wire.ModelRegister, "features"),
    ],
)
def test_body_refuses_a_missing_required_key_naming_it(cls: type[wire.Body], key: str) -> None:
    data = SAMPLES[cls].to_dict()
    del data[key]
    with pytest.raises(InvalidSpec, match=f"needs '{key}'") as err:
        cls.from_dict(data)
    assert err.value.detail == {"field": key}


def test_body_takes_its_defaults_for_optional_keys_left_out() -> None:
    assert wire.FitJob.from_dict({"line": "fit KMeans *"}) == wire.FitJob(line="fit KMeans *")
    assert wire.DatasetCreate.from_dict({}) == wire.DatasetCreate()


def test_nested_body_is_read_and_checked() -> None:
    assert wire.DatasetCreate.from_dict({"source": {"sid": "1"}}).source == wire.SplunkSource(
        sid="1"
    )
    with pytest.raises(InvalidSpec, match="dataset source has no field 'query'"):
        wire.DatasetCreate.from_dict({"source": {"query": "x"}})


def test_body_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="must be a JSON object, not list"):
        wire.AliasSet.from_dict([3])  # type: ignore[arg-type]


def test_query_options_leave_unset_ones_out_and_spell_booleans_as_text() -> None:
    options = wire.ModelApply(include_input=False, output_name="guess")
    assert options.to_params() == {"as": "guess", "include_input": "false"}
    assert wire.ModelApply.from_dict({"as": "guess"}).output_name == "guess"


def _pydantic_pairs() -> dict[type[wire.Body], type[BaseModel]]:
    return {
        wire.SplunkSource: bridge_wire.SplunkSource,
        wire.DatasetCreate: bridge_wire.DatasetCreate,
        wire.DatasetComplete: bridge_wire.DatasetComplete,
        wire.FitJob: bridge_wire.FitRequest,
        wire.AutoMLJob: bridge_wire.AutoMLRequest,
        wire.ApplyJob: bridge_wire.ApplyJobRequest,
        wire.AliasSet: bridge_wire.AliasRequest,
        wire.Reproduce: bridge_wire.ReproduceRequest,
        wire.SpecParse: bridge_wire.ParseRequest,
        wire.ScheduleCreate: bridge_wire.ScheduleRequest,
        wire.MonitorCreate: bridge_wire.MonitorRequest,
        wire.ScoreRequest: bridge_wire.ScoreRequest,
        wire.ModelRegister: bridge_wire.RegisterRequest,
    }


def test_every_bridge_body_has_its_wire_body() -> None:
    declared = {
        m
        for m in vars(bridge_wire).values()
        if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == bridge_wire.__name__
    }
    assert declared == set(_pydantic_pairs().values())


def _type_text(annotation: Any) -> str:
    """A type as text without module paths: the bridge's SplunkSource and the wire's match."""
    return re.sub(r"\b(?:\w+\.)+(\w+)", r"\1", str(annotation).replace("typing.Optional", ""))


@pytest.mark.parametrize(
    ("body", "model"), _pydantic_pairs().items(), ids=lambda c: getattr(c, "__name__", "")
)
def test_wire_body_and_bridge_body_have_the_same_fields_and_defaults(
    body: type[wire.Body], model: type[BaseModel]
) -> None:
    ours = {f.name: f for f in dataclasses.fields(body)}  # type: ignore[arg-type]
    theirs = model.model_fields
    assert list(ours) == list(theirs)
    hints = typing.get_type_hints(body)
    for name, f in ours.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        assert required == theirs[name].is_required(), name
        if not required:
            assert _default(f) == theirs[name].get_default(call_default_factory=True), name
        assert _type_text(hints[name]) == _type_text(theirs[name].annotation), name


def _query_options(template: str) -> dict[str, tuple[bool, Any]]:
    """A POST route's query options in docs/openapi.json: name -> (required, default)."""
    params = json.loads(OPENAPI.read_text())["paths"][template]["post"]["parameters"]
    return {
        p["name"]: (p.get("required", False), p["schema"].get("default"))
        for p in params
        if p["in"] == "query"
    }


@pytest.mark.parametrize(
    ("body", "template"),
    [
        (wire.ModelApply, wire.MODEL_APPLY),
        (wire.DriftOptions, wire.MODEL_DRIFT),
        (wire.DatasetApply, wire.DATASET_APPLY),
    ],
    ids=["ModelApply", "DriftOptions", "DatasetApply"],
)
def test_wire_query_options_match_the_published_route(body: type[wire.Body], template: str) -> None:
    ours = {
        f.metadata.get("wire", f.name): (
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
            None if f.default is dataclasses.MISSING else f.default,
        )
        for f in dataclasses.fields(body)  # type: ignore[arg-type]
    }
    assert ours == _query_options(template)


def test_matcher_matches_concrete_paths_of_its_templates_only() -> None:
    streaming = wire.matcher(wire.DATASET_CHUNK, wire.MODEL_APPLY)
    assert streaming.match(wire.chunk("d1", 0))
    assert streaming.match(wire.apply("pump@3") + "/")
    assert not streaming.match(wire.complete("d1"))
    assert not streaming.match(wire.dataset("d1") + "/chunks/0/extra")


# -- model answers -------------------------------------------------------------------------


def test_model_view_reads_what_it_knows_and_explains_by_either_list() -> None:
    answer = {"name": "pump", "version": 3, "features": ["a"], "later": True}
    view = wire.ModelView.from_dict({**answer, "coefficients": [{"feature": "a"}]})
    assert (view.ref, view.features, view.explained) == ("pump@3", ["a"], [{"feature": "a"}])
    assert "later" not in view.to_dict() and "importances" not in view.to_dict()
    assert wire.ModelView.from_dict(answer).explained == []


def test_dataset_created_round_trips() -> None:
    created = wire.DatasetCreated("d" * 32, "arrow")
    assert wire.DatasetCreated.from_dict(json.loads(json.dumps(created.to_dict()))) == created
