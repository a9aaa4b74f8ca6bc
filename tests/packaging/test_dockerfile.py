"""packaging/Dockerfile and .dockerignore: small, non-root, pinned, nothing secret inside."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "packaging" / "Dockerfile"
SECRETISH = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|CREDENTIAL|_KEY\b|APIKEY", re.I)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for ins in instructions():
        if ins[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(ins)
    return found


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: patterns anchored at the context root, ``**`` any folders, ``!``
    re-includes, the last match wins; a path inside an excluded folder is excluded."""
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            patterns.append(line)

    def matches(pattern: str, candidate: str) -> bool:
        rx = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                rx, i = rx + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                rx, i = rx + ".*", i + 2
            elif pattern[i] == "*":
                rx, i = rx + "[^/]*", i + 1
            elif pattern[i] == "?":
                rx, i = rx + "[^/]", i + 1
            else:
                rx, i = rx + re.escape(pattern[i]), i + 1
        return re.fullmatch(rx, candidate) is not None

    parts = path.split("/")
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        excluded = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            if matches(pattern.lstrip("!"), prefix):
                excluded = not negate
        if excluded:
            return True
    return False


def test_image_is_multi_stage_and_runs_as_non_root() -> None:
    build, runtime = stages()[0], stages()[-1]
    assert len(stages()) >= 2
    assert any(args.startswith("${PYTHON_IMAGE} AS build") for op, args in build if op == "FROM")
    users = [args for op, args in runtime if op == "USER"]
    assert users, "the runtime stage sets USER"
    user, _, group = users[-1].partition(":")
    assert user not in ("0", "root") and group not in ("0", "root")
    # Numeric, so Kubernetes-style runAsNonRoot checks can verify it; created with that id.
    runs = " ".join(a for op, a in runtime if op == "RUN")
    assert f"--uid {user}" in runs and f"--gid {group}" in runs
    # The compilers and pip's caches of the build stage stay behind.
    copies = [args for op, args in runtime if op == "COPY"]
    assert copies == ["--from=build /opt/kepler /opt/kepler"]
    arg_line = next(a for op, a in instructions() if op == "ARG" and "PYTHON_IMAGE" in a)
    assert arg_line.endswith("-slim")


def test_entrypoint_is_the_kepler_console_script() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (entry,) = [a for op, a in stages()[-1] if op == "ENTRYPOINT"]
    assert shlex.split(entry.strip("[]").replace(",", " ")) == ["kepler"]
    assert pyproject["project"]["scripts"]["kepler"] == "kepler.cli:main"


def test_dependencies_are_pinned_and_torch_is_optional() -> None:
    runs = " ".join(a for op, a in stages()[0] if op == "RUN")
    assert "-c packaging/constraints.txt" in runs
    assert 'if [ "${WITH_TORCH}" = "1" ]; then extras="${extras},torch";' in " ".join(runs.split())
    args = {a.split("=")[0]: a.partition("=")[2] for op, a in stages()[0] if op == "ARG"}
    assert args["WITH_TORCH"] == "0"  # small by default
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    for extra in args["EXTRAS"].split(","):
        assert extra in extras, f"Dockerfile installs unknown extra {extra!r}"


def test_no_secret_is_baked_into_the_image() -> None:
    for op, args in instructions():
        if op in ("ENV", "ARG", "LABEL"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args) or [args.split("=")[0]]
            for name in names:
                assert not SECRETISH.search(name), f"{op} {name} would bake a secret in"
        if op in ("COPY", "ADD"):
            assert ".env" not in args and "token" not in args.lower(), args


def test_every_copied_path_is_in_the_build_context() -> None:
    for op, args in stages()[0]:
        if op == "COPY" and not args.startswith("--from"):
            *sources, _ = args.split()
            for source in sources:
                assert (ROOT / source).exists(), source
                assert not dockerignore_excludes(source), f".dockerignore drops {source}"


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        "kepler.env",
        "packaging/.env",
        ".env.production",
        ".kepler/token",
        "home/.kepler/kepler.db",
        ".kepler-demo/mlflow.db",
        "mlflow.db",
        "deep/er/jobs.db",
        "data/broker.sqlite3",
        "mlruns/0/meta.yaml",
        ".venv/bin/python",
        ".git/config",
        "kepler/cli/__pycache__/jobs.cpython-311.pyc",
    ],
)
def test_dockerignore_keeps_secrets_and_state_out(path: str) -> None:
    assert dockerignore_excludes(path), path


@pytest.mark.parametrize(
    "path", ["pyproject.toml", "README.md", "kepler/cli/__init__.py", "packaging/constraints.txt"]
)
def test_dockerignore_keeps_the_source(path: str) -> None:
    assert not dockerignore_excludes(path), path
