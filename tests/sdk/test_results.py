"""Results in notebooks: HTML views hold the values, summaries stay mappings, frames are flat."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import kepler as kp
from kepler._results import jobs_frame, leaderboard_frame, models_frame, run_url
from kepler._settings import ClientSettings
from kepler.server.db import Database
from kepler.server.settings import ServerSettings
from kepler.server.stores.jobs import JobStore
from kepler_bridge.app import create_app

TOKEN = "results-test-token"
UI = "http://mlflow.example:5000/"

SUMMARY = {
    "name": "pump",
    "version": 3,
    "aliases": ["production"],
    "run_id": "abc123",
    "algorithm": "RandomForestClassifier",
    "task": "classifier",
    "target": "failure",
    "features": ["temp", "vibration"],
    "params": {"n_estimators": 100},
    "metrics": {"accuracy": 0.91234, "f1": 0.8},
    "n_train": 480,
    "n_holdout": 120,
    "importances": [
        {"feature": "vibration", "importance": 0.7},
        {"feature": "<temp>", "importance": 0.3},
    ],
    "versions": [{"version": 3, "created": "2026-12-06T01:00:00Z", "aliases": ["production"]}],
}


@pytest.fixture(scope="module")
def server_settings(tmp_path_factory: pytest.TempPathFactory) -> ServerSettings:
    return ServerSettings(home=tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def client(
    server_settings: ServerSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[kp.Client]:
    settings = ClientSettings(home=tmp_path_factory.mktemp("sdk"), mlflow_ui_url=UI)
    with TestClient(create_app(server_settings, TOKEN)) as tc:
        yield kp.Client("http://testserver", TOKEN, settings=settings, transport=tc._transport)


def test_summary_is_still_a_plain_mapping() -> None:
    summary = kp.ModelSummary(SUMMARY)
    assert summary == SUMMARY and isinstance(summary, dict)
    assert summary["metrics"]["f1"] == 0.8 and summary.get("nope") is None
    assert json.loads(json.dumps(summary)) == SUMMARY


def test_summary_html_holds_its_values_escaped_and_links_the_run() -> None:
    summary = kp.ModelSummary(SUMMARY)
    summary.url = run_url(UI, "abc123")
    html = summary._repr_html_()
    for text in ("pump@3", "RandomForestClassifier", "failure", "production", "0.9123", "480"):
        assert text in html, text
    assert "vibration" in html and "&lt;temp&gt;" in html and "<temp>" not in html
    assert 'href="http://mlflow.example:5000/#/runs/abc123"' in html


def test_fit_result_html_shows_ref_metrics_and_plain_run_id_without_a_ui() -> None:
    result = kp.FitResult("job1", "pump", 2, "run9", {"accuracy": 0.5}, rows=600, duration_s=1.5)
    html = result._repr_html_()
    assert "fit pump@2" in html and "accuracy" in html and "0.5" in html and "600" in html
    assert "run9" in html and "href" not in html


def test_automl_result_html_shows_the_winner_and_the_leaderboard() -> None:
    board = leaderboard_frame(
        [
            {"rank": 1, "algorithm": "LogisticRegression", "params": {"C": 0.5}, "trial": 1,
             "metrics": {"f1": 0.93}, "latency_ms_per_row": 0.002},
            {"rank": 2, "algorithm": "DecisionTreeClassifier", "params": {}, "trial": 0,
             "metrics": {"f1": 0.81}, "latency_ms_per_row": 0.001},
        ]
    )  # fmt: skip
    result = kp.AutoMLResult(
        "j", "pump", 4, "r", "p", "LogisticRegression", {"C": 0.5}, "f1", 0.93,
        {"f1": 0.9}, board, counts={"trials": 2},
    )  # fmt: skip
    html = result._repr_html_()
    assert "AutoML pump@4" in html and "best cv f1" in html and "0.93" in html
    assert "DecisionTreeClassifier" in html and "leaderboard" in html and "0.81" in html


def test_models_frame_is_flat_with_datetimes() -> None:
    rows = [
        {"name": "pump", "latest_version": 3, "versions": [1, 2, 3],
         "aliases": {"staging": 3, "production": 2}, "algorithm": "Ridge", "task": "regressor",
         "metrics": {"rmse": 1.5, "r2": 0.7}, "user": "ana",
         "created": "2026-12-01T10:00:00Z", "updated": "2026-12-05T11:30:00Z"},
    ]  # fmt: skip
    frame = models_frame(rows)
    row = frame.iloc[0]
    assert row["versions"] == 3 and row["aliases"] == "production=2, staging=3"
    assert row["metrics.rmse"] == 1.5 and row["metrics.r2"] == 0.7
    assert row["updated"] == pd.Timestamp("2026-12-05T11:30:00Z")
    assert isinstance(frame["created"].dtype, pd.DatetimeTZDtype)
    assert not any(isinstance(v, dict | list) for v in frame.to_numpy().ravel())
    assert list(models_frame([]).columns[:2]) == ["name", "latest_version"]


def test_jobs_frame_is_flat_with_datetimes() -> None:
    rows = [
        {"id": "j1", "kind": "fit", "state": "succeeded", "model": "pump",
         "spec": {"algorithm": "Ridge", "target": "y", "params": {"alpha": 1}},
         "result": {"version": 2, "run_id": "r", "metrics": {"r2": 0.5}},
         "error": None, "created_at": 1_764_979_200.0, "finished_at": 1_764_979_260.5,
         "started_at": None, "progress": 1.0, "message": "done", "user": "ana"},
        {"id": "j2", "kind": "fit", "state": "failed", "spec": {},
         "error": {"code": "data_error", "message": "no rows"}, "created_at": 1_764_979_300.0,
         "extra": {"new": "field"}},
    ]  # fmt: skip
    frame = jobs_frame(rows)
    assert list(frame.columns[:7]) == [
        "id",
        "kind",
        "state",
        "progress",
        "model",
        "user",
        "message",
    ]
    first, second = frame.iloc[0], frame.iloc[1]
    assert first["algorithm"] == "Ridge" and first["version"] == 2 and first["metrics.r2"] == 0.5
    assert first["finished_at"] == pd.Timestamp(1_764_979_260.5, unit="s", tz="UTC")
    assert pd.isna(first["started_at"]) and pd.isna(first["error"])
    assert second["error"] == "no rows" and second["error_code"] == "data_error"
    assert second["extra"] == '{"new": "field"}'
    assert not any(isinstance(v, dict | list) for v in frame.to_numpy().ravel())


def test_results_carry_the_run_url_when_a_ui_is_configured(
    client: kp.Client, server_settings: ServerSettings
) -> None:
    jobs = JobStore(Database(server_settings.database_url))
    job = jobs.create("fit", {"algorithm": "Ridge"}, model="m")
    jobs.start(job.id, "w")
    jobs.succeed(job.id, {"model": "m", "version": 1, "run_id": "r42", "metrics": {}})
    result = client.wait(job.id, progress=False)
    assert result.url == "http://mlflow.example:5000/#/runs/r42"
    assert 'href="http://mlflow.example:5000/#/runs/r42"' in result._repr_html_()
    assert run_url("", "r42") is None and run_url(UI, None) is None


def test_jobs_through_the_bridge_are_flat(
    client: kp.Client, server_settings: ServerSettings
) -> None:
    jobs = JobStore(Database(server_settings.database_url))
    job = jobs.create("fit", {"algorithm": "Ridge", "target": "y"}, model="flat")
    frame = client.jobs()
    row = frame.set_index("id").loc[job.id]
    assert row["algorithm"] == "Ridge" and row["state"] == "queued"
    assert isinstance(frame["created_at"].dtype, pd.DatetimeTZDtype)
    assert not any(isinstance(v, dict | list) for v in frame.to_numpy().ravel())


def test_fit_without_a_version_says_how_to_plot() -> None:
    with pytest.raises(kp.BadParameter, match=r"kp\.summary"):
        kp.FitResult("j", None, None, None).plot()


def test_results_pickle_without_their_connection(client: kp.Client) -> None:
    import pickle

    result = kp.FitResult("j", "pump", 2, "r", {"f1": 0.5}, url="u", client=client)
    again = pickle.loads(pickle.dumps(result))  # noqa: S301 (our own bytes)
    assert again == result and again.client is None and again.url == "u"


def test_reproduce_result_is_a_frame_and_an_html_table_without_its_connection() -> None:
    rows = [
        {
            "item": "metric.accuracy",
            "original": 0.9,
            "reproduced": 0.9,
            "difference": 0.0,
            "rule": "exact",
            "tolerance": 0.0,
            "match": True,
        },
        {
            "item": "split",
            "original": "<ab>",
            "reproduced": "<ab>",
            "difference": None,
            "rule": "exact",
            "tolerance": None,
            "match": True,
        },
    ]
    result = kp.ReproduceResult(
        "j1",
        "pump",
        4,
        "pump@3",
        "exact",
        rule={"kind": "exact", "why": "seeded", "text": "exact"},
        comparison=rows,
        client=kp.Client("http://127.0.0.1:1", "t"),
    )
    assert result.ref == "pump@4" and result.matched
    assert list(result.frame["item"]) == ["metric.accuracy", "split"]
    assert result.frame["match"].all()
    page = result._repr_html_()
    assert "reproduce pump@3 as pump@4" in page and "&lt;ab&gt;" in page and "<ab>" not in page
    assert "client" not in result.to_dict() and result.to_dict()["comparison"] == rows
    assert not kp.ReproduceResult("j2", "pump", 5, "pump@3", "differs").matched


def test_summary_html_names_reproductions_on_both_sides() -> None:
    original = kp.ModelSummary(
        {**SUMMARY, "reproductions": [{"version": 4, "verdict": "exact", "forced": True}]}
    )
    assert "pump@4: exact (forced)" in original._repr_html_()
    again = kp.ModelSummary(
        {**SUMMARY, "version": 4, "reproduces": {"of": "pump@3", "verdict": "within_tolerance"}}
    )
    assert "pump@3: within_tolerance" in again._repr_html_()
