"""Build the Splunk app `kepler` with UCC and pack it as dist/kepler-<version>.tar.gz.

Run by `make package` with the tool venv's Python (.venv-app, which has ucc-gen). Steps:
ucc-gen builds splunk_app/package into splunk_app/output/kepler; then the search command's
code (kepler's standard-library core and searchcommand packages) and the vendored splunklib
3.0.1 (from `make vendor`, less `splunklib/ai`) go into its lib/; bytecode and local/ are
removed; the folder is tarred with `kepler/` at the archive's root.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP = "kepler"
SOURCE = ROOT / "splunk_app" / "package"
GLOBAL_CONFIG = ROOT / "splunk_app" / "globalConfig.json"
OUTPUT = ROOT / "splunk_app" / "output"
DIST = ROOT / "dist"
VENDOR_LIB = ROOT / "build" / "vendor" / "lib"
SPLUNK_SDK = "3.0.1"
# Splunk 10's Python versions; AppInspect 4.4 fails Python handlers without it.
PYTHON_REQUIRED = "3.9,3.13"
# What Splunk 9.x reads instead (10.x deprecates it): its default Python 3, 3.9.
PYTHON_VERSION = "python3"
# splunklib 3.0's agent toolkit needs Python 3.13 (match statements, and langchain): not
# shipped. Everything else of splunklib (binding, client, searchcommands) runs on 3.9 and
# 3.13; the command itself uses splunklib.binding only.
SPLUNKLIB_LEFT_OUT = ("ai",)
# What of the repository's `kepler` package runs inside Splunk: standard library only.
KEPLER_FILES = ("__init__.py", "_version.py")
KEPLER_PACKAGES = ("core", "searchcommand")
# Never shipped: compiled bytecode, editor and test leftovers.
JUNK = ("__pycache__", "*.pyc", "*.pyo", ".DS_Store", ".pytest_cache", ".mypy_cache")


def read_version() -> str:
    text = (ROOT / "kepler" / "_version.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if not match:
        raise SystemExit("no __version__ in kepler/_version.py")
    return match.group(1)


def run_ucc(version: str, python: Path) -> Path:
    """ucc-gen rewrites the globalConfig it is given (version, schema): give it a copy."""
    ucc_gen = Path(sys.executable).parent / "ucc-gen"
    with tempfile.TemporaryDirectory(prefix="kepler-ucc-") as tmp:
        config = Path(tmp) / "globalConfig.json"
        shutil.copyfile(GLOBAL_CONFIG, config)
        cmd = [
            str(ucc_gen),
            "build",
            "--source",
            str(SOURCE),
            "--config",
            str(config),
            "--ta-version",
            version,
            "--output",
            str(OUTPUT),
            "--overwrite",
            # A dedicated interpreter and a pinned pip: upgrading the pip that runs ucc-gen
            # breaks its next `pip show` call.
            "--python-binary-name",
            str(python),
            "--pip-version",
            "23.2.1",
        ]
        print("+", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)
    return OUTPUT / APP


def require_python(app: Path) -> None:
    """UCC 6.6.0 writes its REST handler's restmap.conf stanza without python.required (read
    by Splunk 10) and python.version (read by 9.x): add whichever a Python handler lacks."""
    restmap = app / "default" / "restmap.conf"
    if not restmap.exists():
        return
    stanzas = re.split(r"(?m)^(?=\[)", restmap.read_text(encoding="utf-8"))
    out = []
    for stanza in stanzas:
        if re.search(r"(?m)^handlertype\s*=\s*python\s*$", stanza):
            for key, value in (
                ("python.version", PYTHON_VERSION),
                ("python.required", PYTHON_REQUIRED),
            ):
                if not re.search(rf"(?m)^{re.escape(key)}\s*=", stanza):
                    stanza = stanza.rstrip("\n") + f"\n{key} = {value}\n\n"
        out.append(stanza)
    restmap.write_text("".join(out).rstrip("\n") + "\n", encoding="utf-8")


# The app's own REST handler (splunk_app/package/bin/kepler_credentials.py): a search's
# session asks it for Kepler's setup and gets the bridge token of its user's level
# (kepler.searchcommand.credentials). splunkd checks kepler_use first; the handler reads
# the caller's capabilities, then the secrets with the system session (passSystemAuth).
CREDENTIALS_STANZA = f"""
[script:kepler_credentials]
match = /kepler/credentials
script = kepler_credentials.py
scripttype = persist
handler = kepler_credentials.Credentials
requireAuthentication = true
capability = kepler_use
output_modes = json
passSystemAuth = true
passPayload = false
passHttpHeaders = false
passHttpCookies = false
python.version = python3
python.required = {PYTHON_REQUIRED}
"""


def add_credentials_handler(app: Path) -> None:
    """Append the credentials handler's stanza to UCC's restmap.conf (once)."""
    restmap = app / "default" / "restmap.conf"
    text = restmap.read_text(encoding="utf-8") if restmap.exists() else ""
    if "[script:kepler_credentials]" not in text:
        text = text.rstrip("\n") + "\n" + CREDENTIALS_STANZA
        restmap.write_text(text.lstrip("\n"), encoding="utf-8")


def vendor(app: Path) -> list[str]:
    """Copy the command's code and splunklib into lib/; return what was copied."""
    lib = app / "lib"
    lib.mkdir(exist_ok=True)
    ignore = shutil.ignore_patterns(*JUNK)
    copied: list[str] = []

    target = lib / "kepler"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    for name in KEPLER_FILES:
        shutil.copy2(ROOT / "kepler" / name, target / name)
        copied.append(f"kepler/{name}")
    for name in KEPLER_PACKAGES:
        src = ROOT / "kepler" / name
        if src.is_dir():  # searchcommand may not be written yet: ship what exists
            shutil.copytree(src, target / name, ignore=ignore)
            copied.append(f"kepler/{name}/")
        else:
            print(f"warning: {src.relative_to(ROOT)} does not exist; not shipped", flush=True)

    dist_info = f"splunk_sdk-{SPLUNK_SDK}.dist-info"
    if not (VENDOR_LIB / "splunklib").is_dir() or not (VENDOR_LIB / dist_info).is_dir():
        raise SystemExit(f"{VENDOR_LIB} has no splunklib {SPLUNK_SDK}: run `make vendor`")
    # UCC's requirements bring splunk-sdk 2.x in; lib/exclude.txt drops it, and this makes
    # sure no other splunklib or splunk_sdk metadata is left beside 3.0.1.
    for old in [*lib.glob("splunk_sdk-*.dist-info"), lib / "splunklib"]:
        shutil.rmtree(old, ignore_errors=True)
    shutil.copytree(VENDOR_LIB / "splunklib", lib / "splunklib", ignore=ignore)
    for name in SPLUNKLIB_LEFT_OUT:
        shutil.rmtree(lib / "splunklib" / name)
    copied.append(f"splunklib (less {', '.join(f'{n}/' for n in SPLUNKLIB_LEFT_OUT)})")
    shutil.copytree(VENDOR_LIB / dist_info, lib / dist_info, ignore=ignore)
    copied.append(dist_info)
    return copied


