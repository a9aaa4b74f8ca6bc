"""`kepler up`: the embedded stack in the foreground, found by the SDK with no settings."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import psutil
import pytest

from kepler._settings import ClientSettings
from kepler._stack import free_port, wait_until

pytestmark = pytest.mark.system


def test_kepler_up_generates_token_and_sdk_finds_it(tmp_path: Path) -> None:
    import kepler as kp

    home, port = tmp_path / "home", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(KEPLER_HOME=str(home), KEPLER_PORT=str(port), PYTHONUNBUFFERED="1")
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kepler", "up"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # No URL: the SDK looks where `kepler up` listens, from the same KEPLER_PORT.
        client = kp.Client(settings=ClientSettings(url="", port=port, home=home))
        wait_until(lambda: client.health()["status"] == "ok", 90, "kepler up")
        printed = log.read_text()
        assert client.url in printed
        # Every page it prints answers (with the token), none is a 404; the bridge's own
        # address answered /health above.
        token = (home / "token").read_text().strip()
        links = [u for u in re.findall(r"https?://\S+", printed) if u != client.url]
        assert f"{client.url}/openapi.json" in links and "/docs" not in printed, printed
        for link in links:
            answer = httpx.get(link, headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert answer.status_code == 200, (link, answer.status_code)
        assert str(home / "token") in printed
        token_file = home / "token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert token_file.read_text().strip() not in printed  # the token itself is not shown

        frame = pd.DataFrame({"x": range(40), "y": [2 * i for i in range(40)]})
        result = client.fit(frame, "LinearRegression", target="y", into="up_model", progress=False)
        assert result.version == 1
        workers = psutil.Process(proc.pid).children(recursive=True)
        assert workers, "kepler up runs a worker"
        commands = [" ".join(w.cmdline()) for w in workers]
        assert any(c.endswith("-m kepler beat") for c in commands), commands
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(60) == 0 or proc.returncode in (-2, 130)
    wait_until(
        lambda: not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers),
        30,
        "workers stopped",
    )


def test_cli_help_lists_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kepler", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("up", "bridge", "worker"):
        assert command in out
