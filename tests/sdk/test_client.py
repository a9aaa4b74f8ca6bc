"""The SDK against the real bridge app in process: settings, errors, progress, frames."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import kepler as kp
from kepler._settings import ClientSettings
from kepler._stack import free_port
from kepler.server.db import Database
from kepler.server.settings import ServerSettings
from kepler.server.stores.jobs import JobStore
from kepler_bridge.app import create_app

TOKEN = "sdk-test-token"


@pytest.fixture(scope="module")
def server_settings(tmp_path_factory: pytest.TempPathFactory) -> ServerSettings:
    return ServerSettings(home=tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def client(server_settings: ServerSettings) -> Iterator[kp.Client]:
    with TestClient(create_app(server_settings, TOKEN)) as tc:
        yield kp.Client("http://testserver", TOKEN, transport=tc._transport)


def test_settings_come_from_environment() -> None:
    probe = (
        "import kepler as kp; c = kp.Client(); "
        "print(c.url); print(c._auth._token == 'env-token'); print('env-token' in repr(c))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(KEPLER_URL="https://bridge.example:9443/", KEPLER_TOKEN="env-token")
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["https://bridge.example:9443", "True", "False"]


def test_arguments_win_over_settings() -> None:
    settings = ClientSettings(url="http://a:1", token="from-settings")
    c = kp.Client("http://b:2", "from-arg", settings=settings)
    assert c.url == "http://b:2" and c._auth._token == "from-arg"


def test_unreachable_bridge_says_how_to_fix() -> None:
    c = kp.Client(f"http://127.0.0.1:{free_port()}", "t")
    with pytest.raises(kp.BridgeUnavailable) as err:
        c.health()
    assert "kepler up" in err.value.message and "KEPLER_URL" in err.value.message


def test_typed_errors_are_rebuilt_from_the_bridge(client: kp.Client) -> None:
    with pytest.raises(kp.ModelNotFound) as err:
        client.summary("ghost")
    assert "ghost" in err.value.message
    with pytest.raises(kp.JobNotFound):
        client.job("0" * 32)
    with pytest.raises(kp.UnknownAlgorithm) as unknown:
        client.fit(pd.DataFrame({"a": [1]}), "KMeanz")
    assert "KMeans" in unknown.value.detail["suggestions"]


def test_invalid_model_name_refused_before_sending(client: kp.Client) -> None:
    with pytest.raises(kp.InvalidSpec, match="model name"):
        client.fit(pd.DataFrame({"a": [1.0]}), "KMeans", into="bad name!")


def test_unsendable_frame_is_a_data_error(client: kp.Client) -> None:
    frame = pd.DataFrame({"mixed": [1, "two", 3.0]}, dtype=object)
    with pytest.raises(kp.DataError, match="one type"):
        client.upload(frame)


def test_upload_in_pieces_round_trips(client: kp.Client, server_settings: ServerSettings) -> None:
    from kepler.server.datasets import DatasetStore

    small = kp.Client(
        "http://testserver",
        TOKEN,
        transport=client._http._transport,
        settings=ClientSettings(chunk_bytes=1024),
    )
    frame = pd.DataFrame({"x": range(1000), "name": [f"n{i}" for i in range(1000)]})
    dataset_id = small.upload(frame)
    store = DatasetStore(server_settings.dataset_store)
    manifest = store.manifest(dataset_id)
    assert manifest.chunks > 5 and manifest.rows == 1000
    assert store.read_table(dataset_id).to_pandas().equals(frame)


def test_upload_pieces_are_upload_chunk_bytes(
    client: kp.Client, server_settings: ServerSettings
) -> None:
    from kepler.server.datasets import DatasetStore

    frame = pd.DataFrame({"x": [float(i) for i in range(4000)]})  # 32,000 bytes
    store = DatasetStore(server_settings.dataset_store)
    chunks = {}
    for upload_chunk_bytes in (8_000, 2**30):
        sender = kp.Client(
            "http://testserver",
            TOKEN,
            transport=client._http._transport,
            settings=ClientSettings(upload_chunk_bytes=upload_chunk_bytes),
        )
        dataset_id = sender.upload(frame)
        chunks[upload_chunk_bytes] = store.manifest(dataset_id).chunks
        assert store.read_table(dataset_id).to_pandas().equals(frame)
    assert chunks == {8_000: 4, 2**30: 1}


def test_wait_shows_progress_bar_in_a_terminal(
    client: kp.Client, server_settings: ServerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs = JobStore(Database(server_settings.database_url))
    job = jobs.create("fit", {"algorithm": "KMeans"}, model="m")
    jobs.start(job.id, "w")
    jobs.succeed(job.id, {"model": "m", "version": 4, "run_id": "r", "metrics": {"x": 1.0}})

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    result = client.wait(job.id)
    assert result.ref == "m@4" and result.metrics == {"x": 1.0}
    assert "fit" in screen.getvalue() and "100%" in screen.getvalue()

    quiet = Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    client.wait(job.id, progress=False)
    assert quiet.getvalue() == ""


def test_automl_progress_bar_shows_trials_and_best_then_the_leaderboard(
    client: kp.Client, server_settings: ServerSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    jobs = JobStore(Database(server_settings.database_url))
    job = jobs.create("automl", {"target": "y"}, model="m")
    jobs.start(job.id, "w")
    jobs.progress(job.id, 0.4, "3 trials done (1 pruned), best so far f1=0.91 (Ridge)")
    row = {
        "rank": 1,
        "trial": 2,
        "algorithm": "LogisticRegression",
        "params": {"C": 0.5},
        "metrics": {"f1": 0.93, "accuracy": 0.95},
        "fit_seconds": 0.01,
        "latency_ms_per_row": 0.002,
        "model_mb": 0.004,
        "feasible": True,
        "violations": [],
        "worker": "h:1",
    }
    result = {"model": "m", "version": 2, "algorithm": "LogisticRegression", "leaderboard": [row]}
    finish = threading.Timer(0.5, jobs.succeed, args=(job.id, result))

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    finish.start()
    done = client.automl_result(job.id)
    finish.join()
    assert "automl" in screen.getvalue()
    assert "3 trials done (1 pruned), best so far f1=0.91" in screen.getvalue()
    assert done.ref == "m@2" and done.algorithm == "LogisticRegression"
    board = done.leaderboard
    assert list(board.columns[:5]) == ["rank", "algorithm", "params", "f1", "accuracy"]
    assert board.loc[0, "params"] == {"C": 0.5} and board.loc[0, "model_mb"] == 0.004


def test_wait_on_failed_job_raises_its_typed_error(
    client: kp.Client, server_settings: ServerSettings
) -> None:
    jobs = JobStore(Database(server_settings.database_url))
    job = jobs.create("fit", {})
    jobs.fail(job.id, {"code": "data_error", "message": "feature 'temp' is not numeric"})
    with pytest.raises(kp.DataError, match="temp"):
        client.wait(job.id, progress=False)
    crashed = jobs.create("fit", {})
    jobs.fail(crashed.id, {"code": "internal", "message": "the worker hit an internal error"})
    with pytest.raises(kp.JobFailed):
        client.wait(crashed.id, progress=False)


def test_job_long_poll_answers_when_the_job_moves(
    client: kp.Client, server_settings: ServerSettings
) -> None:
    import threading
    import time

    jobs = JobStore(Database(server_settings.database_url))
    job = jobs.create("fit", {})
    seen = client.job(job.id)
    mover = threading.Timer(0.3, jobs.progress, args=(job.id, 0.5, "training"))
    mover.start()
    moved = client._json(
        "GET", f"/v1/jobs/{job.id}", params={"wait": 10, "since": seen["updated_at"]}
    )
    mover.join()
    # Not the stale state it held at the call: the bridge waited for the change.
    assert (moved["progress"], moved["message"]) == (0.5, "training")
    # Finished jobs answer at once, whatever `since` says.
    jobs.succeed(job.id, {})
    done = client._json("GET", f"/v1/jobs/{job.id}", params={"wait": 10, "since": time.time() + 60})
    assert done["state"] == "succeeded"


def test_the_sdk_names_its_user_for_the_audit_trail(
    server_settings: ServerSettings, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import getpass

    seen: list[tuple[str | None, str | None]] = []
    app = create_app(server_settings, TOKEN)

    @app.middleware("http")
    async def record(request, call_next):  # type: ignore[no-untyped-def]
        seen.append((request.headers.get("x-kepler-user"), request.headers.get("x-kepler-roles")))
        return await call_next(request)

    with TestClient(app) as tc:
        kp.Client("http://testserver", TOKEN, transport=tc._transport).models()
        named = ClientSettings(user="data-scientist-7", home=tmp_path_factory.mktemp("h"))
        kp.Client("http://testserver", TOKEN, settings=named, transport=tc._transport).models()
    assert seen == [(getpass.getuser(), None), ("data-scientist-7", None)]


def test_delete_model_refuses_a_version_and_keeps_the_model(
    client: kp.Client, server_settings: ServerSettings
) -> None:
    from kepler.core.spec import FitSpec
    from kepler.ml.store import ModelStore
    from kepler.ml.training import train

    frame = pd.DataFrame({"x": [float(i) for i in range(30)], "y": [float(i) for i in range(30)]})
    store = ModelStore(server_settings.tracking_uri, server_settings.artifact_location)
    for _ in range(2):
        store.register(train(frame, FitSpec("LinearRegression", "y", ("x",))), "keepme")

    with pytest.raises(kp.InvalidSpec, match="never deleted one by one") as err:
        client.delete_model("keepme@2")
    assert "keepme" in err.value.message
    assert [v["version"] for v in client.summary("keepme")["versions"]] == [1, 2]

    client.delete_model("keepme")
    with pytest.raises(kp.ModelNotFound):
        client.summary("keepme")


def test_cancel_a_job_and_wait_raises_job_cancelled(
    client: kp.Client, server_settings: ServerSettings
) -> None:
    jobs = JobStore(Database(server_settings.database_url))
    job = jobs.create("fit", {"algorithm": "KMeans"}, model="m")
    jobs.start(job.id, "w")
    cancelled = client.cancel(job.id)
    assert cancelled["state"] == "cancelled" and cancelled["message"].startswith("cancelled by ")
    # Waiting on it ends at once, with the typed error (a JobFailed too).
    with pytest.raises(kp.JobCancelled, match="was cancelled by") as caught:
        client.wait(job.id, progress=False)
    assert isinstance(caught.value, kp.JobFailed)
    with pytest.raises(kp.Conflict, match="already succeeded"):
        done = jobs.create("fit", {})
        jobs.succeed(done.id, {})
        client.cancel(done.id)


def test_cli_job_cancel_through_the_bridge(tmp_path: Path) -> None:
    """`kepler job cancel <id>` against a real bridge process."""
    from kepler._stack import LocalStack

    with LocalStack(tmp_path / "home", workers=0, beat=False) as stack:
        jobs = JobStore(Database(f"sqlite:///{stack.home / 'kepler.db'}"))
        job = jobs.create("fit", {}, model="m")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
        env.update(KEPLER_URL=stack.url, KEPLER_TOKEN=stack.token)
        run = [sys.executable, "-m", "kepler", "job"]
        done = subprocess.run(
            [*run, "cancel", job.id], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        assert f"job {job.id}: cancelled (cancelled by " in done.stdout
        again = subprocess.run(
            [*run, "cancel", "nosuchjob"], env=env, capture_output=True, text=True, timeout=60
        )
        assert again.returncode == 1 and "no job 'nosuchjob'" in again.stderr
        listed = subprocess.run([*run, "list"], env=env, capture_output=True, text=True, timeout=60)
        assert job.id in listed.stdout and "cancelled" in listed.stdout
