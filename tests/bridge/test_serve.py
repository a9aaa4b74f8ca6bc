"""The bridge as a process: TLS when given a certificate, and the generated token file."""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from kepler._home import ensure_token, read_token
from kepler.server.settings import ServerSettings
from kepler_bridge.serve import resolve_token

ROOT = Path(__file__).resolve().parents[2]


def test_generated_token_file_is_private_and_stable(tmp_path: Path) -> None:
    token = ensure_token(tmp_path)
    mode = stat.S_IMODE((tmp_path / "token").stat().st_mode)
    assert mode == 0o600
    assert ensure_token(tmp_path) == token == read_token(tmp_path)
    assert len(token) >= 32


def test_env_token_wins_over_file(tmp_path: Path) -> None:
    ensure_token(tmp_path)
    assert resolve_token(ServerSettings(home=tmp_path, token="from-env")) == "from-env"
    assert resolve_token(ServerSettings(home=tmp_path)) == read_token(tmp_path)


def test_tls_settings_need_both_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="both"):
        ServerSettings(home=tmp_path, tls_certfile=tmp_path / "c.pem")


@pytest.mark.system
def test_bridge_serves_tls_with_certificate(tmp_path: Path, tls_cert: tuple[Path, Path]) -> None:
    from kepler._stack import free_port, wait_until

    cert, key = tls_cert
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(
        KEPLER_HOME=str(tmp_path / "home"),
        KEPLER_PORT=str(port),
        KEPLER_TOKEN="tls-token",
        KEPLER_TLS_CERTFILE=str(cert),
        KEPLER_TLS_KEYFILE=str(key),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "kepler", "bridge"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"https://127.0.0.1:{port}"
        ctx = ssl.create_default_context(cafile=str(cert))
        wait_until(
            lambda: httpx.get(f"{url}/health", verify=ctx).status_code == 200, 60, "TLS bridge"
        )
        import kepler as kp

        client = kp.Client(url, "tls-token", verify=str(cert))
        assert client.health()["status"] == "ok"
        assert client.models().empty
        with pytest.raises(kp.BridgeUnavailable):
            kp.Client(url, "tls-token", verify=True).health()  # self-signed: refused
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
    finally:
        proc.terminate()
        proc.wait(20)
