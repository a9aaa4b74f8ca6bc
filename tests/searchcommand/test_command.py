"""The real `kepler` command, run as splunkd runs it (no arguments, bare Python: `-S`),
against a real bridge and worker, through the protocol v2 harness."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kepler._stack import LocalStack, free_port
from tests.splunk.harness import Splunkd, chunks, encode_records, header_only, split_chunks
from tests.splunk.kepler_command import live_progress, run_fit, sensor_events, splunkd

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("splunk-stack")) as s:
        yield s


def test_fit_then_apply_across_chunks(stack: LocalStack, script: Path) -> None:
    events = sensor_events(3000)
    fields = ["_time", "temp", "vibration", "site", "tags", "failure"]
    bodies = chunks(events, 700, fields)
    bodies.insert(2, b"")  # distributed searches send empty chunks too
    bodies.append(header_only(fields))  # and may finish with a header-only chunk
    cmd = splunkd(script, stack.url, stack.token)
    search = "search index=sensors sourcetype=pump | kepler fit RandomForestClassifier ..."
    _, replies = run_fit(
        cmd,
        [
            "fit",
            "RandomForestClassifier",
            "n_estimators=30",
            "failure",
            "from",
            "temp",
            "vibration",
            "site",
            "into",
            "splunk_pump",
        ],
        bodies,
        search=search,
    )
    assert [r.finished for r in replies[: len(bodies) - 1]] == [False] * (len(bodies) - 1)
    assert all(r.body == b"" and not r.messages for r in replies[: len(bodies) - 1])
    job_id, _ = live_progress(replies[len(bodies) - 1 :], "fit")
    (row,) = replies[-1].records()
    assert row["job_id"] == job_id
    assert row["model"] == "splunk_pump" and row["version"] == "1"
    assert int(row["rows"]) == 3000
    assert float(row["accuracy"]) > 0.9
    assert replies[-1].messages == [("INFO", "kepler fit: 100% done")]
    assert cmd.close() == 0

    from mlflow import MlflowClient

    tracking = f"sqlite:///{stack.home / 'mlflow.db'}"
    tags = MlflowClient(tracking, tracking).get_run(row["run_id"]).data.tags
    assert tags["kepler.splunk.search"] == search
    assert tags["kepler.splunk.sid"] == cmd.sid
    assert tags["kepler.splunk.earliest"] == "1700000000"

    new = sensor_events(900, seed=1)
    for event in new:
        event["_raw"] = f"temp={event['temp']} note=kept-by-splunkd"
    new[5]["site"] = ["Köln", "東京"]  # a multivalue model field: "Köln\n東京" in its column
    apply_fields = ["_time", "_raw", "temp", "vibration", "site", "tags"]
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["apply", "splunk_pump", "probabilities=true"])
    assert "error" not in info.metadata and not info.messages
    # Only the model's fields cross to the command: splunkd keeps _raw and the rest.
    assert info.metadata["required_fields"] == ["temp", "vibration", "site"]
    scored = []
    for start in (0, 300, 600):
        reply, results = cmd.send(new[start : start + 300], finished=False, fields=apply_fields)
        assert reply.finished is False
        assert reply.fieldnames == [
            "_chunked_idx",
            "predicted(failure)",
            "probability(failure=no)",
            "probability(failure=yes)",
        ]
        scored.extend(results)
        if start == 300:
            assert cmd.execute(b"", finished=False).body == b""  # an empty chunk
    reply, results = cmd.send([], finished=True, fields=apply_fields)  # header only
    assert reply.finished is True and results == []
    assert cmd.close() == 0
    assert not any(b"kept-by-splunkd" in chunk for chunk in cmd.requests)
    sent = [body for chunk in cmd.requests[1:] for _, body in split_chunks(chunk) if body]
    assert len(sent) == 4 and all(b"_chunked_idx" in body.split(b"\n")[0] for body in sent)
    assert len(scored) == 900
    truth = [e["failure"] for e in new]
    hits = sum(r["predicted(failure)"] == t for r, t in zip(scored, truth, strict=True))
    assert hits / 900 > 0.9
    assert {r["site"] for r in scored if isinstance(r["site"], str)} == {
        "Köln",
        "São Paulo",
        "東京",
    }
    assert scored[0]["tags"] == ["pump", "line-2"]  # multivalue fields come back as sent
    assert scored[0]["_raw"].endswith("note=kept-by-splunkd")
    assert scored[5]["site"] == ["Köln", "東京"] and scored[5]["predicted(failure)"] in {
        "yes",
        "no",
    }
    assert 0.0 <= float(scored[0]["probability(failure=yes)"]) <= 1.0


def test_fit_output_events_returns_training_events_with_predictions(
    stack: LocalStack, script: Path
) -> None:
    events = sensor_events(1200, seed=4)
    fields = ["_time", "temp", "vibration", "site", "tags", "failure"]
    cmd = splunkd(script, stack.url, stack.token)
    _, replies = run_fit(
        cmd,
        [
            "fit",
            "DecisionTreeClassifier",
            "failure",
            "from",
            "temp",
            "vibration",
            "into",
            "events_pump",
            "output=events",
        ],
        chunks(events, 500, fields),
    )
    rows = replies[-1].records()
    assert cmd.close() == 0
    assert len(rows) == 1200
    assert [r["_time"] for r in rows] == [str(e["_time"]) for e in events]  # order kept
    assert rows[0]["tags"] == ["pump", "line-2"] and rows[0]["site"] == events[0]["site"]
    hits = sum(r["predicted(failure)"] == e["failure"] for r, e in zip(rows, events, strict=True))
    assert hits / 1200 > 0.95
    assert any("version=1" in text for _, text in replies[-1].messages)


def test_two_hundred_thousand_events(stack: LocalStack, script: Path) -> None:
    events = sensor_events(200_000, seed=2)
    fields = ["temp", "vibration", "failure"]
    bodies = chunks(events, 50_000, fields)
    cmd = splunkd(script, stack.url, stack.token)
    _, replies = run_fit(
        cmd,
        [
            "fit",
            "DecisionTreeClassifier",
            "failure",
            "from",
            "temp",
            "vibration",
            "into",
            "big_pump",
        ],
        bodies,
    )
    (row,) = replies[-1].records()
    assert int(row["rows"]) == 200_000
    assert cmd.close() == 0

    cmd = splunkd(script, stack.url, stack.token)
    cmd.getinfo(["apply", "big_pump"])
    total = 0
    for i in range(4):
        part = events[i * 50_000 : (i + 1) * 50_000]
        _, results = cmd.send(part, finished=i == 3, fields=["temp", "vibration", "failure"])
        total += len(results)
        hits = sum(r["predicted(failure)"] == r["failure"] for r in results)
        assert hits / len(results) > 0.95
    assert total == 200_000
    assert cmd.close() == 0


def test_models_summary_jobs_and_deletemodel(stack: LocalStack, script: Path) -> None:
    bodies = [encode_records(sensor_events(400, seed=3), ["temp", "vibration", "failure"])]
    cmd = splunkd(script, stack.url, stack.token)
    run_fit(
        cmd,
        ["fit", "LogisticRegression", "failure", "from", "temp", "vibration", "into", "doomed"],
        bodies,
    )
    cmd.close()

    def generate(args: list[str]) -> list[dict]:
        cmd = splunkd(script, stack.url, stack.token)
        info = cmd.getinfo(args)
        assert info.metadata.get("generating") is True, info.metadata
        reply = cmd.execute(b"", finished=True)
        assert reply.finished is True
        assert cmd.close() == 0
        return reply.records()

    models = generate(["models"])
    assert {"doomed"} <= {m["model"] for m in models}
    assert all("accuracy" in m for m in models if m["model"] == "doomed")
    assert generate(["listmodels"]) == models
    summary = generate(["summary", "doomed"])
    assert {r["feature"] for r in summary} == {"temp", "vibration"}
    assert all("coefficient" in r and r["algorithm"] == "LogisticRegression" for r in summary)
    jobs = generate(["jobs", "limit=50"])
    assert any(j["model"] == "doomed" and j["state"] == "succeeded" for j in jobs)
    deleted = generate(["deletemodel", "doomed"])
    assert deleted[0]["deleted"] == "true"
    assert "doomed" not in {m["model"] for m in generate(["models"])}


def test_cancel_ends_a_queued_job_and_answers_its_row(stack: LocalStack, script: Path) -> None:
    from kepler.server.db import Database
    from kepler.server.stores.jobs import JobStore

    jobs = JobStore(Database(f"sqlite:///{stack.home / 'kepler.db'}"))
    job = jobs.create("fit", {}, model="never")  # queued; no message: no worker takes it
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["cancel", job.id])
    assert info.metadata.get("generating") is True, info.metadata
    reply = cmd.execute(b"", finished=True)
    assert cmd.close() == 0
    (row,) = reply.records()
    assert (row["job_id"], row["state"], row["model"]) == (job.id, "cancelled", "never")
    assert row["message"].startswith("cancelled by ") and "was cancelled by" in row["error"]
    assert jobs.get(job.id).state == "cancelled"
    # The jobs list filters on the new state.
    cmd = splunkd(script, stack.url, stack.token)
    cmd.getinfo(["jobs", "status=cancelled"])
    listed = cmd.execute(b"", finished=True).records()
    assert cmd.close() == 0
    assert [r["job_id"] for r in listed] == [job.id]


def test_cancel_refuses_a_bad_id_and_a_finished_job(stack: LocalStack, script: Path) -> None:
    text = error_at_getinfo(splunkd(script, stack.url, stack.token), ["cancel"])
    assert "cancel takes one job id" in text and "| kepler jobs" in text
    text = error_at_getinfo(splunkd(script, stack.url, stack.token), ["cancel", "no/such"])
    assert "cancel takes one job id" in text
    text = error_at_getinfo(splunkd(script, stack.url, stack.token), ["cancel", "nosuchjob"])
    assert "no job 'nosuchjob'" in text


# -- errors: one ERROR message that names the cause and the fix; never a traceback ------


def error_at_getinfo(cmd: Splunkd, args: list[str]) -> str:
    info = cmd.getinfo(args)
    errors = [text for level, text in info.messages if level == "ERROR"]
    assert len(errors) == 1, info.metadata
    assert cmd.close() == 1
    assert "Traceback" not in errors[0] and "Traceback" not in cmd.stderr
    return errors[0]


def test_bridge_unreachable(script: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    text = error_at_getinfo(splunkd(script, url, "t"), ["models"])
    assert "cannot reach the Kepler bridge" in text and "setup page" in text


def test_wrong_token(stack: LocalStack, script: Path) -> None:
    text = error_at_getinfo(splunkd(script, stack.url, "wrong"), ["models"])
    assert "refused the token" in text and "setup page" in text
    assert stack.token not in text


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["fit", "RandomForestClasifier", "y", "from", "x"], "did you mean RandomForestClassifier"),
        (["fit", "KMeans", "kk=3", "x"], "no parameter 'kk'; allowed parameters:"),
        (["fit", "KMeans", "k=3", "x", "async=maybe"], "true or false"),
        (["apply", "no_such_model"], "no model named 'no_such_model'"),
        (["summary", "no_such_model"], "no model named"),
        (["frobnicate"], "unknown command"),
        ([], "usage"),
        (["jobs", "status=lost"], "one of"),
        (["fit", "KMeans", "k=3", "x", "output=events"], "needs `into <model>`"),
        (["automl", "y", "from", "x", "into", "m", "time_budget=soon"], "such as 90, 10m"),
        (["automl", "y", "from", "x", "into", "m", "task=regression", "metric=f1"], "rmse"),
        (["automl", "y", "from", "x", "into", "m", "budget=5m"], "no option 'budget'"),
        (["automl", "y", "from", "x"], "into <model>"),
        (["automl", "y", "from", "x", "into", "m", "algorithms=Forest"], "unknown algorithm"),
    ],
)
def test_bad_input_refused_at_getinfo(
    stack: LocalStack, script: Path, args: list[str], fragment: str
) -> None:
    assert fragment in error_at_getinfo(splunkd(script, stack.url, stack.token), args)


def test_failed_job_is_one_error_message(stack: LocalStack, script: Path) -> None:
    body = encode_records([{"x": str(i), "y": "same"} for i in range(50)], ["x", "y"])
    cmd = splunkd(script, stack.url, stack.token)
    cmd.getinfo(["fit", "LogisticRegression", "y", "from", "x", "into", "const"])
    answers = cmd.execute_all(body, finished=True)
    # Queued, followed while a worker runs it, then its failure: the last answer, alone.
    assert len(answers) >= 2 and "queued" in answers[0].messages[0][1]
    assert [a.finished for a in answers] == [False] * (len(answers) - 1) + [True]
    errors = [(level, text) for a in answers for level, text in a.messages if level != "INFO"]
    assert errors == answers[-1].messages and len(errors) == 1
    assert errors[0][0] == "ERROR" and "y" in errors[0][1] and "Traceback" not in errors[0][1]
    assert answers[-1].body == b""
    assert cmd.close() == 1
    assert "Traceback" not in cmd.stderr


def test_automl_streams_chunks_and_answers_with_the_leaderboard(
    stack: LocalStack, script: Path
) -> None:
    events = sensor_events(400, seed=3)
    fields = ["_time", "temp", "vibration", "site", "failure"]
    bodies = chunks(events, 150, fields)
    cmd = splunkd(script, stack.url, stack.token)
    _, replies = run_fit(
        cmd,
        [
            "automl",
            "failure",
            "from",
            "temp",
            "vibration",
            "site",
            "_time",
            "into",
            "splunk_auto",
            "time_budget=60",
            "max_trials=3",
            "seed=1",
            "algorithms=DecisionTreeClassifier,LogisticRegression",
        ],
        bodies,
    )
    assert [r.finished for r in replies[: len(bodies) - 1]] == [False] * (len(bodies) - 1)
    _, running = live_progress(replies[len(bodies) - 1 :], "automl")
    # Trials done and the best score so far show while the search runs, not at its end.
    assert any("trials done" in t and "best so far f1=" in t for t in running), running
    rows = replies[-1].records()
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    best = rows[0]
    assert best["model"] == "splunk_auto" and best["version"] == "1"
    assert best["algorithm"] in ("DecisionTreeClassifier", "LogisticRegression")
    for field in ("f1", "accuracy", "fit_seconds", "latency_ms_per_row", "model_mb"):
        assert float(best[field]) >= 0, field
    assert any(k.startswith("param.") for k in best)
    texts = [text for level, text in replies[-1].messages if level == "INFO"]
    assert any("registered splunk_auto@1" in t for t in texts), texts
    assert cmd.close() == 0


def test_automl_constant_target_is_one_error_before_workers_start(
    stack: LocalStack, script: Path
) -> None:
    body = encode_records([{"x": str(i), "y": "same"} for i in range(50)], ["x", "y"])
    cmd = splunkd(script, stack.url, stack.token)
    cmd.getinfo(["automl", "y", "from", "x", "into", "const_auto", "time_budget=30"])
    (reply,) = cmd.execute_all(body, finished=True)  # refused before a job is queued
    errors = [text for level, text in reply.messages if level == "ERROR"]
    assert len(errors) == 1 and "constant" in errors[0], reply.messages
    assert cmd.close() == 1
    assert "Traceback" not in cmd.stderr


def test_no_events_to_train_on(stack: LocalStack, script: Path) -> None:
    cmd = splunkd(script, stack.url, stack.token)
    cmd.getinfo(["fit", "LinearRegression", "y", "from", "x"])
    (reply,) = cmd.execute_all(b"", finished=True)
    assert reply.messages == [
        ("ERROR", "the search returned no events to train on; check the search")
    ]
    assert cmd.close() == 1


@pytest.fixture(scope="module")
def tls_bridge(
    tmp_path_factory: pytest.TempPathFactory, tls_cert: tuple[Path, Path]
) -> Iterator[tuple[str, str, Path]]:
    cert, key = tls_cert
    env = {"KEPLER_TLS_CERTFILE": str(cert), "KEPLER_TLS_KEYFILE": str(key)}
    with LocalStack(tmp_path_factory.mktemp("tls-home"), workers=0, extra_env=env) as s:
        yield s.url, s.token, cert


def test_tls_failure_names_the_ca_bundle_setting(
    tls_bridge: tuple[str, str, Path], script: Path
) -> None:
    url, token, cert = tls_bridge
    text = error_at_getinfo(splunkd(script, url, token), ["models"])
    assert "TLS verification" in text and "CA bundle" in text
    cmd = splunkd(script, url, token, KEPLER_CA_BUNDLE=str(cert))
    assert cmd.getinfo(["models"]).metadata.get("generating") is True
    assert cmd.execute(b"", finished=True).finished is True
    assert cmd.close() == 0


def test_fit_past_its_job_timeout_is_one_error_naming_async(
    tls_bridge: tuple[str, str, Path], script: Path
) -> None:
    """No worker takes the job (this bridge has none): the command follows it until
    job_timeout, then answers one ERROR; the job stays queued for | kepler jobs."""
    url, token, cert = tls_bridge
    env = {"KEPLER_CA_BUNDLE": str(cert), "KEPLER_JOB_TIMEOUT": "1"}
    cmd = splunkd(script, url, token, KEPLER_PROGRESS_INTERVAL="0.2", **env)
    cmd.getinfo(["fit", "GaussianNB", "failure", "from", "temp", "into", "never"])
    body = encode_records(sensor_events(50), ["temp", "failure"])
    answers = cmd.execute_all(body, finished=True)
    assert cmd.close() == 1
    job_id = answers[0].messages[0][1].split()[3]
    assert [a.finished for a in answers] == [False] * (len(answers) - 1) + [True]
    assert len(answers) >= 3  # queued, then asked again at least once within the timeout
    assert all(not a.messages for a in answers[1:-1])  # a queued job does not move
    assert answers[-1].messages == [
        (
            "ERROR",
            f"the fit (job {job_id}) did not finish within 1 s; it goes on in the background: "
            "follow it with | kepler jobs, or rerun with async=t",
        )
    ]
    assert "Traceback" not in cmd.stderr


def test_fit_async_returns_job_id_at_once(stack: LocalStack, script: Path) -> None:
    body = encode_records(sensor_events(300, seed=5), ["temp", "vibration", "failure"])
    cmd = splunkd(script, stack.url, stack.token)
    _, replies = run_fit(
        cmd,
        [
            "fit",
            "GaussianNB",
            "failure",
            "from",
            "temp",
            "vibration",
            "into",
            "async_pump",
            "async=t",
        ],
        [body],
    )
    (only,) = replies  # async=t: the job id at once, no waiting for the job
    (row,) = only.records()
    assert cmd.close() == 0
    assert row["state"] == "queued" and row["model"] == "async_pump" and row["job_id"]
    client = stack.client()
    result = client.wait(row["job_id"], progress=False)
    assert result.model == "async_pump" and result.version == 1


def test_apply_keeps_one_version_for_the_whole_search(stack: LocalStack, script: Path) -> None:
    import pandas as pd

    client = stack.client()
    xs = [float(i) for i in range(50)]
    client.fit(
        pd.DataFrame({"x": xs, "y": [2 * x for x in xs]}),
        "LinearRegression",
        target="y",
        into="pinned",
        progress=False,
    )
    cmd = splunkd(script, stack.url, stack.token)
    cmd.getinfo(["apply", "pinned"])
    _, first = cmd.send([{"x": "10"}], finished=False)
    client.fit(
        pd.DataFrame({"x": xs, "y": [3 * x for x in xs]}),
        "LinearRegression",
        target="y",
        into="pinned",
        progress=False,
    )  # version 2 lands mid-search
    _, second = cmd.send([{"x": "10"}], finished=True)
    assert cmd.close() == 0
    assert float(first[0]["predicted(y)"]) == pytest.approx(20.0)
    assert float(second[0]["predicted(y)"]) == pytest.approx(20.0)  # still version 1
    fresh = splunkd(script, stack.url, stack.token)
    fresh.getinfo(["apply", "pinned"])
    _, third = fresh.send([{"x": "10"}], finished=True)
    assert float(third[0]["predicted(y)"]) == pytest.approx(30.0)  # a new search: v2
    assert fresh.close() == 0
