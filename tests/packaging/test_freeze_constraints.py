"""packaging/constraints.txt pins everything the image installs, at the tested versions."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _freeze():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "freeze_constraints", ROOT / "packaging" / "freeze_constraints.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_constraints_file_is_current() -> None:
    freeze = _freeze()
    committed = (ROOT / "packaging" / "constraints.txt").read_text()
    assert committed == freeze.render(freeze.closure()), (
        "packaging/constraints.txt is stale: run `make constraints` and commit it"
    )


def test_closure_covers_the_server_stack() -> None:
    pins = _freeze().closure()
    for name in ("celery", "redis", "mlflow", "uvicorn", "psycopg", "flower", "gcsfs", "torch"):
        assert name in pins, name
    assert "kepler-ml" not in pins
    assert "pytest" not in pins and "ruff" not in pins  # dev tools stay out of the image


def test_every_pin_is_exact() -> None:
    lines = [
        ln
        for ln in (ROOT / "packaging" / "constraints.txt").read_text().splitlines()
        if ln and not ln.startswith("#")
    ]
    assert lines
    for line in lines:
        name, _, version = line.partition("==")
        assert name and version and "+" not in version, line
