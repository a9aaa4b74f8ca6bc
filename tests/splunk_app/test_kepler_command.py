"""The built app's `bin/kepler_command.py`, run by each Python Splunk embeds (3.9 and 3.13)
as splunkd runs it: from the unpacked package, bare (`-S`), no arguments, protocol v2
through the harness, against a real bridge and worker.

tests/searchcommand/test_command.py covers the command's behaviour in depth on the project's
Python; this module proves that what ships runs on Splunk's Pythons: every subcommand, the
settings read from splunkd through the vendored splunklib, TLS through each interpreter's
own ssl module, and errors as one ERROR message without a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kepler._stack import LocalStack, free_port
from tests.splunk.app_setup import app_splunkd, subprocess_handler
from tests.splunk.harness import Splunkd, chunks, encode_records, header_only
from tests.splunk.kepler_command import live_progress, run_fit, sensor_events
from tests.splunk.pythons import SplunkPython

pytestmark = pytest.mark.system

FIELDS = ["_time", "temp", "vibration", "site", "tags", "failure"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("pythons-stack")) as s:
        yield s


@pytest.fixture(scope="module")
def script(app: Path) -> Path:
    return app / "bin" / "kepler_command.py"


def splunkd(
    script: Path, python: SplunkPython, url: str | None, token: str | None, **env: str
) -> Splunkd:
    """The command as splunkd starts it, under `python`; outside Splunk's settings when
    `url` is given (KEPLER_URL, KEPLER_TOKEN), else they come from splunkd."""
    child = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    if url is not None and token is not None:
        child.update(KEPLER_URL=url, KEPLER_TOKEN=token)
    child.update(env)
    return Splunkd(
        script,
        command="kepler",
        python=python.executable,
        python_args=["-S"],
        env=child,
        timeout=120,
    )


def generate(cmd: Splunkd, args: list[str]) -> list[dict]:
    """A generating subcommand (models, summary, jobs, deletemodel): getinfo, one empty
    execute chunk, its records."""
    info = cmd.getinfo(args)
    assert info.metadata.get("generating") is True, info.metadata
    reply = cmd.execute(b"", finished=True)
    assert reply.finished is True and not [m for m in reply.messages if m[0] == "ERROR"]
    assert cmd.close() == 0, cmd.stderr
    return reply.records()


def one_error_at_getinfo(cmd: Splunkd, args: list[str]) -> str:
    info = cmd.getinfo(args)
    errors = [text for level, text in info.messages if level == "ERROR"]
    assert len(errors) == 1, info.metadata
    assert cmd.close() == 1
    assert "Traceback" not in errors[0] and "Traceback" not in cmd.stderr, cmd.stderr
    return errors[0]


def test_fit_then_apply(stack: LocalStack, script: Path, splunk_python: SplunkPython) -> None:
    model = f"pump_{splunk_python.tag}"
    bodies = chunks(sensor_events(600), 250, FIELDS)
    bodies.insert(1, b"")  # distributed searches send empty chunks too
    bodies.append(header_only(FIELDS))
    cmd = splunkd(script, splunk_python, stack.url, stack.token)
    args = ["fit", "DecisionTreeClassifier", "failure", "from", "temp", "vibration", "site"]
    _, replies = run_fit(cmd, [*args, "into", model], bodies)
    job_id, _ = live_progress(replies[len(bodies) - 1 :], "fit")
    (row,) = replies[-1].records()
    assert cmd.close() == 0, cmd.stderr
    assert (row["job_id"], row["model"], row["version"]) == (job_id, model, "1")
    assert int(row["rows"]) == 600 and float(row["accuracy"]) > 0.8

    new = sensor_events(200, seed=1)
    for event in new:
        event["_raw"] = f"temp={event['temp']} kept-by-splunkd"
    new[3]["site"] = ["Köln", "東京"]  # multivalue, non-ASCII
    cmd = splunkd(script, splunk_python, stack.url, stack.token)
    info = cmd.getinfo(["apply", model, "probabilities=true"])
    assert info.metadata["required_fields"] == ["temp", "vibration", "site"], info.metadata
    _, first = cmd.send(new[:120], finished=False, fields=[*FIELDS, "_raw"])
    _, rest = cmd.send(new[120:], finished=True, fields=[*FIELDS, "_raw"])
    assert cmd.close() == 0, cmd.stderr
    scored = first + rest
    assert len(scored) == 200
    hits = sum(r["predicted(failure)"] == e["failure"] for r, e in zip(scored, new, strict=True))
    assert hits / 200 > 0.8
    assert scored[3]["site"] == ["Köln", "東京"] and scored[0]["_raw"].endswith("kept-by-splunkd")
    assert 0.0 <= float(scored[0]["probability(failure=yes)"]) <= 1.0


def test_models_summary_jobs_and_deletemodel(
    stack: LocalStack, script: Path, splunk_python: SplunkPython
) -> None:
    model = f"doomed_{splunk_python.tag}"
    body = encode_records(sensor_events(300, seed=3), ["temp", "vibration", "failure"])
    cmd = splunkd(script, splunk_python, stack.url, stack.token)
    run_fit(cmd, ["fit", "LogisticRegression", "failure", "from", "temp", "into", model], [body])
    assert cmd.close() == 0, cmd.stderr

    def run(args: list[str]) -> list[dict]:
        return generate(splunkd(script, splunk_python, stack.url, stack.token), args)

    assert model in {m["model"] for m in run(["models"])}
    summary = run(["summary", model])
    assert [r["feature"] for r in summary] == ["temp"]
    assert summary[0]["algorithm"] == "LogisticRegression"
    jobs = run(["jobs", "limit=50"])
    assert any(j["model"] == model and j["state"] == "succeeded" for j in jobs), jobs
    assert run(["deletemodel", model])[0]["deleted"] == "true"
    assert model not in {m["model"] for m in run(["models"])}


def test_automl_answers_with_the_leaderboard(
    stack: LocalStack, script: Path, splunk_python: SplunkPython
) -> None:
    model = f"auto_{splunk_python.tag}"
    fields = ["temp", "vibration", "failure"]
    bodies = chunks(sensor_events(300, seed=3), 150, fields)
    cmd = splunkd(script, splunk_python, stack.url, stack.token)
    _, replies = run_fit(
        cmd,
        [
            "automl",
            "failure",
            "from",
            "temp",
            "vibration",
            "into",
            model,
            "time_budget=60",
            "max_trials=2",
            "seed=1",
            "algorithms=DecisionTreeClassifier,LogisticRegression",
        ],
        bodies,
    )
    live_progress(replies[len(bodies) - 1 :], "automl")
    rows = replies[-1].records()
    assert cmd.close() == 0, cmd.stderr
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    assert (rows[0]["model"], rows[0]["version"]) == (model, "1")
    assert float(rows[0]["f1"]) >= 0


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["fit", "RandomForestClasifier", "y", "from", "x"], "did you mean RandomForestClassifier"),
        (["fit", "KMeans", "kk=3", "x"], "no parameter 'kk'"),
        (["apply", "no_such_model"], "no model named 'no_such_model'"),
        (["automl", "y", "from", "x", "into", "m", "time_budget=soon"], "such as 90, 10m"),
        (["frobnicate"], "unknown command"),
    ],
)
def test_bad_input_is_one_error_at_getinfo(
    stack: LocalStack,
    script: Path,
    splunk_python: SplunkPython,
    args: list[str],
    fragment: str,
) -> None:
    cmd = splunkd(script, splunk_python, stack.url, stack.token)
    assert fragment in one_error_at_getinfo(cmd, args)


def test_failed_job_is_one_error_message(
    stack: LocalStack, script: Path, splunk_python: SplunkPython
) -> None:
    body = encode_records([{"x": str(i), "y": "same"} for i in range(50)], ["x", "y"])
    cmd = splunkd(script, splunk_python, stack.url, stack.token)
    cmd.getinfo(["fit", "LogisticRegression", "y", "from", "x", "into", "const"])
    answers = cmd.execute_all(body, finished=True)
    errors = [(level, text) for a in answers for level, text in a.messages if level != "INFO"]
    assert errors == answers[-1].messages and len(errors) == 1, errors
    assert errors[0][0] == "ERROR" and "Traceback" not in errors[0][1]
    assert cmd.close() == 1
    assert "Traceback" not in cmd.stderr


def test_bridge_unreachable(script: Path, splunk_python: SplunkPython) -> None:
    cmd = splunkd(script, splunk_python, f"http://127.0.0.1:{free_port()}", "t")
    assert "cannot reach the Kepler bridge" in one_error_at_getinfo(cmd, ["models"])


def test_roles_through_the_credentials_handler(
    stack: LocalStack, script: Path, app: Path, splunk_python: SplunkPython
) -> None:
    """Inside Splunk, under each of its Pythons: the built app's command asks the built
    app's kepler/credentials handler (run by the same interpreter) for its setup. A
    kepler_user fits and applies and is refused deletemodel; kepler_admin deletes; a user
    with neither role, or a lost session, is told what to do; never a traceback."""
    handler = subprocess_handler([splunk_python.executable], app)
    model = f"roles_{splunk_python.tag}"
    with app_splunkd(stack.url, stack.token, stack.user_token, handler=handler) as rest:

        def as_user(user: str) -> dict[str, str]:
            return {"splunkd_uri": rest.url, "session_key": f"{user}-key", "username": user}

        rows = [{"x": str(i), "y": str(2 * i)} for i in range(30)]
        cmd = splunkd(script, splunk_python, None, None)
        info = cmd.getinfo(
            ["fit", "LinearRegression", "y", "from", "x", "into", model], **as_user("alice")
        )
        assert info.metadata.get("type") == "stateful", info.messages
        answers = cmd.execute_all(encode_records(rows, ["x", "y"]), finished=True)
        assert cmd.close() == 0, [a.messages for a in answers]

        cmd = splunkd(script, splunk_python, None, None)
        cmd.getinfo(["apply", model], **as_user("alice"))
        reply, out = cmd.send([{"x": "5"}], finished=True)
        assert cmd.close() == 0, reply.messages
        assert float(out[0]["predicted(y)"]) == pytest.approx(10.0)

        cmd = splunkd(script, splunk_python, None, None)
        cmd.getinfo(["deletemodel", model], **as_user("alice"))
        ((level, message),) = cmd.execute(b"", finished=True).messages
        assert level == "ERROR" and "'kepler_admin'" in message, message
        assert cmd.close() == 1 and "Traceback" not in cmd.stderr

        cmd = splunkd(script, splunk_python, None, None)
        cmd.getinfo(["deletemodel", model], **as_user("bob"))
        reply = cmd.execute(b"", finished=True)
        assert cmd.close() == 0, reply.messages
        (record,) = stack.client().deletions(name=model).to_dict("records")
        assert record["user"] == "bob"

        for user, expected in (("carol", "'kepler_user'"), ("expired", "log in again")):
            cmd = splunkd(script, splunk_python, None, None)
            ((level, message),) = cmd.getinfo(["models"], **as_user(user)).messages
            assert level == "ERROR" and expected in message, message
            assert cmd.close() == 1 and "Traceback" not in cmd.stderr


@pytest.fixture(scope="module")
def tls_bridge(
    tmp_path_factory: pytest.TempPathFactory, tls_cert: tuple[Path, Path]
) -> Iterator[tuple[str, str, Path]]:
    cert, key = tls_cert
    env = {"KEPLER_TLS_CERTFILE": str(cert), "KEPLER_TLS_KEYFILE": str(key)}
    with LocalStack(tmp_path_factory.mktemp("pythons-tls"), workers=0, extra_env=env) as s:
        yield s.url, s.token, cert


def test_tls_with_and_without_the_ca_bundle(
    tls_bridge: tuple[str, str, Path], script: Path, splunk_python: SplunkPython
) -> None:
    """Each interpreter's own ssl module (3.9 with OpenSSL 1.1) verifies the bridge."""
    url, token, cert = tls_bridge
    text = one_error_at_getinfo(splunkd(script, splunk_python, url, token), ["models"])
    assert "TLS verification" in text and "CA bundle" in text
    cmd = splunkd(script, splunk_python, url, token, KEPLER_CA_BUNDLE=str(cert))
    assert generate(cmd, ["models"]) == []


