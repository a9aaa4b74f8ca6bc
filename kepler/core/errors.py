"""One exception tree for every part of Kepler, with messages safe to show a user.

Each class carries the HTTP status the bridge answers with and a stable ``code`` that the
SDK and the search command use to rebuild the same class on their side::

    KeplerError                      500 internal
    ├── InvalidSpec                  400 invalid_spec        (a spec line that does not parse)
    │   ├── UnknownAlgorithm         400 unknown_algorithm   (suggests the closest names)
    │   └── BadParameter             400 bad_parameter       (names the allowed parameters)
    ├── DataError                    422 data_error          (the data cannot be trained on)
    │   └── UntrustedModel           422 untrusted_model     (a model upload: names the types)
    ├── NotFound                     404 not_found
    │   ├── ModelNotFound            404 model_not_found
    │   ├── VersionNotFound          404 version_not_found
    │   ├── DatasetNotFound          404 dataset_not_found
    │   ├── JobNotFound              404 job_not_found
    │   ├── ScheduleNotFound         404 schedule_not_found
    │   ├── MonitorNotFound          404 monitor_not_found
    │   └── BaselineNotFound         404 baseline_not_found  (says how to make one)
    ├── Conflict                     409 conflict
    │   ├── DatasetIncomplete        409 dataset_incomplete  (an upload never finished)
    │   └── NotReproducible          409 not_reproducible    (dataset gone, packages differ)
    ├── Unauthorized                 401 unauthorized
    ├── Forbidden                    403 forbidden           (names the role or token needed)
    ├── PayloadTooLarge              413 payload_too_large
    ├── RequestTimeout               408 request_timeout     (a request body stopped arriving)
    ├── TooManyRequests              429 too_many_requests   (retry after detail.retry_after_s)
    ├── JobFailed                    500 job_failed
    │   └── JobCancelled             409 job_cancelled       (names who cancelled it)
    ├── MissingDependency            500 missing_dependency  (names the pip install)
    ├── BridgeUnavailable            503 bridge_unavailable  (raised client-side only)
    ├── DeployError                  502 deploy_error        (`kepler deploy`: Google Cloud said no)
    │   ├── DeployConfigError        400 deploy_config_error (a setting is missing or wrong)
    │   ├── CloudAuthMissing         401 cloud_auth_missing  (no Google credentials here)
    │   ├── CloudProjectNotFound     404 cloud_project_not_found
    │   ├── CloudResourceNotFound    404 cloud_resource_not_found (nothing deployed there)
    │   ├── CloudApiDisabled         403 cloud_api_disabled  (names the `gcloud services enable`)
    │   ├── CloudPermissionDenied    403 cloud_permission_denied (names the missing permission)
    │   └── CloudQuotaExceeded       429 cloud_quota_exceeded
    ├── SplunkError                  502 splunk_error        (splunkd answered unexpectedly)
    │   ├── SearchFailed             400 search_failed       (the search's FATAL/ERROR message)
    │   ├── SplunkLoginFailed        401 splunk_login_failed (splunkd refused the credentials)
    │   └── SplunkUnavailable        503 splunk_unavailable  (splunkd cannot be reached)
    └── HecError                     502 hec_error           (Splunk's HTTP Event Collector)
        ├── HecNotConfigured         400 hec_not_configured  (names the KEPLER_HEC_* settings)
        ├── HecRejected              422 hec_rejected        (names the offending event's number)
        ├── HecUnavailable           503 hec_unavailable     (HEC unreachable or busy)
        └── HecQueueFull             507 hec_queue_full      (the disk queue reached its bound)

Messages never contain secrets, file paths of the server's home, or tracebacks.
"""

from __future__ import annotations

from typing import Any, ClassVar


