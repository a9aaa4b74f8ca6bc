"""Kepler's SDK: train, version and serve models on Splunk data from Python.

    import kepler as kp
    result = kp.fit(df, "RandomForestClassifier", target="failure", into="pump")
    best = kp.automl(df, target="failure", into="pump", time_budget="10m")
    scored = kp.apply(new_df, "pump")          # or "pump@3", "pump:production"
    answer = kp.predict([{"pressure": 3.1}], "pump")  # a few rows, from memory

The SDK's functions load on first use, so ``import kepler.core`` stays standard-library
only (it also runs inside Splunk's Python, which has no httpx, pandas or pyarrow).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kepler._version import __version__
from kepler.core.errors import (
    BadParameter,
    BaselineNotFound,
    BridgeUnavailable,
    Conflict,
    DataError,
    DatasetIncomplete,
    DatasetNotFound,
    DeployError,
    Forbidden,
    HecError,
    HecNotConfigured,
    HecQueueFull,
    HecRejected,
    HecUnavailable,
    InvalidSpec,
    JobCancelled,
    JobFailed,
    JobNotFound,
    KeplerError,
    MissingDependency,
    ModelNotFound,
    NotFound,
    NotReproducible,
    PayloadTooLarge,
    RegistryUnavailable,
    RequestTimeout,
    SearchFailed,
    SplunkError,
    SplunkLoginFailed,
    SplunkUnavailable,
    TooManyRequests,
    Unauthorized,
    UnknownAlgorithm,
    UntrustedModel,
    VersionNotFound,
)

if TYPE_CHECKING:
    from kepler._api import (
        algorithms,
        apply,
        automl,
        baseline,
        cancel,
        client,
        compare,
        connect,
        dataset,
        datasets,
        delete_model,
        deletions,
        drift,
        fit,
        jobs,
        models,
        monitor,
        monitors,
        predict,
        promote,
        register,
        remove_monitor,
        reproduce,
        schedule,
        schedules,
        score,
        summary,
        unalias,
        unschedule,
    )
    from kepler._client import Client
    from kepler._plots import plot_drift
    from kepler._results import AutoMLResult, FitResult, ModelSummary, ReproduceResult
    from kepler._to_splunk import to_splunk
    from kepler.splunk.search import from_splunk
    from kepler.splunk.settings import SplunkSettings

_LAZY = {
    "algorithms": "kepler._api",
    "apply": "kepler._api",
    "automl": "kepler._api",
    "baseline": "kepler._api",
    "drift": "kepler._api",
    "cancel": "kepler._api",
    "client": "kepler._api",
    "compare": "kepler._api",
    "promote": "kepler._api",
    "unalias": "kepler._api",
    "connect": "kepler._api",
    "dataset": "kepler._api",
    "datasets": "kepler._api",
    "delete_model": "kepler._api",
    "deletions": "kepler._api",
    "fit": "kepler._api",
    "forecast": "kepler._api",
    "jobs": "kepler._api",
    "models": "kepler._api",
    "monitor": "kepler._api",
    "monitors": "kepler._api",
    "remove_monitor": "kepler._api",
    "predict": "kepler._api",
    "register": "kepler._api",
    "summary": "kepler._api",
    "score": "kepler._api",
    "reproduce": "kepler._api",
    "ReproduceResult": "kepler._results",
    "AutoMLResult": "kepler._results",
    "ModelSummary": "kepler._results",
    "plot_drift": "kepler._plots",
    "schedule": "kepler._api",
    "schedules": "kepler._api",
    "unschedule": "kepler._api",
    "from_splunk": "kepler.splunk.search",
    "SplunkSettings": "kepler.splunk.settings",
    "Client": "kepler._client",
    "FitResult": "kepler._results",
    "to_splunk": "kepler._to_splunk",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kepler' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "AutoMLResult",
    "BadParameter",
    "BaselineNotFound",
    "BridgeUnavailable",
    "Client",
    "Conflict",
    "DataError",
    "DatasetIncomplete",
    "DatasetNotFound",
    "DeployError",
    "FitResult",
    "Forbidden",
    "HecError",
    "HecNotConfigured",
    "HecQueueFull",
    "HecRejected",
    "HecUnavailable",
    "InvalidSpec",
    "JobCancelled",
    "JobFailed",
    "JobNotFound",
    "KeplerError",
    "MissingDependency",
    "ModelNotFound",
    "ModelSummary",
    "NotFound",
    "NotReproducible",
    "PayloadTooLarge",
    "RegistryUnavailable",
    "ReproduceResult",
    "RequestTimeout",
    "SearchFailed",
    "SplunkError",
    "SplunkLoginFailed",
    "SplunkSettings",
    "SplunkUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "UnknownAlgorithm",
    "UntrustedModel",
    "VersionNotFound",
    "__version__",
    "algorithms",
    "apply",
    "automl",
    "baseline",
    "cancel",
    "client",
    "compare",
    "connect",
    "dataset",
    "datasets",
    "delete_model",
    "deletions",
    "drift",
    "fit",
    "forecast",
    "from_splunk",
    "jobs",
    "models",
    "monitor",
    "monitors",
    "plot_drift",
    "predict",
    "promote",
    "register",
    "remove_monitor",
    "reproduce",
    "schedule",
    "schedules",
    "score",
    "summary",
    "to_splunk",
    "unalias",
    "unschedule",
]
