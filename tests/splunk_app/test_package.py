"""The Splunk app as shipped: `make package` builds it, these checks read the tarball."""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from kepler._version import __version__ as VERSION
from tests.splunk.pythons import SplunkPython

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[2]
APPINSPECT = ROOT / ".venv-app" / "bin" / "splunk-appinspect"
SUBCOMMANDS = (
    "fit",
    "automl",
    "apply",
    "score",
    "drift",
    "summary",
    "models",
    "deletemodel",
    "jobs",
    "cancel",
    "alias",
    "unalias",
    "compare",
    "reproduce",
)
# commands.conf keys that mean something with chunked = true (protocol v2).
CHUNKED_KEYS = {
    "filename",
    "chunked",
    "is_risky",
    "maxwait",
    "maxchunksize",
    "run_in_preview",
    "python.version",
    "python.required",
}
SECRET_KEY = re.compile(r"token|password|secret|api_?key|credential", re.IGNORECASE)
SECRET_VALUE = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^[A-Za-z0-9+/_=.-]{32,}$",
    re.IGNORECASE,
)

Conf = dict[str, dict[str, str]]


def read_conf(path: Path) -> Conf:
    """Splunk's .conf format: [stanza], key = value, # comments, `\\` continues a line."""
    stanzas: Conf = {"default": {}}
    current = stanzas["default"]
    lines = iter(path.read_text(encoding="utf-8").splitlines())
    for line in lines:
        while line.endswith("\\"):
            line = line[:-1] + "\n" + next(lines, "")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            current = stanzas.setdefault(stripped[1:-1], {})
            continue
        key, sep, value = stripped.partition("=")
        assert sep, f"{path.name}: not a key = value line: {line!r}"
        current[key.strip()] = value.strip()
    return stanzas


def read_xml(path: Path) -> ET.Element:
    return ET.parse(path).getroot()  # noqa: S314 - the app's own files, not untrusted input


def _files(app: Path) -> Iterator[Path]:
    return (p for p in app.rglob("*") if p.is_file())


def test_package_tarball_holds_kepler_folder_at_root(tarball: Path) -> None:
    assert tarball.name == f"kepler-{VERSION}.tar.gz"
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert {n.split("/")[0] for n in names} == {"kepler"}
    assert "kepler/default/app.conf" in names


def test_app_conf_identifies_kepler(app: Path) -> None:
    conf = read_conf(app / "default" / "app.conf")
    assert conf["package"]["id"] == "kepler" == app.name
    assert conf["launcher"]["version"] == VERSION == conf["id"]["version"]
    assert conf["launcher"]["author"]
    assert conf["launcher"]["description"]
    assert conf["ui"]["label"] == "Kepler"
    assert conf["ui"]["is_visible"] == "true"
    # A custom .conf needs its reload trigger, or AppInspect fails the app.
    assert conf["triggers"]["reload.kepler_settings"] == "simple"


def test_commands_conf_uses_only_chunked_keys(app: Path) -> None:
    conf = read_conf(app / "default" / "commands.conf")
    stanza = conf["kepler"]
    assert set(stanza) <= CHUNKED_KEYS, set(stanza) - CHUNKED_KEYS
    assert stanza["filename"] == "kepler_command.py"
    assert stanza["chunked"] == "true"
    # Splunk 10 reads python.required, 9.x python.version (python3: its 3.9).
    assert stanza["python.required"] == "3.9,3.13"
    assert stanza["python.version"] == "python3"
    assert (app / "bin" / stanza["filename"]).is_file()


