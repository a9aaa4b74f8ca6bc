"""`kepler validate`: exit 0 (all good), 1 (something broken), 2 (not configured), with
what to fix, against a real stack, the splunkd double and the HEC receiver double."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kepler._stack import LocalStack, free_port
from tests.cli.conftest import Run, clean_env
from tests.hec.receiver import HecReceiver
from tests.splunk.splunkd_rest import SplunkdRest

HEC_TOKEN = "11111111-2222-3333-4444-555555555555"
SPLUNK_TOKEN = "splunk-test-token"


@pytest.fixture
def receiver() -> Iterator[HecReceiver]:
    with HecReceiver(token=HEC_TOKEN) as rx:
        yield rx


@pytest.fixture
def splunkd() -> Iterator[SplunkdRest]:
    with SplunkdRest(users={"admin": "changed-pass"}, tokens=[SPLUNK_TOKEN]) as rest:
        yield rest


@pytest.fixture
def validate(run_in: Callable[..., Run], tmp_path: Path) -> Callable[..., Any]:
    """``validate(part, env={...}, *options)``: (exit status, the --json answer, stderr)."""

    def run(part: str, env: dict[str, str], *options: str) -> tuple[int, dict[str, Any]]:
        out = run_in(clean_env(tmp_path / "home", **env))(
            "validate", part, "--json", "--timeout", "5", *options
        )
        assert out.stdout, out.stderr
        answer = json.loads(out.stdout)
        assert answer["exit_code"] == out.returncode
        return out.returncode, answer

    return run


def _check(answer: dict[str, Any], part: str) -> dict[str, str]:
    return next(c for c in answer["checks"] if c["part"] == part)


def test_validate_nothing_configured_exits_2(validate: Callable[..., Any]) -> None:
    code, answer = validate("all", {})
    assert code == 2 and answer["status"] == "not_configured"
    assert [c["part"] for c in answer["checks"]] == ["bridge", "splunk", "hec", "registry"]
    assert {c["status"] for c in answer["checks"]} == {"not_configured"}
    assert "KEPLER_HEC_URL" in _check(answer, "hec")["fix"]
    assert "KEPLER_SPLUNK_URL" in _check(answer, "splunk")["fix"]
    assert "KEPLER_URL" in _check(answer, "bridge")["fix"]
    assert "KEPLER_TRACKING_URI" in _check(answer, "registry")["fix"]


def test_validate_unreachable_hec_exits_1(validate: Callable[..., Any]) -> None:
    env = {"KEPLER_HEC_URL": f"http://127.0.0.1:{free_port()}", "KEPLER_HEC_TOKEN": HEC_TOKEN}
    code, answer = validate("hec", env)
    assert code == 1 and answer["status"] == "broken"
    check = _check(answer, "hec")
    assert "cannot reach HEC" in check["detail"] and "KEPLER_HEC_URL" in check["fix"]


def test_validate_broken_wins_over_not_configured(validate: Callable[..., Any]) -> None:
    env = {"KEPLER_HEC_URL": f"http://127.0.0.1:{free_port()}", "KEPLER_HEC_TOKEN": HEC_TOKEN}
    code, answer = validate("all", env)
    assert code == 1 and _check(answer, "splunk")["status"] == "not_configured"


def test_validate_hec_checks_token_and_writes_only_when_asked(
    validate: Callable[..., Any], receiver: HecReceiver
) -> None:
    env = {"KEPLER_HEC_URL": receiver.url, "KEPLER_HEC_TOKEN": HEC_TOKEN}
    code, answer = validate("hec", env)
    assert code == 0 and "token accepted" in _check(answer, "hec")["detail"]
    assert receiver.events == []
    code, answer = validate("hec", env, "--test-write")
    assert code == 0, answer
    assert [e.get("sourcetype") for e in receiver.events] == ["kepler:validate"]

    code, answer = validate("hec", {**env, "KEPLER_HEC_TOKEN": "not-the-token"})
    assert code == 1 and "KEPLER_HEC_TOKEN" in _check(answer, "hec")["fix"]
    assert "Invalid token" in _check(answer, "hec")["detail"]


def test_validate_splunk_with_the_splunkd_double(
    validate: Callable[..., Any], splunkd: SplunkdRest
) -> None:
    code, answer = validate(
        "splunk", {"KEPLER_SPLUNK_URL": splunkd.url, "KEPLER_SPLUNK_TOKEN": SPLUNK_TOKEN}
    )
    assert code == 0, answer
    assert "splunkd-double" in _check(answer, "splunk")["detail"]
    assert splunkd.version in _check(answer, "splunk")["detail"]
    logins = {"KEPLER_SPLUNK_URL": splunkd.url, "KEPLER_SPLUNK_USERNAME": "admin"}
    code, answer = validate("splunk", {**logins, "KEPLER_SPLUNK_PASSWORD": "changed-pass"})
    assert code == 0, answer
    code, answer = validate("splunk", {**logins, "KEPLER_SPLUNK_PASSWORD": "wrong"})
    assert code == 1 and "KEPLER_SPLUNK_PASSWORD" in _check(answer, "splunk")["detail"]
    code, answer = validate("splunk", {"KEPLER_SPLUNK_URL": splunkd.url})
    assert code == 1 and "KEPLER_SPLUNK_TOKEN" in _check(answer, "splunk")["fix"]


def test_validate_bridge_and_registry_of_a_stack(
    validate: Callable[..., Any], cli_stack: LocalStack
) -> None:
    env = {
        "KEPLER_URL": cli_stack.url,
        "KEPLER_TOKEN": cli_stack.token,
        "KEPLER_HOME": str(cli_stack.home),
    }
    code, answer = validate("bridge", env)
    assert code == 0, answer
    assert "token accepted" in _check(answer, "bridge")["detail"]
    code, answer = validate("registry", env)
    assert code == 0, answer
    assert "MLflow database" in _check(answer, "registry")["detail"]

    code, answer = validate("bridge", {**env, "KEPLER_TOKEN": "wrong-token"})
    assert code == 1 and "refused the token" in _check(answer, "bridge")["detail"]
    assert "KEPLER_TOKEN" in _check(answer, "bridge")["fix"]
    code, answer = validate("bridge", {**env, "KEPLER_URL": f"http://127.0.0.1:{free_port()}"})
    assert code == 1 and "KEPLER_URL" in _check(answer, "bridge")["fix"]


def test_validate_all_good_exits_0(
    validate: Callable[..., Any],
    cli_stack: LocalStack,
    splunkd: SplunkdRest,
    receiver: HecReceiver,
    run_in: Callable[..., Run],
    tmp_path: Path,
) -> None:
    env = {
        "KEPLER_URL": cli_stack.url,
        "KEPLER_TOKEN": cli_stack.token,
        "KEPLER_HOME": str(cli_stack.home),
        "KEPLER_SPLUNK_URL": splunkd.url,
        "KEPLER_SPLUNK_TOKEN": SPLUNK_TOKEN,
        "KEPLER_HEC_URL": receiver.url,
        "KEPLER_HEC_TOKEN": HEC_TOKEN,
    }
    code, answer = validate("all", env)
    assert code == 0 and answer["status"] == "ok", answer
    text = run_in(clean_env(tmp_path / "home", **env))("validate")
    assert text.returncode == 0
    assert [line.split()[:2] for line in text.stdout.splitlines()[1:]] == [
        [part, "ok"] for part in ("bridge", "splunk", "hec", "registry")
    ]


def test_validate_registry_names_what_is_wrong(
    validate: Callable[..., Any], tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "mlflow.db"
    code, answer = validate("registry", {"KEPLER_TRACKING_URI": f"sqlite:///{missing}"})
    assert code == 1 and "no such database file" in _check(answer, "registry")["detail"]
    assert "KEPLER_TRACKING_URI" in _check(answer, "registry")["fix"]

    not_mlflow = tmp_path / "other.db"
    not_mlflow.write_bytes(b"")
    code, answer = validate("registry", {"KEPLER_TRACKING_URI": f"sqlite:///{not_mlflow}"})
    assert code == 1 and "not an MLflow database" in _check(answer, "registry")["detail"]

    down = f"http://127.0.0.1:{free_port()}"
    code, answer = validate("registry", {"KEPLER_TRACKING_URI": down})
    assert code == 1 and f"cannot reach MLflow at {down}" in _check(answer, "registry")["detail"]