class KeplerError(Exception):
    """Root of every error Kepler raises on purpose."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init__(self, message: str, *, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail: dict[str, Any] = dict(detail or {})

    def to_dict(self) -> dict[str, Any]:
        """The wire form the bridge sends and :func:`from_dict` reads back."""
        body: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        return body

    def __str__(self) -> str:
        return self.message


class InvalidSpec(KeplerError):
    status = 400
    code = "invalid_spec"


class UnknownAlgorithm(InvalidSpec):
    code = "unknown_algorithm"


class BadParameter(InvalidSpec):
    code = "bad_parameter"


class DataError(KeplerError):
    status = 422
    code = "data_error"


class UntrustedModel(DataError):
    code = "untrusted_model"


class NotFound(KeplerError):
    status = 404
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class VersionNotFound(NotFound):
    code = "version_not_found"


class DatasetNotFound(NotFound):
    code = "dataset_not_found"


class JobNotFound(NotFound):
    code = "job_not_found"


class ScheduleNotFound(NotFound):
    code = "schedule_not_found"


class MonitorNotFound(NotFound):
    code = "monitor_not_found"


class BaselineNotFound(NotFound):
    code = "baseline_not_found"


class Conflict(KeplerError):
    status = 409
    code = "conflict"


class DatasetIncomplete(Conflict):
    code = "dataset_incomplete"


class NotReproducible(Conflict):
    """A version cannot be reproduced as it is: its dataset is gone, or the installed
    package versions differ from its recorded ones (``detail["packages"]`` lists them)."""

    code = "not_reproducible"


class Unauthorized(KeplerError):
    status = 401
    code = "unauthorized"


class Forbidden(KeplerError):
    status = 403
    code = "forbidden"


class PayloadTooLarge(KeplerError):
    status = 413
    code = "payload_too_large"


class RequestTimeout(KeplerError):
    status = 408
    code = "request_timeout"


class TooManyRequests(KeplerError):
    status = 429
    code = "too_many_requests"


class JobFailed(KeplerError):
    status = 500
    code = "job_failed"


class JobCancelled(JobFailed):
    status = 409
    code = "job_cancelled"


class MissingDependency(KeplerError):
    status = 500
    code = "missing_dependency"


class BridgeUnavailable(KeplerError):
    status = 503
    code = "bridge_unavailable"


class RegistryUnavailable(KeplerError):
    """The model registry (MLflow's database) did not answer a lookup: busy or down,
    not a model that is missing."""

    status = 503
    code = "registry_unavailable"


class DeployError(KeplerError):
    status = 502
    code = "deploy_error"


class DeployConfigError(DeployError):
    status = 400
    code = "deploy_config_error"


class CloudAuthMissing(DeployError):
    status = 401
    code = "cloud_auth_missing"


class CloudProjectNotFound(DeployError):
    status = 404
    code = "cloud_project_not_found"


class CloudResourceNotFound(DeployError):
    status = 404
    code = "cloud_resource_not_found"


class CloudApiDisabled(DeployError):
    status = 403
    code = "cloud_api_disabled"


class CloudPermissionDenied(DeployError):
    status = 403
    code = "cloud_permission_denied"


class CloudQuotaExceeded(DeployError):
    status = 429
    code = "cloud_quota_exceeded"


class SplunkError(KeplerError):
    status = 502
    code = "splunk_error"


class SearchFailed(SplunkError):
    status = 400
    code = "search_failed"


class SplunkLoginFailed(SplunkError):
    status = 401
    code = "splunk_login_failed"


class SplunkUnavailable(SplunkError):
    status = 503
    code = "splunk_unavailable"


class HecError(KeplerError):
    status = 502
    code = "hec_error"


class HecNotConfigured(HecError):
    status = 400
    code = "hec_not_configured"


class HecRejected(HecError):
    status = 422
    code = "hec_rejected"


class HecUnavailable(HecError):
    status = 503
    code = "hec_unavailable"


class HecQueueFull(HecError):
    status = 507
    code = "hec_queue_full"


def _all_subclasses(cls: type[KeplerError]) -> list[type[KeplerError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found.extend(_all_subclasses(sub))
    return found


ERRORS_BY_CODE: dict[str, type[KeplerError]] = {c.code: c for c in _all_subclasses(KeplerError)}


def from_dict(body: dict[str, Any], *, status: int | None = None) -> KeplerError:
    """Rebuild the typed error from the bridge's JSON ``{"code", "message", ...}``."""
    cls = ERRORS_BY_CODE.get(str(body.get("code", "")), KeplerError)
    message = str(body.get("message") or f"the bridge answered HTTP {status}")
    detail = body.get("detail")
    return cls(message, detail=detail if isinstance(detail, dict) else None)


def require(module: str, extra: str) -> Any:
    """Import an optional heavy library, or say which ``pip install`` brings it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"this needs the Python package {module!r}, which is not installed; "
            f"install it with: pip install 'kepler-ml[{extra}]'"
        ) from exc
