"""docker-compose.yml against the Compose specification and against the code it runs.

No Docker engine runs on our machines, so ``docker compose config`` cannot check the file:
it is validated here against the Compose specification's JSON schema, as shipped by
check-jsonschema (``check_jsonschema/builtin_schemas/vendor/compose-spec.json``, vendored
there from compose-spec/compose-spec ``schema/compose-spec.json``; the version used is the
installed check-jsonschema's, pinned by packaging/constraints.txt).
"""

from __future__ import annotations

import copy
import importlib.resources
import json
from typing import Any

import jsonschema
import pytest

from kepler.server.settings import ServerSettings
from tests.packaging.compose import (
    COMPOSE,
    ENV_EXAMPLE,
    InterpolationError,
    interpolate,
    load,
    raw,
    read_env_file,
    service_env,
    variables,
)

KEPLER_SERVICES = ("bridge", "worker")
# Every setting that must name a shared resource in a multi-container stack: left at its
# embedded default, each container would quietly use its own SQLite file or folder.
SHARED = ("broker_url", "database_url", "tracking_uri", "artifact_location", "dataset_store")


def _schema() -> dict[str, Any]:
    files = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(files.joinpath("compose-spec.json").read_text())  # type: ignore[no-any-return]


def _errors(document: dict[str, Any]) -> list[str]:
    schema = _schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def _team_env() -> dict[str, str]:
    env = read_env_file(ENV_EXAMPLE)
    env.update(KEPLER_TOKEN="x" * 32, POSTGRES_PASSWORD="p" * 24)
    return env


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load(_team_env())


def test_compose_file_matches_the_compose_specification() -> None:
    assert _errors(raw()) == []


def test_compose_file_after_interpolation_still_matches(compose: dict[str, Any]) -> None:
    assert _errors(compose) == []


def test_schema_check_catches_a_misspelt_key() -> None:
    broken = copy.deepcopy(raw())
    broken["services"]["worker"]["comand"] = ["worker"]
    broken["services"]["redis"]["healthcheck"]["interval"] = ["5s"]
    found = _errors(broken)
    assert any("comand" in e for e in found), found
    assert any("interval" in e for e in found), found


def test_stack_has_the_team_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"redis", "postgres", "mlflow", "bridge", "worker", "flower"} <= set(services)
    assert services["flower"]["profiles"] == ["monitoring"]  # optional
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name


def test_worker_can_be_scaled(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    # `--scale worker=N` fails on a fixed container name or a fixed host port.
    assert "container_name" not in worker
    assert "ports" not in worker


def test_third_party_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        tag = image.rpartition(":")[2]
        assert ":" in image and tag not in ("latest", ""), f"{name}: {image}"


def test_kepler_images_build_from_packaging(compose: dict[str, Any]) -> None:
    for name in ("mlflow", "bridge", "worker", "flower"):
        build = compose["services"][name]["build"]
        assert build["dockerfile"] == "packaging/Dockerfile"
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).is_file()
        assert build["args"]["WITH_TORCH"] in ("0", "1")


def test_datasets_and_artifacts_are_on_a_shared_volume(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("bridge", "worker", "mlflow"):
        assert "data:/data" in services[name]["volumes"], name
    assert "data" in compose["volumes"]


def test_only_the_bridge_is_published_beyond_loopback(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            if name != "bridge":
                assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"


def test_every_kepler_variable_is_a_setting_the_code_reads(compose: dict[str, Any]) -> None:
    fields = {f"KEPLER_{name.upper()}" for name in ServerSettings.model_fields}
    env_files = {".env": read_env_file(ENV_EXAMPLE)}
    seen: set[str] = set()
    for service in compose["services"].values():
        env = service_env(service, env_files)
        seen |= {k for k in env if k.startswith("KEPLER_")}
    seen |= {k for k in read_env_file(ENV_EXAMPLE) if k.startswith("KEPLER_")}
    assert seen, "the stack sets Kepler settings"
    assert seen <= fields, f"not read by ServerSettings: {sorted(seen - fields)}"


def test_bridge_and_workers_share_every_stateful_setting(compose: dict[str, Any]) -> None:
    env_files = {".env": _team_env()}
    envs = {n: service_env(compose["services"][n], env_files) for n in KEPLER_SERVICES}
    for setting in SHARED:
        key = f"KEPLER_{setting.upper()}"
        values = {n: env.get(key) for n, env in envs.items()}
        assert None not in values.values(), f"{key} unset in {values}"
        assert len(set(values.values())) == 1, f"{key} differs: {values}"
    assert envs["bridge"]["KEPLER_TOKEN"] == "x" * 32  # from .env


def test_every_interpolated_variable_is_in_the_env_example() -> None:
    documented = set(read_env_file(ENV_EXAMPLE))
    used = variables(COMPOSE.read_text())
    assert {"POSTGRES_PASSWORD", "WITH_TORCH"} <= used
    assert used <= documented, f"undocumented: {sorted(used - documented)}"


def test_compose_refuses_an_empty_database_password() -> None:
    # As shipped, the example leaves POSTGRES_PASSWORD empty: compose stops with this.
    with pytest.raises(InterpolationError, match=r"set POSTGRES_PASSWORD in \.env"):
        load(read_env_file(ENV_EXAMPLE))


def test_interpolation_follows_the_specification() -> None:
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("$${SET}", env) == "${SET}"
    assert interpolate("${SET}-$SET", env) == "v-v"
    assert interpolate("${EMPTY:-d}|${EMPTY-d}|${UNSET-d}", env) == "d||d"
    with pytest.raises(InterpolationError, match="UNSET: needed"):
        interpolate("${UNSET:?needed}", env)


def test_every_bind_mounted_file_is_in_the_repository(compose: dict[str, Any]) -> None:
    mounts = [
        v.split(":")
        for service in compose["services"].values()
        for v in service.get("volumes", [])
        if isinstance(v, str) and v.startswith("./")
    ]
    assert mounts, "postgres gets its init script"
    for source, _target, *mode in mounts:
        assert (COMPOSE.parent / source).is_file(), source
        assert mode == ["ro"], f"{source} is mounted writable"
    init = dict((t, s) for s, t, *_ in mounts)["/docker-entrypoint-initdb.d/10-mlflow.sql"]
    assert "CREATE DATABASE mlflow" in (COMPOSE.parent / init).read_text()
    # MLflow's backend names the database the script creates.
    assert "@postgres:5432/mlflow" in " ".join(compose["services"]["mlflow"]["command"])