def test_command_shim_is_a_few_lines(app: Path) -> None:
    shim = (app / "bin" / "kepler_command.py").read_text()
    code = [ln for ln in shim.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(code) <= 8, code
    assert "from kepler.searchcommand.main import main" in shim
    assert '"lib"' in shim


def test_searchbnf_covers_every_subcommand(app: Path) -> None:
    conf = read_conf(app / "default" / "searchbnf.conf")
    top = conf["kepler-command"]
    for key in ("syntax", "shortdesc", "description", "example1", "comment1"):
        assert top.get(key), key
    assert top["usage"] == "public"
    for sub in SUBCOMMANDS:
        stanza = conf[f"kepler-{sub}"]
        assert f"<kepler-{sub}>" in top["syntax"]
        assert stanza["syntax"].startswith("(models|listmodels)" if sub == "models" else sub)
        assert stanza["description"] and stanza["shortdesc"], sub
        assert stanza["usage"] == "public"
        assert f"kepler {sub}" in stanza["example1"] and stanza["comment1"], sub
    fit = conf["kepler-fit"]["syntax"]
    for part in ("from", "into", "as", "probabilities=", "holdout=", "output=events", "async="):
        assert part in fit, part
    assert "@<int>" in conf["kepler-apply"]["syntax"]


def test_dashboards_run_kepler_models_and_jobs(app: Path) -> None:
    import json

    views = app / "default" / "data" / "ui" / "views"
    for view, search in (("kepler_models", "| kepler models"), ("kepler_jobs", "| kepler jobs")):
        root = read_xml(views / f"{view}.xml")
        assert (root.tag, root.get("version")) == ("dashboard", "2")
        sources = json.loads(root.findtext("definition") or "{}")["dataSources"].values()
        queries = [ds["options"]["query"] for ds in sources]
        assert any(q.startswith(search) for q in queries), queries
    nav = read_xml(app / "default" / "data" / "ui" / "nav" / "default.xml")
    names = [v.get("name") for v in nav.iter("view")]
    assert {"kepler_models", "kepler_jobs", "kepler_health", "configuration"} <= set(names)
    assert (views / "configuration.xml").is_file()
    assert (
        read_conf(app / "default" / "savedsearches.conf")["kepler_drift_alert"]["disabled"] == "1"
    )


def test_package_ships_app_icons_at_splunks_sizes(app: Path) -> None:
    from tests.splunk_app.test_sources import ICONS, png_size

    for name, side in ICONS.items():
        assert png_size((app / "static" / name).read_bytes()) == (side, side), name


def test_settings_conf_and_handler_match_the_readme_contract(app: Path) -> None:
    conf = read_conf(app / "default" / "kepler_settings.conf")
    assert set(conf["bridge"]) == {
        "url",
        "token",
        "user_token",
        "verify_tls",
        "ca_bundle",
        "connect_timeout",
        "read_timeout",
    }
    assert set(conf["hec"]) == {"url", "token", "index", "use_ack", "verify_tls"}
    # `kepler up` on the search head (tests/splunk_app/test_sources.py checks the match).
    assert conf["bridge"]["url"] == "http://127.0.0.1:8765"
    assert conf["hec"]["url"].startswith("https://")
    assert conf["bridge"]["verify_tls"] == conf["hec"]["verify_tls"] == "1"
    handler = (app / "bin" / "kepler_rh_settings.py").read_text()
    # The realm is __REST_CREDENTIAL__#kepler#configs/conf-<this conf name>.
    assert "MultipleModel(\n    'kepler_settings'," in handler
    assert len(re.findall(r"'token',\s*required=True,\s*encrypted=True", handler)) == 2
    assert len(re.findall(r"'user_token',\s*required=False,\s*encrypted=True", handler)) == 1
    restmap = read_conf(app / "default" / "restmap.conf")
    handlers = {name: s for name, s in restmap.items() if s.get("handlertype") == "python"}
    assert "admin_external:kepler_settings" in handlers
    for name, stanza in handlers.items():
        assert stanza.get("python.required") == "3.9,3.13", name
        assert stanza.get("python.version") == "python3", name


def test_roles_carry_only_keplers_capabilities(app: Path) -> None:
    conf = read_conf(app / "default" / "authorize.conf")
    assert "capability::kepler_use" in conf and "capability::kepler_admin_actions" in conf
    user, admin = conf["role_kepler_user"], conf["role_kepler_admin"]
    assert user == {"importRoles": "user", "kepler_use": "enabled"}
    assert admin == {"importRoles": "kepler_user", "kepler_admin_actions": "enabled"}
    for role in (user, admin):  # no power over other apps' secrets or objects
        assert not {"list_storage_passwords", "admin_all_objects"} & set(role)
    assert conf["role_admin"] == {"kepler_use": "enabled", "kepler_admin_actions": "enabled"}


def test_credentials_handler_is_registered_for_both_splunk_generations(app: Path) -> None:
    stanza = read_conf(app / "default" / "restmap.conf")["script:kepler_credentials"]
    assert stanza["match"] == "/kepler/credentials"
    assert (stanza["scripttype"], stanza["handler"]) == (
        "persist",
        "kepler_credentials.Credentials",
    )
    assert (app / "bin" / "kepler_credentials.py").is_file()
    assert stanza["requireAuthentication"] == "true" and stanza["passSystemAuth"] == "true"
    assert stanza["capability"] == "kepler_use"
    assert (stanza["python.version"], stanza["python.required"]) == ("python3", "3.9,3.13")


def test_packaged_credentials_handler_answers_through_splunkd(
    app: Path, splunk_python: SplunkPython
) -> None:
    """The built app's handler under each of Splunk's Pythons, bare (-S) with only the
    app's lib/, behind the splunkd double: a kepler_user gets the user token (longer than
    one of solnlib's 255-character pieces), someone without the role a 403."""
    import urllib.error
    import urllib.request

    from tests.splunk.app_setup import app_splunkd, subprocess_handler

    handler = subprocess_handler([splunk_python.executable], app)
    user_token = "usr-" + "u" * 600
    with app_splunkd("https://bridge:8765", "adm", user_token, handler=handler) as rest:
        url = f"{rest.url}/servicesNS/nobody/kepler/kepler/credentials?output_mode=json"
        req = urllib.request.Request(url, headers={"Authorization": "Splunk alice-key"})  # noqa: S310
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - loopback double
            body = json.loads(resp.read())
        assert body["bridge"]["token"] == user_token and body["level"] == "user"
        req = urllib.request.Request(url, headers={"Authorization": "Splunk carol-key"})  # noqa: S310
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(req, timeout=60)  # noqa: S310
        assert refused.value.code == 403


def test_no_conf_holds_a_secret(app: Path) -> None:
    for path in app.rglob("*.conf"):
        for stanza, items in read_conf(path).items():
            for key, value in items.items():
                where = f"{path.relative_to(app)} [{stanza}] {key}"
                if SECRET_KEY.search(key):
                    assert value == "", where
                assert not SECRET_VALUE.match(value), where


def test_lib_vendors_splunklib_and_kepler_core_only(app: Path) -> None:
    lib = app / "lib"
    assert (lib / "splunklib" / "searchcommands" / "__init__.py").is_file()
    assert not (lib / "splunklib" / "ai").exists()  # needs 3.13: packaging/build_app.py
    assert (lib / "splunk_sdk-3.0.1.dist-info" / "METADATA").is_file()
    assert [p.name for p in lib.glob("splunk_sdk-*")] == ["splunk_sdk-3.0.1.dist-info"]
    assert (lib / "kepler" / "core" / "spec.py").is_file()
    assert (lib / "kepler" / "_version.py").is_file()
    shipped = {p.name for p in (lib / "kepler").iterdir()}
    assert shipped <= {"__init__.py", "_version.py", "core", "searchcommand"}, shipped
    for heavy in ("numpy", "pandas", "pyarrow", "sklearn", "httpx", "pydantic"):
        assert not (lib / heavy).exists(), heavy
    compiled = [p for p in _files(app) if p.suffix in (".so", ".pyd", ".dylib", ".dll")]
    assert compiled == []


def test_package_has_no_bytecode_local_or_disabled_tls(app: Path) -> None:
    assert not (app / "local").exists()
    assert [p for p in app.rglob("*") if p.suffix in (".pyc", ".pyo")] == []
    assert [p for p in app.rglob("__pycache__")] == []
    # Our own code never turns certificate checks off (vendored libraries are AppInspect's).
    ours = [*(app / "bin").glob("kepler_*.py"), *(app / "lib" / "kepler").rglob("*.py")]
    ours += list((app / "default").rglob("*"))
    for path in (p for p in ours if p.is_file()):
        assert "verify=False" not in path.read_text(encoding="utf-8"), path


def test_every_python_file_compiles(app: Path, splunk_python: SplunkPython) -> None:
    """What the app ships, its own code and every vendored library, is valid syntax on each
    Python Splunk may run it with (a library that needs 3.10 must not be shipped)."""
    sources = sorted(str(p.relative_to(app)) for p in app.rglob("*.py"))
    assert "bin/kepler_command.py" in sources and len(sources) > 100
    code = (
        "import sys, warnings\n"
        "warnings.simplefilter('ignore')\n"  # invalid escapes in vendored code: not ours
        "bad = []\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        compile(open(name, 'rb').read(), name, 'exec')\n"
        "    except SyntaxError as error:\n"
        "        bad.append('%s:%s: %s' % (name, error.lineno, error.msg))\n"
        "print('\\n'.join(bad))\n"
    )
    proc = subprocess.run(
        [*splunk_python.argv, "-B", "-c", code, *sources],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.strip() == "", f"Python {splunk_python.version}:\n{proc.stdout}"


def test_vendored_code_imports_with_the_standard_library_only(
    app: Path, splunk_python: SplunkPython
) -> None:
    """As in Splunk's Python: no site-packages, only the app's lib/."""
    modules = [
        "splunklib.binding",
        "splunklib.client",
        "splunklib.searchcommands",
        "kepler.core.spec",
        "kepler.searchcommand.main",
        # What UCC's REST handler imports that runs outside splunkd (its `splunk` does not).
        "solnlib.conf_manager",
        # What kepler/credentials reads the secrets with.
        "solnlib.credentials",
        "splunktaucclib.rest_handler.endpoint",
    ]
    code = f"import sys; sys.path.insert(0, {str(app / 'lib')!r}); " + "; ".join(
        f"import {m}" for m in modules
    )
    proc = subprocess.run(
        [*splunk_python.argv, "-I", "-B", "-c", code],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_shim_answers_getinfo_from_the_packaged_lib(app: Path, splunk_python: SplunkPython) -> None:
    """Splunk's side of protocol v2, against bare Python: getinfo in, one framed chunk out."""
    searchinfo = {
        "args": ["models"],
        "raw_args": ["models"],
        "app": "kepler",
        "owner": "admin",
        "username": "admin",
        "session_key": "not-a-session",
        "splunkd_uri": "https://127.0.0.1:1",  # nothing listens: the settings cannot be read
        "splunk_version": "10.0.0",
        "search": "%7C%20kepler%20models",
        "command": "kepler",
        "maxresultrows": 50000,
    }
    meta = json.dumps({"action": "getinfo", "preview": False, "searchinfo": searchinfo})
    request = f"chunked 1.0,{len(meta.encode())},0\n{meta}".encode()
    proc = subprocess.run(
        [*splunk_python.argv, "-I", "-B", str(app / "bin" / "kepler_command.py")],
        input=request,
        capture_output=True,
        timeout=60,
    )
    header = re.match(rb"chunked\s+1.0\s*,\s*(\d+)\s*,\s*(\d+)\s*\n", proc.stdout)
    assert header, (proc.stdout[:300], proc.stderr[-2000:])
    reply = json.loads(proc.stdout[header.end() : header.end() + int(header.group(1))])
    assert isinstance(reply, dict) and b"Traceback" not in proc.stderr, reply
    messages = reply.get("inspector", {}).get("messages", [])
    assert [level for level, _ in messages] == ["ERROR"], reply  # settings unreadable
    assert proc.returncode == 1


def test_appinspect_precert_finds_no_failures(
    tarball: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "appinspect.json"
    proc = subprocess.run(
        [
            str(APPINSPECT),
            "inspect",
            str(tarball),
            "--mode",
            "precert",
            "--skip-trusted-libraries-update",
            "--ci",
            "--data-format",
            "json",
            "--output-file",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    data = json.loads(report.read_text())
    summary = data["summary"]
    warnings = [
        f"{check['name']} ({msg.get('message_filename')}:{msg.get('message_line')}): "
        f"{msg['message'][:100]}"
        for group in data["reports"][0]["groups"]
        for check in group["checks"]
        if check["result"] == "warning"
        for msg in check["messages"]
        if msg.get("result") == "warning"
    ]
    with capsys.disabled():
        print(f"\nAppInspect {summary}")
        for line in warnings:
            print(f"  warning {line}")
    assert summary["failure"] == summary["future_failure"] == summary["error"] == 0, summary
    assert proc.returncode in (0, 103), proc.stdout[-4000:]
