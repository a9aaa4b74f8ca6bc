"""DeploySettings: every setting is documented in docs/deploy.md, with its default."""

from __future__ import annotations

import re
from pathlib import Path

from kepler.deploy import DeploySettings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


def _documented() -> set[str]:
    text = DOCS.read_text()
    section = text.split("### Deploy settings", 1)[1].split("\n### ", 1)[0]
    names: set[str] = set()
    for row in section.splitlines():
        if row.startswith("| `"):
            names |= set(re.findall(r"`([A-Z_]+)`", row.split("|")[1]))
    return names


def test_every_deploy_setting_is_documented() -> None:
    fields = {name.upper() for name in DeploySettings.model_fields}
    documented = _documented()
    assert fields - documented == set(), "add these to docs/deploy.md's settings table"
    assert documented - fields == set(), "docs/deploy.md names settings that do not exist"


def test_documented_defaults_match_the_code() -> None:
    text = DOCS.read_text()
    section = text.split("### Deploy settings", 1)[1].split("\n### ", 1)[0]
    defaults = DeploySettings()
    checked = 0
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        cells = [c.strip() for c in row.split("|")[1:3]]
        names = re.findall(r"`([A-Z_]+)`", cells[0])
        values = [v.strip("` ") for v in cells[1].split(",")]
        if len(values) != len(names) or values[0].startswith("—"):
            continue  # required settings, or a default described in words
        for name, value in zip(names, values, strict=True):
            actual = getattr(defaults, name.lower())
            described = value in ("none", "project default") or value.isupper()
            if isinstance(actual, int | str) and not described:
                assert str(actual) == value, f"{name}: docs say {value}, code has {actual}"
                checked += 1
    assert checked >= 10
