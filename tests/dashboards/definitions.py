"""The app's Dashboard Studio views as the tests read them: each view's definition (the
JSON inside `<definition>`), the tokens its searches and drilldowns use, the inputs' own."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "splunk_app" / "package" / "default"
VIEWS = DEFAULT / "data" / "ui" / "views"
TOKEN = re.compile(r"\$([A-Za-z_][\w.:]*)\$")
# What a drilldown or Splunk itself supplies: the clicked row or point, the environment.
SUPPLIED = ("row.", "click.", "env:", "result.")


def views() -> dict[str, ET.Element]:
    return {p.stem: ET.parse(p).getroot() for p in sorted(VIEWS.glob("*.xml"))}  # noqa: S314 - our own files


def definition(root: ET.Element) -> dict[str, Any]:
    text = root.findtext("definition")
    assert text, "a version 2 view holds its JSON in <definition><![CDATA[...]]></definition>"
    return json.loads(text)


def definitions() -> dict[str, dict[str, Any]]:
    return {name: definition(root) for name, root in views().items()}


def tokens_used(node: Any) -> set[str]:
    """Every $token$ in a definition's strings, `time.earliest` as `time`."""
    found: set[str] = set()
    if isinstance(node, str):
        for name in TOKEN.findall(node):
            if not name.startswith(SUPPLIED):
                found.add(name.split(".")[0])
    elif isinstance(node, dict):
        for value in node.values():
            found |= tokens_used(value)
    elif isinstance(node, list):
        for value in node:
            found |= tokens_used(value)
    return found


def tokens_defined(d: dict[str, Any]) -> set[str]:
    defined = {i["options"]["token"] for i in d.get("inputs", {}).values()}
    defaults = d.get("defaults", {}).get("tokens", {}).get("default", {})
    return defined | set(defaults)