def strip(app: Path) -> None:
    shutil.rmtree(app / "local", ignore_errors=True)
    # UCC copies package/lib/ whole: its requirements files are build input, not app content.
    for name in ("requirements.txt", "exclude.txt"):
        (app / "lib" / name).unlink(missing_ok=True)
    for pattern in JUNK:
        for path in sorted(app.rglob(pattern), reverse=True):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()


def _normalize(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o755 if info.isdir() else 0o644  # Splunk runs scripts through its Python
    return info


def pack(app: Path, version: str) -> Path:
    DIST.mkdir(exist_ok=True)
    tarball = DIST / f"{APP}-{version}.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(app, arcname=APP, filter=_normalize)
    return tarball


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default=None, help="default: kepler/_version.py")
    parser.add_argument(
        "--python",
        type=Path,
        default=Path(sys.executable),
        help="interpreter ucc-gen installs lib/requirements.txt with (default: this one)",
    )
    args = parser.parse_args(argv)
    version = args.version or read_version()

    app = run_ucc(version, args.python)
    require_python(app)
    add_credentials_handler(app)
    copied = vendor(app)
    strip(app)
    tarball = pack(app, version)
    print(f"lib/: {', '.join(copied)}")
    print(f"built {tarball.relative_to(ROOT)} ({tarball.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
