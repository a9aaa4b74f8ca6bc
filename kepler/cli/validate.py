"""``kepler validate``: the pre-flight check. Reach each configured part (bridge, splunkd,
HEC, the MLflow registry), say what works and, for what does not, which setting to fix.

Exit status: 0 every part asked for answers, 1 something is broken, 2 a part asked for is
not configured (and nothing is broken), so an operator's CI can gate on it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from kepler.cli._app import app
from kepler.cli._output import JsonOut, emit_json, table

PANEL = "Check"  # where `kepler --help` lists these commands

OK, BROKEN, NOT_CONFIGURED = "ok", "broken", "not_configured"
EXIT = {OK: 0, BROKEN: 1, NOT_CONFIGURED: 2}
COLOURS = {OK: "green", BROKEN: "red", NOT_CONFIGURED: "yellow"}


class Part(StrEnum):
    bridge = "bridge"
    splunk = "splunk"
    hec = "hec"
    registry = "registry"
    all = "all"


@dataclass(frozen=True)
class Check:
    """What ``kepler validate`` found for one part; ``fix`` names the setting to change."""

    part: str
    status: str
    detail: str
    fix: str = ""


@app.command("validate", rich_help_panel=PANEL)
def validate(
    part: Annotated[Part, typer.Argument(help="the part to check")] = Part.all,
    test_write: Annotated[
        bool, typer.Option("--test-write", help="HEC: also send one test event")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.5, max=120, help="seconds per network call")
    ] = 10.0,
    json_out: JsonOut = False,
) -> None:
    """Check that each configured part answers; exit 0 all good, 1 broken, 2 not configured."""
    parts = [p for p in Part if p is not Part.all] if part is Part.all else [part]
    checks = [_run(CHECKS[p.value], p.value, timeout, test_write) for p in parts]
    statuses = {c.status for c in checks}
    status = BROKEN if BROKEN in statuses else NOT_CONFIGURED if NOT_CONFIGURED in statuses else OK
    if json_out:
        emit_json(
            {"status": status, "exit_code": EXIT[status], "checks": [asdict(c) for c in checks]}
        )
    else:
        rows = [{**asdict(c), "status": c.status.replace("_", " ")} for c in checks]
        painted = {"status": {s.replace("_", " "): colour for s, colour in COLOURS.items()}}
        table(rows, ["part", "status", "detail", "fix"], empty="nothing to check", colours=painted)
    raise typer.Exit(EXIT[status])


def _run(check: Callable[[float, bool], Check], part: str, timeout: float, write: bool) -> Check:
    from pydantic import ValidationError

    from kepler.core.errors import KeplerError

    try:
        return check(timeout, write)
    except ValidationError as exc:  # a setting with a bad value
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        return Check(part, BROKEN, f"a setting is invalid: {problems}", "correct that setting")
    except KeplerError as exc:
        return Check(part, BROKEN, exc.message, _fix_of(exc))


def _fix_of(exc: Exception) -> str:
    from kepler.core.errors import MissingDependency

    if isinstance(exc, MissingDependency):
        return "install the extra the message names"
    return "see the message"


# -- bridge ---------------------------------------------------------------------------


def check_bridge(timeout: float, _write: bool) -> Check:
    import os

    from kepler._client import Client
    from kepler._home import read_token
    from kepler._settings import ClientSettings
    from kepler.core.errors import Forbidden, KeplerError, Unauthorized

    s = ClientSettings()
    token = s.token.get_secret_value() if s.token else read_token(s.home)
    if not os.environ.get("KEPLER_URL") and not token:
        return Check(
            "bridge",
            NOT_CONFIGURED,
            f"no KEPLER_URL and no token (KEPLER_TOKEN, or {s.home}/token from `kepler up`)",
            "set KEPLER_URL to the bridge and KEPLER_TOKEN to its token, or run `kepler up`",
        )
    with Client(settings=s, timeout=timeout) as client:
        try:
            health = client.health()
        except KeplerError as exc:
            return Check("bridge", BROKEN, exc.message, "set KEPLER_URL to where the bridge runs")
        if not token:
            return Check(
                "bridge", BROKEN, f"{s.url} answers, but no token is set", "set KEPLER_TOKEN"
            )
        try:
            algorithms = client.algorithms()  # any authenticated call
        except (Unauthorized, Forbidden) as exc:
            return Check(
                "bridge",
                BROKEN,
                f"{s.url} refused the token: {exc.message}",
                "set KEPLER_TOKEN to the token the bridge was started with",
            )
    version = health.get("version") or "?"
    return Check(
        "bridge", OK, f"{s.url}: Kepler {version}, token accepted, {len(algorithms)} algorithms"
    )


# -- splunk ---------------------------------------------------------------------------


def check_splunk(timeout: float, _write: bool) -> Check:
    from kepler.splunk.service import connect
    from kepler.splunk.settings import SplunkSettings

    s = SplunkSettings()
    login = s.token is not None or bool(s.username)
    if not login and "url" not in s.model_fields_set:
        return Check(
            "splunk",
            NOT_CONFIGURED,
            "no splunkd configured",
            "set KEPLER_SPLUNK_URL (https://<search head>:8089) and KEPLER_SPLUNK_TOKEN, "
            "or KEPLER_SPLUNK_USERNAME and KEPLER_SPLUNK_PASSWORD",
        )
    if not login:
        return Check(
            "splunk",
            BROKEN,
            f"KEPLER_SPLUNK_URL is {s.url} but no credentials are set",
            "set KEPLER_SPLUNK_TOKEN, or KEPLER_SPLUNK_USERNAME and KEPLER_SPLUNK_PASSWORD",
        )
    service = connect(s.model_copy(update={"timeout": timeout}))  # logs in, GET server/info
    info = service.info
    who = f"as {s.username}" if s.username else "with KEPLER_SPLUNK_TOKEN"
    return Check(
        "splunk",
        OK,
        f"{s.url}: Splunk {info.get('version', '?')} on {info.get('serverName', '?')}, "
        f"logged in {who}",
    )


# -- hec ------------------------------------------------------------------------------


def check_hec(timeout: float, write: bool) -> Check:
    import httpx

    from kepler.hec import HecSettings

    s = HecSettings()
    if not s.url:
        return Check(
            "hec",
            NOT_CONFIGURED,
            "no HTTP Event Collector configured",
            "set KEPLER_HEC_URL (https://<splunk>:8088) and KEPLER_HEC_TOKEN",
        )
    if s.token is None:
        return Check(
            "hec", BROKEN, f"KEPLER_HEC_URL is {s.url} but no token", "set KEPLER_HEC_TOKEN"
        )
    verify: Any = str(s.ca_bundle) if s.ca_bundle else s.verify_tls
    headers = {"Authorization": f"Splunk {s.token.get_secret_value()}"}
    try:
        with httpx.Client(base_url=s.url, verify=verify, timeout=timeout) as http:
            health = http.get("/services/collector/health")
            if health.status_code != 200:
                return Check(
                    "hec",
                    BROKEN,
                    f"{s.url} health: HTTP {health.status_code} {_text(health)}",
                    "enable HEC in Splunk (Settings > Data inputs > HTTP Event Collector), "
                    "or correct KEPLER_HEC_URL",
                )
            # An empty post checks the token and writes nothing: "No data" (code 5) means
            # the token was accepted.
            probe = http.post("/services/collector/event", content=b"", headers=headers)
            code = _code(probe)
            if code != 5:
                return Check(
                    "hec",
                    BROKEN,
                    f"{s.url} refused the token: HTTP {probe.status_code} {_text(probe)}",
                    "set KEPLER_HEC_TOKEN to an enabled HEC token",
                )
            if not write:
                return Check("hec", OK, f"{s.url}: healthy, token accepted (no event sent)")
            event = {
                "event": {"kepler": "validate", "message": "kepler validate --test-write"},
                "time": round(time.time(), 3),
                "sourcetype": "kepler:validate",
                **({"index": s.index} if s.index else {}),
            }
            sent = http.post(
                "/services/collector/event", content=json.dumps(event), headers=headers
            )
    except httpx.HTTPError as exc:
        return Check(
            "hec",
            BROKEN,
            f"cannot reach HEC at {s.url} ({type(exc).__name__}: {exc})",
            "correct KEPLER_HEC_URL (HEC's port, usually 8088) or KEPLER_HEC_CA_BUNDLE",
        )
    if _code(sent) != 0:
        return Check(
            "hec",
            BROKEN,
            f"{s.url} refused the test event: HTTP {sent.status_code} {_text(sent)}",
            "check KEPLER_HEC_INDEX: the token must be allowed to write there",
        )
    where = s.index or "the token's default index"
    return Check(
        "hec", OK, f"{s.url}: healthy, one test event (sourcetype kepler:validate) in {where}"
    )


def _code(resp: Any) -> int | None:
    try:
        code = resp.json().get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None


def _text(resp: Any) -> str:
    try:
        return str(resp.json().get("text", ""))
    except (ValueError, AttributeError):
        return resp.text[:200]


# -- registry -------------------------------------------------------------------------


def check_registry(timeout: float, _write: bool) -> Check:
    from kepler.server.settings import ServerSettings

    s = ServerSettings()
    uri = s.tracking_uri
    default = f"sqlite:///{s.home / 'mlflow.db'}"
    fix = "set KEPLER_TRACKING_URI to the MLflow tracking server or database"
    if uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///") :])
        if not path.is_file():
            if uri == default:
                return Check(
                    "registry",
                    NOT_CONFIGURED,
                    f"no KEPLER_TRACKING_URI, and no local registry at {path}",
                    f"{fix}, or run `kepler up` once",
                )
            return Check("registry", BROKEN, f"{uri}: no such database file", fix)
        return _sqlite_registry(uri, path, fix)
    if uri.startswith(("http://", "https://")):
        return _http_registry(uri, timeout, fix)
    return Check(
        "registry", BROKEN, f"{uri}: kepler validate checks http(s):// and sqlite:/// only", fix
    )


def _sqlite_registry(uri: str, path: Path, fix: str) -> Check:
    import sqlite3

    try:
        with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5) as db:
            (count,) = db.execute("SELECT count(*) FROM registered_models").fetchone()
    except sqlite3.Error as exc:
        return Check("registry", BROKEN, f"{uri} is not an MLflow database ({exc})", fix)
    return Check("registry", OK, f"{uri}: MLflow database, {count} registered model(s)")


def _http_registry(uri: str, timeout: float, fix: str) -> Check:
    import httpx

    base = uri.rstrip("/")
    try:
        health = httpx.get(f"{base}/health", timeout=timeout)
        search = httpx.get(
            f"{base}/api/2.0/mlflow/registered-models/search",
            params={"max_results": 1},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        return Check("registry", BROKEN, f"cannot reach MLflow at {uri} ({exc})", fix)
    if health.status_code != 200 or search.status_code != 200:
        return Check(
            "registry",
            BROKEN,
            f"MLflow at {uri} answered HTTP {health.status_code} (health), "
            f"{search.status_code} (registered models)",
            f"{fix}; a server behind a login needs MLFLOW_TRACKING_TOKEN",
        )
    return Check("registry", OK, f"{uri}: MLflow server answers, registry reachable")


CHECKS: dict[str, Callable[[float, bool], Check]] = {
    "bridge": check_bridge,
    "splunk": check_splunk,
    "hec": check_hec,
    "registry": check_registry,
}
