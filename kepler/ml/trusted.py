"""Reading a model fitted elsewhere without running its code: skops' secure format and the
one list of types the bridge lets it build.

A model registered with ``kp.register`` crosses the network as a skops file
(``skops.io.dumps``): a zip of JSON that names each object's type and holds arrays as
``.npy``. Loading it builds only types on a list; nothing is unpickled, so a file cannot
run code on the bridge the way a pickle can (``pickle.loads`` calls whatever the file
names). The list is skops' own defaults (scikit-learn's estimators and transformers,
numpy, scipy's sparse matrices, builtins) plus :data:`TRUSTED_TYPES` below (XGBoost's
scikit-learn models and what they hold; Kepler's torch estimators, whose state is numpy
arrays and plain values) plus the classes of the algorithm plugins installed where the
bridge runs (code its operator chose to install). Anything else is
refused with :class:`~kepler.core.errors.UntrustedModel` naming each type, never loaded
"to see". ``trusted=True`` (trust everything) is never used.

Why skops rather than ONNX: ONNX would need a converter per library (skl2onnx,
onnxmltools) that covers only part of scikit-learn, changes predictions in float32, and
would make Kepler score with a second runtime; a skops file holds the very estimator the
notebook fitted, so ``apply`` runs the same code path and gives the same predictions as
every fitted version.

Torch: skops cannot hold a tensor without pickle, so a raw ``torch.nn.Module`` is refused
(torch's own ``torch.save`` is a pickle too). Kepler's ``TorchMLPClassifier`` and
``TorchMLPRegressor`` keep their weights as numpy arrays in their saved state and rebuild
the tensors on load, so they cross as skops files with trusted types only.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from kepler.core.errors import UntrustedModel, require

# Types outside skops' defaults that a registered model may hold, by their full names
# (module and qualified name, as skops.io.get_untrusted_types lists them).
TRUSTED_TYPES: tuple[str, ...] = (
    # XGBoost's scikit-learn models: the booster's state is its own JSON/UBJ bytes.
    "xgboost.sklearn.XGBClassifier",
    "xgboost.sklearn.XGBRegressor",
    "xgboost.sklearn.XGBRFClassifier",
    "xgboost.sklearn.XGBRFRegressor",
    "xgboost.core.Booster",
    # Kepler's torch estimators: their saved state is arrays and plain values (weights as
    # numpy arrays, see kepler.ml.torch_mlp); loading one runs no torch code but tensor().
    "kepler.ml.torch_mlp.TorchMLPClassifier",
    "kepler.ml.torch_mlp.TorchMLPRegressor",
    # scikit-learn's own compiled structures (trees, neighbour indexes, distances), state
    # as arrays: skops reads them but leaves trusting them to the caller.
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
)


PLUGIN_HINT = (
    "install a plugin that provides the class where the bridge runs, or rebuild the model "
    "from trusted types"
)
TORCH_HINT = (
    "torch modules and tensors cannot be read without pickle: fit Kepler's "
    "TorchMLPClassifier or TorchMLPRegressor (kepler.ml.torch_mlp) in the notebook and "
    "register that (its weights travel as arrays); ONNX is not supported"
)


def is_torch_object(obj: Any) -> bool:
    """Whether ``obj`` is a torch object (a module, a tensor), without importing torch."""
    return any(_is_torch(f"{c.__module__}.{c.__qualname__}") for c in type(obj).__mro__)


def _is_torch(type_name: str) -> bool:
    return type_name.split(".", 1)[0] == "torch"


def plugin_types() -> tuple[str, ...]:
    """The estimator classes of the algorithm plugins installed here."""
    from kepler.ml.registry import plugin_algorithms

    return tuple(a.estimator.replace(":", ".") for a in plugin_algorithms())


def trusted_types() -> frozenset[str]:
    """Every type a registered model may hold beyond skops' defaults."""
    return frozenset(TRUSTED_TYPES) | frozenset(plugin_types())


def load_model(data: bytes, *, max_unpacked_bytes: int) -> Any:
    """The estimator in the skops file ``data``: refused (:class:`UntrustedModel`) when it
    is not a skops file (a pickle, say), unpacks to more than ``max_unpacked_bytes``, or
    names a type outside the trusted ones."""
    sio = require("skops.io", "register")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        raise UntrustedModel(
            _not_skops(data), detail={"format": "pickle" if _is_pickle(data) else "unknown"}
        ) from None
    if "schema.json" not in names:
        raise UntrustedModel(_not_skops(data), detail={"format": "zip"})
    if unpacked > max_unpacked_bytes:
        raise UntrustedModel(
            f"the model file unpacks to {unpacked:,} bytes, more than the bridge's "
            f"{max_unpacked_bytes:,} (KEPLER_REGISTER_MAX_BYTES, times 8)",
            detail={"unpacked_bytes": unpacked, "setting": "KEPLER_REGISTER_MAX_BYTES"},
        )
    try:
        found = sorted(set(sio.get_untrusted_types(data=data)))
    except Exception as exc:  # a skops file that does not parse
        raise UntrustedModel(f"the model file is not a readable skops file: {exc}") from None
    allowed = trusted_types()
    refused = [t for t in found if t not in allowed]
    if refused:
        raise UntrustedModel(
            f"the model holds types outside the bridge's trusted list: {', '.join(refused)}. "
            "Kepler builds only scikit-learn, XGBoost, Kepler's torch and installed plugin "
            "types from an upload (see kepler/ml/trusted.py); "
            + (TORCH_HINT if any(_is_torch(t) for t in refused) else PLUGIN_HINT),
            detail={"untrusted_types": refused},
        )
    try:
        return sio.loads(data, trusted=found)
    except Exception as exc:
        raise UntrustedModel(
            f"the model file could not be read: {type(exc).__name__}: {exc}",
            detail={"format": "skops"},
        ) from None


def _is_pickle(data: bytes) -> bool:
    return data[:1] == b"\x80" or data[:1] in (b"(", b"c", b"]", b"}")


def _not_skops(data: bytes) -> str:
    what = "a pickle" if _is_pickle(data) else "not a skops file"
    return (
        f"the model file is {what}: Kepler accepts models only in skops' secure format "
        "(skops.io.dumps, as kp.register sends them) and never unpickles an upload"
    )
