"""Every algorithm Kepler can train, and turning one into a configured estimator.

The built-in catalog lives in :mod:`kepler.core.algorithms` as data. Third-party packages
add algorithms through the ``kepler.algorithms`` entry-point group; an entry point names
either an :class:`~kepler.core.algorithms.AlgorithmInfo` or a scikit-learn estimator class,
from which an entry is derived. A broken plugin is logged and skipped: one bad package
must not take training down for everyone.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
from importlib import metadata
from typing import Any

from kepler.core.algorithms import AlgorithmInfo, builtin_algorithms, find_algorithm
from kepler.core.errors import BadParameter, MissingDependency, require
from kepler.core.params import Param, ParamSet, to_kwargs

ENTRY_POINT_GROUP = "kepler.algorithms"

# The library an optional extra brings; checked first so a missing one is named plainly
# (importing kepler.ml.torch_mlp without torch would otherwise blame Kepler's module).
_EXTRA_LIBRARY = {"xgboost": "xgboost", "torch": "torch", "forecast": "statsmodels"}

log = logging.getLogger(__name__)


def all_algorithms() -> list[AlgorithmInfo]:
    """The built-in catalog followed by the algorithms installed plugins provide."""
    return [*builtin_algorithms(), *plugin_algorithms()]


def get_algorithm(name: str) -> AlgorithmInfo:
    """The algorithm called ``name`` (any case, any alias), built-in or plugin."""
    return find_algorithm(name, extra=plugin_algorithms())


@functools.cache
def plugin_algorithms() -> tuple[AlgorithmInfo, ...]:
    """Algorithms from the ``kepler.algorithms`` entry points, read once per process."""
    builtin = {n.lower() for a in builtin_algorithms() for n in (a.name, *a.aliases)}
    found: list[AlgorithmInfo] = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            info = _from_entry_point(ep.name, ep.load())
        except Exception as exc:  # a plugin can fail in any way; none may stop Kepler
            log.warning("skipping Kepler plugin %r (%s): %s", ep.name, ep.value, exc)
            continue
        if info.name.lower() in builtin:
            log.warning("skipping Kepler plugin %r: the name %r is built in", ep.name, info.name)
            continue
        found.append(info)
    return tuple(found)


def _from_entry_point(name: str, obj: Any) -> AlgorithmInfo:
    if isinstance(obj, AlgorithmInfo):
        return obj
    if inspect.isclass(obj) and hasattr(obj, "fit"):
        return describe_estimator_class(obj, name=name)
    raise TypeError(f"expected an AlgorithmInfo or an estimator class, got {type(obj).__name__}")


def describe_estimator_class(cls: type, *, name: str | None = None) -> AlgorithmInfo:
    """Derive a catalog entry from a scikit-learn-style estimator class."""
    task = _task_of(cls)
    algo = name or cls.__name__
    aliases = (cls.__name__,) if cls.__name__.lower() != algo.lower() else ()
    doc = (inspect.getdoc(cls) or "").strip().split("\n", 1)[0]
    return AlgorithmInfo(
        algo,
        task,
        f"{cls.__module__}:{cls.__qualname__}",
        _params_from_signature(cls),
        aliases=aliases,
        doc=doc or f"{cls.__name__} (plugin)",
    )


def _task_of(cls: type) -> str:
    from sklearn.base import (
        ClusterMixin,
        TransformerMixin,
        is_classifier,
        is_outlier_detector,
        is_regressor,
    )

    try:
        probe: Any = cls()
    except Exception:
        probe = None
    if probe is not None:
        try:
            if is_outlier_detector(probe):
                return "outlier"
            if is_classifier(probe):
                return "classifier"
            if is_regressor(probe):
                return "regressor"
        except Exception as exc:  # tags of a half-conforming estimator: use the mixins
            log.debug("%s: no usable scikit-learn tags (%s)", cls.__name__, exc)
    from sklearn.base import ClassifierMixin, OutlierMixin, RegressorMixin

    for mixin, task in (
        (OutlierMixin, "outlier"),
        (ClassifierMixin, "classifier"),
        (RegressorMixin, "regressor"),
        (ClusterMixin, "clusterer"),
        (TransformerMixin, "transformer"),
    ):
        if issubclass(cls, mixin):
            return task
    raise TypeError(
        f"{cls.__name__} is not a classifier, regressor, clusterer, outlier detector or "
        "transformer by scikit-learn's mixins and tags"
    )


def _params_from_signature(cls: type) -> ParamSet:
    """Declare each ``__init__`` keyword; values stay loosely typed (the class checks them)."""
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return ParamSet(open=True)
    params: list[Param] = []
    open_ = False
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            open_ = True
            continue
        if p.kind is p.VAR_POSITIONAL:
            continue
        default = p.default
        if isinstance(default, bool):
            kind = "bool"
        elif isinstance(default, int | float):
            kind = "number"
        else:
            kind = "any"
        params.append(Param(name=p.name, kind=kind, nullable=True))
    return ParamSet(tuple(params), open=open_)


def estimator_class(info: AlgorithmInfo) -> type:
    """Import the class ``info`` names, or say which ``pip install`` provides it."""
    module_name, _, qualname = info.estimator.partition(":")
    if info.extra in _EXTRA_LIBRARY:
        require(_EXTRA_LIBRARY[info.extra], info.extra)
    if module_name.split(".")[0] == "sklearn":
        require("sklearn", "ml")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise MissingDependency(
            f"algorithm {info.name} needs the Python module {module_name!r}, which cannot be "
            f"imported ({exc}); install the package that provides it"
        ) from exc
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise MissingDependency(
                f"algorithm {info.name}: {module_name!r} has no {qualname!r}; "
                "the installed package may be too old or too new"
            )
    if not inspect.isclass(obj):
        raise MissingDependency(f"algorithm {info.name}: {info.estimator!r} is not a class")
    return obj


def make_estimator(info: AlgorithmInfo, checked_params: dict[str, Any]) -> Any:
    """A new, unfitted estimator: Kepler's defaults, then the user's checked parameters."""
    cls = estimator_class(info)
    _refuse_same_target(info, checked_params)
    kwargs = dict(info.defaults)
    kwargs.update(to_kwargs(info.params, checked_params))
    if info.extra == "xgboost" and "device" in kwargs:
        # XGBoost knows cpu and cuda, not auto; Kepler's torch MLP resolves its own in fit.
        from kepler.ml.devices import resolve_device

        kwargs["device"] = resolve_device(kwargs["device"])
    layers = kwargs.get("hidden_layer_sizes")
    # scikit-learn wants a tuple; Kepler's own torch MLP reads the text itself.
    if isinstance(layers, str) and info.estimator.startswith("sklearn."):
        kwargs["hidden_layer_sizes"] = parse_layers(layers)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise BadParameter(
            f"{info.name} does not accept these parameters: {exc}",
            detail={"algorithm": info.name},
        ) from exc


def _refuse_same_target(info: AlgorithmInfo, checked: dict[str, Any]) -> None:
    """PCA's ``k`` and ``variance`` both set n_components: say so instead of picking one."""
    seen: dict[str, str] = {}
    for name in checked:
        param = info.params.lookup(name)
        kwarg = param.kwarg if param else name
        if kwarg in seen:
            raise BadParameter(
                f"{info.name}: give {seen[kwarg]} or {name}, not both",
                detail={"parameter": name},
            )
        seen[kwarg] = name


def parse_layers(text: str) -> tuple[int, ...]:
    """``"50-50"`` (MLTK), ``"64,32"`` or ``"100"`` -> a tuple of layer widths."""
    parts = [p for p in text.replace("-", ",").replace(" ", ",").split(",") if p]
    try:
        sizes = tuple(int(p) for p in parts)
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise BadParameter(
            f"parameter hidden_layer_sizes={text!r} is not valid: expected positive layer "
            "widths such as 50-50 or 64,32",
            detail={"parameter": "hidden_layer_sizes", "value": text},
        )
    return sizes
