"""The packages whose versions decide a fit's numbers, as recorded with each version.

A fit records these (``kepler.package.<name>`` tags of its MLflow run); reproducing it
compares them with what the reproducing worker has installed (:func:`differences`), since
another scikit-learn or numpy may legitimately train a different model from the same
rows and seed.
"""

from __future__ import annotations

import contextlib
import functools
import platform
from importlib import metadata

TAG_PREFIX = "kepler.package."
# Always recorded: Kepler's own training code, the estimators, the arrays beneath them.
CORE = ("kepler-ml", "scikit-learn", "numpy", "scipy", "pandas", "pyarrow")
_COVERED = frozenset({"sklearn", "kepler", "xgboost"})  # modules CORE and extras name


def packages(algorithm: str) -> dict[str, str]:
    """``{distribution: installed version}`` for a fit of ``algorithm``: :data:`CORE`, the
    library its extra brings (xgboost, torch) and the plugin that provides it, if any."""
    names = list(CORE)
    with contextlib.suppress(Exception):  # a plugin since uninstalled: the core list
        from kepler.ml.registry import get_algorithm

        info = get_algorithm(algorithm)
        if info.extra in ("xgboost", "torch"):
            names.append(info.extra)
        top = info.estimator.split(":", 1)[0].split(".", 1)[0]
        if top not in _COVERED:  # a plugin's estimator: the package that ships it
            names.extend(d for d in _distributions().get(top, []) if d not in names)
    out = {}
    for name in names:
        version = installed(name)
        if version is not None:
            out[name] = version
    return out


@functools.cache
def _distributions() -> dict[str, list[str]]:
    """Which distributions provide each top-level module: read once per process."""
    return dict(metadata.packages_distributions())


def installed(name: str) -> str | None:
    """The installed version of distribution ``name``; None when it is not installed."""
    if name == "kepler-ml":
        from kepler._version import __version__

        with contextlib.suppress(metadata.PackageNotFoundError):
            return metadata.version(name)
        return __version__  # run from a source tree
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def python_version() -> str:
    return platform.python_version()


def as_tags(recorded: dict[str, str]) -> dict[str, str]:
    return {f"{TAG_PREFIX}{name}": version for name, version in recorded.items()}


def from_tags(tags: dict[str, str]) -> dict[str, str]:
    """The package versions recorded in a run's tags (empty: fitted before Kepler
    recorded them)."""
    return {k[len(TAG_PREFIX) :]: v for k, v in tags.items() if k.startswith(TAG_PREFIX)}


def differences(recorded: dict[str, str]) -> list[dict[str, str | None]]:
    """Each recorded package whose installed version differs here: ``package``,
    ``recorded``, ``installed`` (None: not installed), sorted by package."""
    out: list[dict[str, str | None]] = []
    for name in sorted(recorded):
        now = installed(name)
        if now != recorded[name]:
            out.append({"package": name, "recorded": recorded[name], "installed": now})
    return out
