"""The app's dashboards, checked as data: Dashboard Studio version 2 views whose every
visualization reads a data source that exists, every token comes from an input, the layout
places every visualization, and the searches use the app's own commands and macros; the
navigation lists each view; the drift alert ships disabled."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from kepler.searchcommand.command import USAGE
from tests.dashboards.definitions import (
    DEFAULT,
    definition,
    definitions,
    tokens_defined,
    tokens_used,
    views,
)
from tests.splunk_app.test_package import read_conf

VIEWS = views()
DASHBOARDS = definitions()
SUBCOMMANDS = set(re.search(r"kepler (\S+) \.\.\.", USAGE).group(1).split("|"))  # type: ignore[union-attr]
EXPECTED = {"kepler_models", "kepler_jobs", "kepler_automl", "kepler_health", "kepler_scores"}


def conf(name: str) -> dict[str, dict[str, Any]]:
    return read_conf(DEFAULT / name)


def queries(d: dict) -> dict[str, str]:
    return {k: v["options"]["query"] for k, v in d["dataSources"].items()}


def test_every_view_is_a_dashboard_studio_definition() -> None:
    assert set(VIEWS) == EXPECTED
    for name, root in VIEWS.items():
        assert (root.tag, root.get("version")) == ("dashboard", "2"), name
        d = definition(root)
        assert d["title"] == root.findtext("label"), name
        assert {"dataSources", "visualizations", "inputs", "layout"} <= set(d), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_visualizations_read_data_sources_that_exist(name: str) -> None:
    d = DASHBOARDS[name]
    sources = d["dataSources"]
    used = set()
    for viz_id, viz in d["visualizations"].items():
        assert viz["type"].startswith("splunk."), viz_id
        for ds in viz.get("dataSources", {}).values():
            assert ds in sources, f"{name}: {viz_id} reads {ds}, which is not defined"
            used.add(ds)
    for inp in d["inputs"].values():
        used |= set(inp.get("dataSources", {}).values())
    for ds_id, ds in sources.items():
        assert ds["type"] in ("ds.search", "ds.chain"), ds_id
        if ds["type"] == "ds.chain":
            assert ds["options"]["extend"] in sources, ds_id
            used.add(ds["options"]["extend"])
    assert set(sources) == used, f"{name}: unused data sources {set(sources) - used}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_token_is_defined_by_an_input(name: str) -> None:
    d = DASHBOARDS[name]
    missing = tokens_used(d) - tokens_defined(d)
    assert not missing, f"{name} uses tokens no input defines: {missing}"
    assert {"model", "time"} <= tokens_defined(d)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_layout_places_every_visualization_and_input(name: str) -> None:
    d = DASHBOARDS[name]
    layout = d["layout"]
    placed = [block["item"] for block in layout["structure"]]
    assert sorted(placed) == sorted(d["visualizations"]), name
    assert set(layout["globalInputs"]) == set(d["inputs"])
    for block in layout["structure"]:
        pos = block["position"]
        assert pos["x"] + pos["w"] <= layout["options"]["width"], block


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_searches_use_the_apps_commands_and_macros(name: str) -> None:
    macros = set(conf("macros.conf")) - {"default"}
    for ds_id, query in queries(DASHBOARDS[name]).items():
        for sub in re.findall(r"\|\s*kepler\s+(\w+)", query):
            assert sub in SUBCOMMANDS, f"{ds_id}: | kepler {sub} is no subcommand"
        for macro in re.findall(r"`(\w+)`", query):
            assert macro in macros, f"{ds_id}: macro {macro} is not in macros.conf"
        assert "index=" not in query, f"{ds_id}: indexes come from the kepler_* macros"


def test_drilldowns_link_to_the_apps_dashboards() -> None:
    targets = []
    for name, d in DASHBOARDS.items():
        for viz in d["visualizations"].values():
            for handler in viz.get("eventHandlers", []):
                if handler["type"] == "drilldown.linkToDashboard":
                    assert handler["options"]["app"] == "kepler"
                    assert handler["options"]["dashboard"] in EXPECTED
                    targets.append((name, handler["options"]["dashboard"]))
                else:
                    assert handler["type"] == "drilldown.linkToUrl"
                    assert handler["options"]["url"] == "$row.run_url.value$"
    # Models, health and jobs are each reached from another dashboard.
    assert {t for _, t in targets} >= {"kepler_models", "kepler_health", "kepler_jobs"}
    assert {source for source, _ in targets} == EXPECTED


def test_jobs_dashboard_shows_progress_in_percent_as_sent() -> None:
    """`| kepler jobs` sends percent (0-100): a job at 1% must not show 100%."""
    query = queries(DASHBOARDS["kepler_jobs"])["ds_running"]
    found = re.search(r"progress_pct=(.*?)(?:,\s*\w+=|\s*\||$)", query)
    assert found and "progress" in found.group(1), query
    assert not re.search(r"\*\s*100|100\s*\*|/\s*100|<=?\s*1\b", found.group(1))


def test_navigation_lists_every_view() -> None:
    nav = ET.parse(DEFAULT / "data" / "ui" / "nav" / "default.xml").getroot()  # noqa: S314
    names = [v.get("name") for v in nav.iter("view")]
    assert EXPECTED | {"configuration", "search"} == set(names)
    assert next(v for v in nav.iter("view") if v.get("default")).get("name") == "kepler_models"


def test_drift_alert_ships_disabled_and_fires_per_model_on_kepler_drift() -> None:
    alert = conf("savedsearches.conf")["kepler_drift_alert"]
    assert alert["disabled"] == "1"
    assert "sourcetype=kepler:drift" in alert["search"]
    assert re.search(r"\bBY model\b", alert["search"])
    assert (alert["alert.digest_mode"], alert["alert.suppress.fields"]) == ("0", "model")
    assert (alert["counttype"], alert["relation"], alert["quantity"]) == (
        "number of events",
        "greater than",
        "0",
    )
    macros = set(conf("macros.conf")) - {"default"}
    assert set(re.findall(r"`(\w+)`", alert["search"])) <= macros
