"""A wheel of the running ``kepler`` package, for every registered model to carry.

Why: a model's ``requirements.txt`` must name something pip can install wherever MLflow
restores the model's environment (``mlflow models serve``, ``mlflow.pyfunc.spark_udf``,
``env_manager="virtualenv"``), and no public index serves ``kepler-ml``. MLflow installs
a model's requirements with the model's directory as the working directory, so a relative
line such as ``wheels/kepler_ml-0.1.0-py3-none-any.whl`` resolves to a file inside the
model (MLflow's own ``add_libraries_to_model`` writes its wheels this way). The
alternatives were worse: ``add_libraries_to_model`` downloads a wheel of every dependency
and registers a second version; ``code_paths`` puts a copy of ``kepler`` first on
``sys.path``, shadowing the installed one in any process that loads the model.

The wheel holds the ``kepler`` package (what a pickled pipeline imports: the pipeline,
feature and estimator classes) with the installed distribution's metadata, so installing
it brings the SDK's dependencies. It is built from the package's files, so an editable
install (development) and a site-packages install (the image) give the same wheel, and
the bytes are the same for the same code (fixed timestamps, sorted entries).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import zipfile
from importlib import metadata
from pathlib import Path

DIST = "kepler-ml"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry holds: reproducible bytes
_SKIP_DIRS = {"__pycache__"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}


def wheel_name(version: str) -> str:
    return f"{DIST.replace('-', '_')}-{version}-py3-none-any.whl"


def write_wheel(folder: Path) -> Path:
    """Write the wheel into ``folder`` and return its path."""
    name, data = _build()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


@functools.cache
def _build() -> tuple[str, bytes]:
    import kepler
    from kepler._version import __version__

    version = _version(__version__)
    package = Path(kepler.__file__).resolve().parent
    files: dict[str, bytes] = {}
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(package)
        if not path.is_file() or _SKIP_DIRS & set(rel.parts) or path.suffix in _SKIP_SUFFIXES:
            continue
        files[f"kepler/{rel.as_posix()}"] = path.read_bytes()
    info = f"{DIST.replace('-', '_')}-{version}.dist-info"
    files[f"{info}/METADATA"] = _metadata(version).encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: kepler.ml.sdk_wheel\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n"
    )
    record = [f"{arc},sha256={_digest(data)},{len(data)}" for arc, data in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for arc, data in files.items():
            entry = zipfile.ZipInfo(arc, date_time=_EPOCH)
            entry.external_attr = 0o644 << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(entry, data)
    return wheel_name(version), out.getvalue()


def _version(fallback: str) -> str:
    try:
        return metadata.version(DIST)
    except metadata.PackageNotFoundError:  # running from a source tree
        return fallback


def _metadata(version: str) -> str:
    """The installed distribution's metadata (name, version, dependencies), or the least a
    wheel needs when ``kepler`` runs from a source tree that was never installed."""
    try:
        dist = metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        dist = None
    # A wheel's METADATA, or the same fields as an egg-info's PKG-INFO (a source checkout).
    text = dist and (dist.read_text("METADATA") or dist.read_text("PKG-INFO"))
    return text or f"Metadata-Version: 2.1\nName: {DIST}\nVersion: {version}\n"


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
