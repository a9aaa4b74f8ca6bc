"""Kepler's roles inside Splunk, end to end: the real command (bare Python, `-S`) reads its
setup through the app's `kepler/credentials` handler in a splunkd double with users of
each role, against a real bridge and worker with an admin and a user-level token."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kepler._stack import LocalStack
from tests.splunk.app_setup import app_splunkd
from tests.splunk.harness import Splunkd, encode_records
from tests.splunk.kepler_command import write_shim
from tests.splunk.splunkd_rest import SplunkdRest

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("roles-stack")) as s:
        yield s


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shim(tmp_path_factory.mktemp("bin"))


@pytest.fixture(scope="module")
def rest(stack: LocalStack) -> Iterator[SplunkdRest]:
    with app_splunkd(stack.url, stack.token, stack.user_token) as r:
        yield r


def command(script: Path) -> Splunkd:
    """The command as splunkd starts it: no KEPLER_* in its environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    return Splunkd(script, command="kepler", python_args=["-S"], env=env, timeout=120)


def as_user(rest: SplunkdRest, user: str) -> dict[str, str]:
    return {"splunkd_uri": rest.url, "session_key": f"{user}-key", "username": user}


def rows(n: int = 40) -> list[dict[str, str]]:
    return [{"x": str(i), "y": str(3 * i + 1)} for i in range(n)]


def fit_as(script: Path, rest: SplunkdRest, user: str, into: str) -> None:
    args = ["fit", "LinearRegression", "y", "from", "x", "into", into]
    cmd = command(script)
    info = cmd.getinfo(args, **as_user(rest, user))
    assert info.metadata.get("type") == "stateful", info.messages
    answers = cmd.execute_all(encode_records(rows(), ["x", "y"]), finished=True)
    assert cmd.close() == 0, [a.messages for a in answers]


def test_a_kepler_user_fits_and_applies_and_is_named_everywhere(
    stack: LocalStack,
    script: Path,
    rest: SplunkdRest,
) -> None:
    fit_as(script, rest, "alice", "roles_pump")
    # The handler read the secrets with the system session; alice's own session (which
    # holds no list_storage_passwords) asked only for kepler/credentials and her roles.
    alice = {path for user, path in rest.calls if user == "alice"}
    assert alice == {
        "/servicesNS/nobody/kepler/kepler/credentials",
        "/servicesNS/nobody/kepler/authentication/current-context",
    }
    assert ("splunk-system-user", "/servicesNS/nobody/kepler/storage/passwords") in rest.calls
    client = stack.client()
    (job,) = [j for j in client._json("GET", "/v1/jobs") if j["model"] == "roles_pump"]
    assert job["user"] == "alice"
    described = client.summary("roles_pump")
    assert described["user"] == "alice"
    assert described["versions"][0]["user"] == "alice"
    run = client_run_tags(stack, described["run_id"])
    assert run["kepler.user"] == "alice"

    cmd = command(script)
    cmd.getinfo(["apply", "roles_pump"], **as_user(rest, "alice"))
    reply, out = cmd.send([{"x": "10"}], finished=True)
    assert cmd.close() == 0, reply.messages
    assert float(out[0]["predicted(y)"]) == pytest.approx(31.0)

    for verb, field in (["models"], "created_by"), (["jobs"], "user"):
        cmd = command(script)
        cmd.getinfo(verb, **as_user(rest, "alice"))
        reply, listed = cmd.send([], finished=True)
        assert cmd.close() == 0, reply.messages
        mine = [r for r in listed if r.get("model") == "roles_pump"]
        assert mine and {r[field] for r in mine} == {"alice"}, listed


def client_run_tags(stack: LocalStack, run_id: str) -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{stack.home / 'mlflow.db'}"
    return dict(MlflowClient(tracking_uri=uri).get_run(run_id).data.tags)


def test_a_kepler_user_is_refused_deletemodel_and_the_model_stays(
    stack: LocalStack,
    script: Path,
    rest: SplunkdRest,
) -> None:
    fit_as(script, rest, "alice", "roles_keep")
    cmd = command(script)
    cmd.getinfo(["deletemodel", "roles_keep"], **as_user(rest, "alice"))
    reply = cmd.execute(b"", finished=True)
    ((level, message),) = reply.messages
    assert level == "ERROR"
    assert "kepler_admin" in message and "Traceback" not in message
    assert cmd.close() == 1
    assert stack.client().summary("roles_keep")["name"] == "roles_keep"
    # The refusal rests on the token, not on what the request claims.
    import httpx

    forged = httpx.delete(
        f"{stack.url}/v1/models/roles_keep",
        headers={
            "Authorization": f"Bearer {stack.user_token}",
            "X-Kepler-User": "admin",
            "X-Kepler-Roles": "admin,kepler_admin",
        },
    )
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "forbidden"


def test_a_kepler_admin_deletes_and_the_deletion_names_who(
    stack: LocalStack,
    script: Path,
    rest: SplunkdRest,
) -> None:
    fit_as(script, rest, "alice", "roles_gone")
    cmd = command(script)
    cmd.getinfo(["deletemodel", "roles_gone"], **as_user(rest, "bob"))
    reply, out = cmd.send([], finished=True)
    assert cmd.close() == 0, reply.messages
    assert out[0]["deleted"] in ("1", "True", "true")
    (record,) = stack.client()._json("GET", "/v1/audit/deletions", params={"name": "roles_gone"})
    assert record["user"] == "bob" and record["kind"] == "model"
    assert "kepler_admin" in record["roles"]
    assert record["detail"]["versions"] == [1]


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("carol", "kepler_user"),  # no Kepler role: told which role to ask for
        ("expired", "log in again"),  # a session splunkd no longer knows
    ],
)
def test_a_user_without_the_role_is_told_which_role_to_ask_for(
    script: Path,
    rest: SplunkdRest,
    user: str,
    expected: str,
) -> None:
    cmd = command(script)
    info = cmd.getinfo(["models"], **as_user(rest, user))
    ((level, message),) = info.messages
    assert level == "ERROR" and expected in message, message
    assert "not set up" not in message
    assert cmd.close() == 1


def test_setup_missing_and_user_token_missing_say_so(
    stack: LocalStack,
    script: Path,
) -> None:
    with app_splunkd(None, None, None) as never:
        cmd = command(script)
        info = cmd.getinfo(["models"], **as_user(never, "alice"))
        ((_, message),) = info.messages
        assert "not set up" in message and "Configuration" in message
        assert cmd.close() == 1
    with app_splunkd(stack.url, stack.token, None) as admin_only:
        cmd = command(script)
        info = cmd.getinfo(["models"], **as_user(admin_only, "alice"))
        ((_, message),) = info.messages
        assert "user-level token" in message and "kepler_admin" in message
        assert cmd.close() == 1
        cmd = command(script)  # an admin still runs
        cmd.getinfo(["models"], **as_user(admin_only, "bob"))
        reply, _ = cmd.send([], finished=True)
        assert cmd.close() == 0, reply.messages
