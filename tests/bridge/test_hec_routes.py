"""The bridge and HEC: status without secrets, apply index= refused without HEC, and a
disk queue left by an earlier run drained as soon as the bridge starts."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from kepler._stack import wait_until
from kepler.hec import HecSender, HecSettings
from kepler.server.settings import ServerSettings
from kepler_bridge.app import create_app
from tests.hec.receiver import HecReceiver

TOKEN = "bridge-test-token"
HEC_TOKEN = "cdcdcdcd-1111-2222-3333-444444444444"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_status_without_hec_and_apply_index_refused(tmp_path: Path) -> None:
    settings = ServerSettings(home=tmp_path / "home", hec=HecSettings(url=""))
    with TestClient(create_app(settings, TOKEN), raise_server_exceptions=False) as http:
        status = http.get("/v1/hec", headers=AUTH).json()
        assert status["configured"] is False and status["telemetry"] is False
        r = http.post(
            "/v1/models/pump/apply",
            params={"index": "scores"},
            content=b"x\r\n1\r\n",
            headers={**AUTH, "Content-Type": "text/csv"},
        )
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "hec_not_configured"
        assert "KEPLER_HEC_URL" in r.json()["error"]["message"]
        page = {"X-Kepler-Hec-Url": "https://splunk:8088", "X-Kepler-Hec-Token": "secret-x"}
        status = http.get("/v1/hec", headers={**AUTH, **page}).json()
        # A target no admin allowed: not configured, and the answer says which setting.
        assert status["configured"] is False and "KEPLER_HEC_ALLOWED_URLS" in status["refused"]
        r = http.post(
            "/v1/models/pump/apply",
            params={"index": "scores"},
            content=b"x\r\n1\r\n",
            headers={**AUTH, **page, "Content-Type": "text/csv"},
        )
        assert r.status_code == 403 and "KEPLER_HEC_ALLOWED_URLS" in r.json()["error"]["message"]
        assert "secret-x" not in r.text and "secret-x" not in str(status)
    allowed = HecSettings(url="", allowed_urls="https://splunk:8088")
    settings = ServerSettings(home=tmp_path / "home", hec=allowed)
    with TestClient(create_app(settings, TOKEN), raise_server_exceptions=False) as http:
        status = http.get("/v1/hec", headers={**AUTH, **page}).json()
        assert status["configured"] is True and status["settings"] == "request"
        assert "secret-x" not in str(status)


def test_bridge_start_drains_what_an_earlier_run_left_on_disk(tmp_path: Path) -> None:
    queue = tmp_path / "home" / "hec-queue"
    rx = HecReceiver(token=HEC_TOKEN).start()
    port = rx.port
    rx.stop()
    earlier = HecSender(url=rx.url, token=HEC_TOKEN, queue_dir=queue, max_retries=0)
    earlier.send_many({"id": i} for i in range(20))
    assert earlier.close().spooled == 20

    rx.port = port  # the same HEC (URL and token) comes back
    with rx:
        hec = HecSettings(url=rx.url, token=HEC_TOKEN, queue_dir=queue, linger=0.01)
        settings = ServerSettings(home=tmp_path / "home", hec=hec)
        create_app(settings, TOKEN)  # no request, no job: the start alone drains the queue
        wait_until(lambda: len(rx.events) >= 20, 30, "the queue to drain")
        assert sorted(e["event"]["id"] for e in rx.events) == list(range(20))
        wait_until(lambda: not list(queue.rglob("*.hec")), 30, "the queue files to go")


def test_bridge_shutdown_writes_events_held_in_memory_to_the_disk_queue(tmp_path: Path) -> None:
    queue = tmp_path / "home" / "hec-queue"
    down = HecReceiver(token=HEC_TOKEN).start()
    port = down.port
    down.stop()
    # A long linger: the events wait in memory, in the open batch, until shutdown.
    hec = HecSettings(url=down.url, token=HEC_TOKEN, queue_dir=queue, linger=3600, max_retries=0)
    settings = ServerSettings(home=tmp_path / "home", hec=hec)
    with TestClient(create_app(settings, TOKEN)) as http:
        state = http.app.state.kepler  # type: ignore[attr-defined]
        senders = state.senders
        for i in range(5):
            state.telemetry.event("kepler:test", {"id": i})
        assert not list(queue.rglob("*.hec"))
    # Shutdown (what uvicorn runs on SIGTERM) closed the senders: the events are on disk.
    assert sum(int(p.stem.split("-")[1]) for p in queue.rglob("*.hec")) >= 5
    assert senders.open_count() == 0

    down.port = port
    with down:
        again = HecSender(hec.model_copy(update={"linger": 0.01}))
        again.flush(timeout=30)
        again.close()
    got = [e["event"].get("id") for e in down.events if e.get("sourcetype") == "kepler:test"]
    assert sorted(got) == list(range(5))
