"""Read docker-compose.yml as Compose would, and map a service onto this machine.

No Docker engine runs here (so no ``docker compose config`` either): this does the parts
of Compose the tests need. Interpolation follows the Compose specification (``$$``,
``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``); ``env_file`` then ``environment``
make a service's environment, the latter winning. :class:`LocalMap` then rewrites the
in-network names (``redis:6379``, ``http://mlflow:5000``, ``postgres``, ``/data``) to
loopback ports and temporary folders, so each service's own command runs as a process.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "packaging" / "kepler.env.example"

_VAR = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


class InterpolationError(ValueError):
    pass


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines; ``#`` comments and blank lines skipped."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def variables(text: str) -> set[str]:
    """Names of the variables a compose text interpolates."""
    names = set()
    for m in _VAR.finditer(text):
        if m.group("plain"):
            names.add(m.group("plain"))
        elif m.group("braced"):
            names.add(re.split(r":?[-?+]", m.group("braced"), maxsplit=1)[0])
    return names


def interpolate(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        if m.group("plain"):
            return env.get(m.group("plain"), "")
        expr = m.group("braced")
        for op in (":-", ":?", "-", "?"):
            name, found, arg = expr.partition(op)
            if found:
                present = env.get(name)
                empty = present is None or (op.startswith(":") and present == "")
                if op.endswith("-"):
                    return arg if empty else str(present)
                if empty:
                    raise InterpolationError(f"{name}: {arg}")
                return str(present)
        return env.get(expr, "")

    return _VAR.sub(one, value)


def load(env: dict[str, str]) -> dict[str, Any]:
    """docker-compose.yml, anchors merged, every value interpolated from ``env``."""
    return interpolate(yaml.safe_load(COMPOSE.read_text()), env)  # type: ignore[no-any-return]


def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # type: ignore[no-any-return]


def service_env(service: dict[str, Any], env_files: dict[str, dict[str, str]]) -> dict[str, str]:
    """A service's container environment: its env_file(s), then ``environment``."""
    out: dict[str, str] = {}
    files = service.get("env_file") or []
    for entry in [files] if isinstance(files, str | dict) else files:
        path = entry["path"] if isinstance(entry, dict) else entry
        out.update(env_files[path])
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    out.update({k: str(v) for k, v in environment.items()})
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalMap:
    """In-network names -> this machine: loopback ports and folders under ``root``."""

    root: Path
    ports: dict[int, int]  # container port -> local port
    redis_port: int

    def value(self, text: str) -> str:
        text = text.replace("redis://redis:6379", f"redis://127.0.0.1:{self.redis_port}")
        # Postgres cannot run here: the same SQLAlchemy URLs point at SQLite files.
        text = re.sub(
            r"postgresql\+psycopg://[^@\s]+@postgres:5432/(\w+)",
            lambda m: f"sqlite:///{self.root}/{m.group(1)}.db",
            text,
        )
        text = text.replace("http://mlflow:5000", f"http://127.0.0.1:{self.ports[5000]}")
        text = text.replace("file:///data/", f"file://{self.root}/data/")
        if text == "/data" or text.startswith("/data/"):
            text = f"{self.root}{text}"
        text = text.replace("0.0.0.0", "127.0.0.1")
        for inside, outside in self.ports.items():
            text = re.sub(rf"(?<=[:=]){inside}\b", str(outside), text)
            if text == str(inside):
                text = str(outside)
        return text

    def argv(self, argv: list[str]) -> list[str]:
        return [self.value(a) for a in argv]

    def env(self, env: dict[str, str]) -> dict[str, str]:
        return {k: self.value(v) for k, v in env.items()}
