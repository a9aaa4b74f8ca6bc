"""The app's sources agree with the code they describe: the search assistant's syntax with
the options the command parses, the dashboards with the fields the command sends, the
setup page's default with what `kepler up` serves. Fast: reads the files, builds nothing."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest

from kepler.core import automl, score
from kepler.core.spec import (
    APPLY_ALGORITHM_OPTIONS,
    APPLY_FORECAST_OPTIONS,
    APPLY_OPTIONS,
    FIT_OPTIONS,
)
from kepler.searchcommand.command import COMMAND_OPTIONS
from tests.splunk_app.test_package import read_conf

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "splunk_app" / "package"

# Every key=value option each verb's parser accepts: the spec line's own options, then the
# command's (taken out before the line is parsed).
PARSED_OPTIONS: dict[str, tuple[str, ...]] = {
    "fit": (*FIT_OPTIONS, *COMMAND_OPTIONS["fit"]),
    "automl": (*automl.OPTIONS, *COMMAND_OPTIONS["automl"]),
    "apply": (
        *APPLY_OPTIONS,
        *APPLY_ALGORITHM_OPTIONS,
        *APPLY_FORECAST_OPTIONS,
        *COMMAND_OPTIONS["apply"],
    ),
    "jobs": tuple(COMMAND_OPTIONS["jobs"]),
    "score": tuple(dict.fromkeys(p.name for m in score.METRICS.values() for p in m.options)),
    "drift": tuple(COMMAND_OPTIONS["drift"]),
}


def syntax(verb: str) -> str:
    return read_conf(PACKAGE / "default" / "searchbnf.conf")[f"kepler-{verb}"]["syntax"]


@pytest.mark.parametrize("verb", sorted(PARSED_OPTIONS))
def test_searchbnf_syntax_names_every_option_the_parser_accepts(verb: str) -> None:
    text = syntax(verb)
    missing = [key for key in PARSED_OPTIONS[verb] if f"({key}=" not in text]
    assert missing == [], f"[kepler-{verb}] syntax lacks {missing}"


@pytest.mark.parametrize(
    ("verb", "option", "choices"),
    [
        *[
            (verb, p.name, p.choices)
            for verb, params in COMMAND_OPTIONS.items()
            for p in params.values()
            # fit's output=model is the default: the syntax shows only output=events.
            if p.choices and p.name != "output"
        ],
        ("automl", "task", automl.TASKS),
        ("automl", "metric", tuple(automl.METRICS)),
        ("automl", "use_case", tuple(automl.PRESETS)),
        ("score", "average", ("binary", "micro", "macro", "weighted", "None")),
        ("score", "multioutput", ("raw_values", "uniform_average")),
    ],
)
def test_searchbnf_syntax_lists_every_choice(verb: str, option: str, choices: tuple) -> None:
    found = re.search(rf"\({option}=\(([^)]*)\)\)", syntax(verb))
    assert found, f"[kepler-{verb}] syntax has no ({option}=(a|b|...))"
    assert set(found.group(1).split("|")) == set(choices)


def test_jobs_command_sends_progress_in_percent() -> None:
    from kepler.searchcommand.listing import job_rows

    class Bridge:
        def json(self, method: str, path: str, **kw: object) -> list[dict]:
            assert (method, path) == ("GET", "/v1/jobs")
            return [
                {"id": f"j{i}", "kind": "fit", "state": "running", "created_at": 0, "progress": p}
                for i, p in enumerate((0.0, 0.01, 0.5, 1.0, None))
            ]

    rows = job_rows(Bridge(), {})  # type: ignore[arg-type]
    assert [r["progress"] for r in rows] == [0, 1, 50, 100, 0]


def test_setup_page_default_url_is_what_kepler_up_serves() -> None:
    """An admin who runs `kepler up` beside Splunk and keeps the setup page's default
    reaches the bridge, and the page's own check accepts that default."""
    from kepler._home import stack_url
    from kepler.server.settings import ServerSettings

    config = json.loads((ROOT / "splunk_app" / "globalConfig.json").read_text())
    tab = next(t for t in config["pages"]["configuration"]["tabs"] if t["name"] == "bridge")
    field = next(e for e in tab["entity"] if e["field"] == "url")
    served = ServerSettings.model_construct(host="127.0.0.1", port=8765, tls_certfile=None)
    assert field["defaultValue"] == stack_url(served.host, served.port, tls=served.tls)
    pattern = next(v["pattern"] for v in field["validators"] if v["type"] == "regex")
    assert re.match(pattern, field["defaultValue"])
    # ... and still refuses plain HTTP to anything but loopback.
    assert not re.match(pattern, "http://kepler.example.com:8765")
    assert re.match(pattern, "https://kepler.example.com:8765")


ICONS = {"appIcon.png": 36, "appIcon_2x.png": 72, "appIconAlt.png": 36, "appIconAlt_2x.png": 72}


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize(("name", "side"), sorted(ICONS.items()))
def test_app_icons_have_splunks_sizes(name: str, side: int) -> None:
    assert png_size((PACKAGE / "static" / name).read_bytes()) == (side, side)
