"""``kp.register``'s client side: a fitted estimator as a skops file, its description and
the rows of ``data=``, framed as one request body (:func:`kepler.core.wire.frame_register`).

The estimator travels in skops' secure format (``skops.io.dumps``), never as a pickle: the
bridge builds only trusted types from it (see :mod:`kepler.ml.trusted`). A raw torch
module is refused here already (skops cannot hold tensors without pickle): Kepler's own
torch estimators are what crosses. With it go the fields it reads and their types, the
target, the environment it was built in (the Python version and the versions of the
packages that matter to it), which the version records, and ``data=`` as an Arrow IPC
stream, from which the bridge makes the version's drift baseline in the same request.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from kepler import _frames
from kepler.core import wire
from kepler.core.errors import BadParameter, UntrustedModel, require

# Packages whose versions a registered version records (those installed here).
PACKAGES = ("scikit-learn", "numpy", "scipy", "pandas", "xgboost", "torch", "skops", "kepler-ml")


def register_body(
    fitted: Any,
    *,
    features: Sequence[str] | None,
    target: str | None,
    requirements: Sequence[str] | None,
    data: Any = None,
    description: str | None = None,
) -> bytes:
    """The request body that registers ``fitted`` (with ``data``'s rows, if given)."""
    sio = require("skops.io", "register")
    _refuse_torch_module(fitted)
    names = _features(fitted, features, data, target)
    request = wire.ModelRegister(
        features=names,
        target=target,
        feature_types=feature_types(data, names) if data is not None else {},
        requirements=[str(r) for r in requirements or ()],
        packages=environment(fitted),
        python=platform.python_version(),
        description=description,
    )
    return frame_body(request, _skops_bytes(sio, fitted), data)


def frame_body(request: wire.ModelRegister, model: bytes, data: Any = None) -> bytes:
    """``request``, the skops file ``model`` and ``data``'s feature columns (a DataFrame,
    or None) as one registration body."""
    rows = b"" if data is None else _frames.ipc_bytes(_frames.to_arrow(data[request.features]))
    return wire.frame_register(json.dumps(request.to_dict()).encode(), model, rows)


def _refuse_torch_module(fitted: Any) -> None:
    from kepler.ml.trusted import TORCH_HINT, is_torch_object

    if is_torch_object(fitted):
        kind = f"{type(fitted).__module__}.{type(fitted).__qualname__}"
        raise UntrustedModel(f"a {kind} cannot be registered: {TORCH_HINT}", detail={"type": kind})


def _skops_bytes(sio: Any, fitted: Any) -> bytes:
    try:
        data: bytes = sio.dumps(fitted)
    except Exception as exc:  # skops refuses what it cannot store without pickle
        kind = type(fitted).__name__
        raise UntrustedModel(
            f"skops cannot store this {kind} without pickle ({type(exc).__name__}: {exc}); "
            "register a scikit-learn, XGBoost, Kepler torch or installed plugin estimator",
            detail={"type": kind},
        ) from None
    return data


def environment(fitted: Any) -> dict[str, str]:
    """Installed versions of :data:`PACKAGES` and of the package ``fitted``'s class is from."""
    names = list(PACKAGES)
    root = type(fitted).__module__.split(".")[0]
    names += metadata.packages_distributions().get(root, [])
    out: dict[str, str] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def _features(fitted: Any, given: Sequence[str] | None, data: Any, target: str | None) -> list[str]:
    if given:
        return [str(f) for f in given]
    known = getattr(fitted, "feature_names_in_", None)
    if known is not None:
        return [str(f) for f in known]
    if data is not None:
        return [str(c) for c in data.columns if c != target]
    raise BadParameter(
        "say which fields the model reads, in order: features=[...] (it was fitted on an "
        "array, so it does not know their names)",
        detail={"parameter": "features"},
    )


def feature_types(data: Any, names: list[str]) -> dict[str, str]:
    """numeric for number and boolean columns of ``data``, categorical for the rest."""
    import pandas as pd

    missing = [n for n in names if n not in data.columns]
    if missing:
        raise BadParameter(
            f"data= has no column {missing[0]!r}, one of the model's features",
            detail={"parameter": "data"},
        )
    if not len(data):
        raise BadParameter(
            "data= has no rows: give the rows the model was trained on (its drift "
            "baseline), or leave data= out",
            detail={"parameter": "data"},
        )
    return {
        n: "numeric"
        if pd.api.types.is_numeric_dtype(data[n]) or pd.api.types.is_bool_dtype(data[n])
        else "categorical"
        for n in names
    }