def test_score_against_later_labels(
    stack: LocalStack, script: Path, splunk_python: SplunkPython
) -> None:
    """`score` as shipped: the built app's command streams the events to the bridge, which
    answers MLTK's table (the metrics need scikit-learn, which Splunk's Python lacks)."""
    events = sensor_events(600, seed=5)
    for i, event in enumerate(events):
        event["predicted(failure)"] = event["failure"] if i % 4 else "yes"
    truth = [e["failure"] for e in events]
    hits = sum(e["predicted(failure)"] == t for e, t in zip(events, truth, strict=True))
    cmd = splunkd(script, splunk_python, stack.url, stack.token)
    info = cmd.getinfo(["score", "accuracy_score", "failure", "against", "predicted(failure)"])
    assert info.metadata["required_fields"] == ["failure", "predicted(failure)"]
    fields = ["failure", "predicted(failure)"]
    bodies = chunks(events, 250, fields, chunked_idx=True)
    for body in bodies[:-1]:
        assert cmd.execute(body, finished=False).body == b""
    reply = cmd.execute(bodies[-1], finished=True)
    assert cmd.close() == 0, cmd.stderr
    (row,) = reply.records()
    assert row == {
        "Actual field": "failure",
        "Predicted field": "predicted(failure)",
        "accuracy_score": f"{hits / 600:.6g}",
    }
