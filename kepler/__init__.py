"""Kepler's SDK: train, version and serve models on Splunk data from Python.

    import kepler as kp
    result = kp.fit(df, "RandomForestClassifier", target="failure", into="pump")
    scored = kp.apply(new_df, "pump")          # or "pump@3", "pump:production"
"""

from kepler._api import (
    algorithms,
    apply,
    client,
    connect,
    delete_model,
    fit,
    jobs,
    models,
    summary,
)
from kepler._client import Client, FitResult
from kepler.core.errors import (
    BadParameter,
    BridgeUnavailable,
    Conflict,
    DataError,
    DatasetIncomplete,
    DatasetNotFound,
    InvalidSpec,
    JobFailed,
    JobNotFound,
    KeplerError,
    MissingDependency,
    ModelNotFound,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnknownAlgorithm,
    VersionNotFound,
)

from kepler._version import __version__

__all__ = [
    "BadParameter",
    "BridgeUnavailable",
    "Client",
    "Conflict",
    "DataError",
    "DatasetIncomplete",
    "DatasetNotFound",
    "FitResult",
    "InvalidSpec",
    "JobFailed",
    "JobNotFound",
    "KeplerError",
    "MissingDependency",
    "ModelNotFound",
    "NotFound",
    "PayloadTooLarge",
    "Unauthorized",
    "UnknownAlgorithm",
    "VersionNotFound",
    "__version__",
    "algorithms",
    "apply",
    "client",
    "connect",
    "delete_model",
    "fit",
    "jobs",
    "models",
    "summary",
]
