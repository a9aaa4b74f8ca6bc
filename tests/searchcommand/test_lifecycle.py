"""`| kepler alias`, `| kepler unalias`, `| kepler compare` and `| kepler apply ... shadow=`
as splunkd runs them, under each of Splunk's Pythons (3.9, 3.13), against a real bridge and
worker and the loopback HEC double."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kepler._stack import LocalStack, wait_until
from tests.hec.receiver import HecReceiver, Token
from tests.splunk.harness import Splunkd, chunks
from tests.splunk.kepler_command import run_fit, sensor_events
from tests.splunk.pythons import SplunkPython

pytestmark = pytest.mark.system

HEC_TOKEN = str(uuid.uuid4())
FIELDS = ["_time", "temp", "vibration", "failure"]


@pytest.fixture(scope="module")
def receiver() -> Iterator[HecReceiver]:
    with HecReceiver(tokens={HEC_TOKEN: Token(ack=False, indexes={"kepler"})}) as rx:
        yield rx


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, receiver: HecReceiver) -> Iterator[LocalStack]:
    env = {
        "KEPLER_HEC_URL": receiver.url,
        "KEPLER_HEC_TOKEN": HEC_TOKEN,
        "KEPLER_HEC_INDEX": "kepler",
        "KEPLER_HEC_LINGER": "0.05",
    }
    with LocalStack(tmp_path_factory.mktemp("lifecycle-stack"), extra_env=env) as s:
        yield s


def command(script: Path, stack: LocalStack, python: SplunkPython, token: str) -> Splunkd:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(KEPLER_URL=stack.url, KEPLER_TOKEN=token)
    return Splunkd(
        script, command="kepler", python=python.executable, python_args=["-S"], env=env, timeout=120
    )


def generate(cmd: Splunkd, args: list[str]) -> list[dict]:
    info = cmd.getinfo(args)
    assert info.metadata.get("generating") is True, (info.metadata, info.messages)
    reply = cmd.execute(b"", finished=True)
    assert reply.finished is True and not [m for m in reply.messages if m[0] == "ERROR"]
    assert cmd.close() == 0, cmd.stderr
    return reply.records()


def error_at_getinfo(cmd: Splunkd, args: list[str]) -> str:
    info = cmd.getinfo(args)
    errors = [text for level, text in info.messages if level == "ERROR"]
    assert len(errors) == 1, (info.metadata, info.messages)
    assert cmd.close() == 1
    assert "Traceback" not in cmd.stderr
    return errors[0]


def fit(script: Path, stack: LocalStack, python: SplunkPython, model: str, depth: int) -> None:
    cmd = command(script, stack, python, stack.token)
    args = ["fit", "DecisionTreeClassifier", f"max_depth={depth}", "failure", "from"]
    args += ["temp", "vibration", "into", model]
    run_fit(cmd, args, chunks(sensor_events(600, seed=1), 300, FIELDS))
    assert cmd.close() == 0, cmd.stderr


def test_alias_unalias_compare_and_shadow(
    stack: LocalStack, script: Path, receiver: HecReceiver, splunk_python: SplunkPython
) -> None:
    model = f"lc_{splunk_python.tag}"
    fit(script, stack, splunk_python, model, depth=2)
    fit(script, stack, splunk_python, model, depth=5)

    def run(args: list[str], token: str | None = None) -> list[dict]:
        return generate(command(script, stack, splunk_python, token or stack.token), args)

    # The level is the token's, known to the bridge alone: refused when the alias would move.
    user = command(script, stack, splunk_python, stack.user_token)
    assert user.getinfo(["alias", f"{model}@2", "as", "production"]).metadata["generating"]
    reply = user.execute(b"", finished=True)
    refused = [text for level, text in reply.messages if level == "ERROR"]
    assert user.close() == 1 and "Traceback" not in user.stderr
    assert len(refused) == 1 and "moving a model alias" in refused[0]
    assert "'kepler_admin'" in refused[0]

    (moved,) = run(["alias", f"{model}@1", "as", "production"])
    assert (moved["from_version"], moved["to_version"]) == ("", "1")
    (moved,) = run(["alias", f"{model}@2", "as", "production"])
    assert (moved["from_version"], moved["to_version"]) == ("1", "2")
    assert "moved from version 1 to version 2" in moved["message"]
    run(["alias", f"{model}@1", "as", "staging"])
    (removed,) = run(["unalias", model, "staging"])
    assert removed["from_version"] == "1" and removed["to_version"] == ""

    summary = run(["summary", f"{model}:production"])
    assert summary[0]["version"] == "2"
    assert summary[0]["aliases"] == "production=2"
    moves = summary[0]["alias_moves"].split("\n")  # a multivalue field: newest first
    assert moves[0].startswith("staging 1->-") and moves[-1].startswith("production -->1")

    rows = {r["item"]: r for r in run(["compare", f"{model}@1", f"{model}@2"])}
    depth = rows["param.max_depth"]
    assert (depth[f"{model}@1"], depth[f"{model}@2"], depth["changed"]) == ("2", "5", "true")
    assert rows["algorithm"]["changed"] == "false"
    assert rows["drift.temp"]["changed"] == "false"  # same training data

    bad = error_at_getinfo(
        command(script, stack, splunk_python, stack.token), ["alias", f"{model}:production"]
    )
    assert "alias <model>@<version> as <alias>" in bad

    events = sensor_events(200, seed=4)
    plain = apply(script, stack, splunk_python, ["apply", f"{model}:production"], events)
    shadowed = apply(
        script, stack, splunk_python, ["apply", f"{model}:production", f"shadow={model}@1"], events
    )
    assert [r["predicted(failure)"] for r in shadowed] == [r["predicted(failure)"] for r in plain]

    def shadow_events() -> list[dict]:
        with receiver.lock:
            return [
                e["event"]
                for e in receiver.events
                if e.get("sourcetype") == "kepler:shadow" and e["event"]["champion"] == f"{model}@2"
            ]

    wait_until(lambda: shadow_events(), 30, "a kepler:shadow event")
    got = shadow_events()
    assert {e["challenger"] for e in got} == {f"{model}@1"}
    assert sum(e["rows"] for e in got) == 200
    assert all(0.0 <= e["agreement"] <= 1.0 for e in got)


def apply(
    script: Path, stack: LocalStack, python: SplunkPython, args: list[str], events: list[dict]
) -> list[dict]:
    cmd = command(script, stack, python, stack.token)
    info = cmd.getinfo(args)
    assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
    wanted = info.metadata["required_fields"]
    assert set(wanted) == {"temp", "vibration"}
    _, rows = cmd.send(events, finished=True, fields=["_time", "temp", "vibration"])
    assert cmd.close() == 0, cmd.stderr
    return rows
