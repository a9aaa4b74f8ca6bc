"""Create-or-update and delete Cloud Run resources through Google's client library.

Each call reads the resource first: absent, it is created; present, it is updated in place
(the etag read is sent back, so a concurrent change is refused rather than overwritten).
Every long-running operation is waited on. Google's errors become Kepler's, each naming
the fix (``google.rpc.ErrorInfo`` reasons are read where the API sends them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kepler.core.errors import (
    CloudApiDisabled,
    CloudAuthMissing,
    CloudPermissionDenied,
    CloudProjectNotFound,
    CloudQuotaExceeded,
    CloudResourceNotFound,
    DeployError,
    require,
)
from kepler.deploy.resources import run_v2

OPERATION_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Applied:
    """What a deploy did: ``created``, ``updated`` or ``deleted``, and the resource's state."""

    action: str
    name: str
    uri: str = ""
    revision: str = ""


def _error_info(exc: Any) -> tuple[str, dict[str, str]]:
    reason = getattr(exc, "reason", None) or ""
    metadata = dict(getattr(exc, "metadata", None) or {})
    return reason, metadata


def translate(exc: Exception, resource: str, project: str) -> DeployError:
    """Google's error for a call on ``resource`` as the Kepler error a user can act on."""
    exceptions = require("google.api_core.exceptions", "deploy")
    auth_exceptions = require("google.auth.exceptions", "deploy")
    if isinstance(exc, auth_exceptions.DefaultCredentialsError):
        return CloudAuthMissing(
            "no Google Cloud credentials on this machine; run `gcloud auth "
            "application-default login` (or set GOOGLE_APPLICATION_CREDENTIALS to a "
            "service account key file) and try again"
        )
    message = str(getattr(exc, "message", "") or exc)
    reason, meta = _error_info(exc)
    detail = {"resource": resource, "reason": reason} if reason else {"resource": resource}
    if isinstance(exc, exceptions.Unauthenticated):
        return CloudAuthMissing(
            "Google Cloud refused the credentials on this machine (expired or revoked); "
            "run `gcloud auth application-default login` and try again",
            detail=detail,
        )
    if reason == "SERVICE_DISABLED":
        service = meta.get("service", "run.googleapis.com")
        return CloudApiDisabled(
            f"the {service} API is not enabled in project {project!r}; enable it with "
            f"`gcloud services enable {service} --project {project}` and try again in a "
            "few minutes",
            detail=detail,
        )
    if reason == "CONSUMER_INVALID":
        return CloudProjectNotFound(
            f"Google Cloud project {project!r} does not exist or this account cannot see "
            "it; check --project / KEPLER_DEPLOY_PROJECT against `gcloud projects list`",
            detail=detail,
        )
    if isinstance(exc, exceptions.PermissionDenied):
        permission = meta.get("permission", "")
        needs = f" (missing {permission})" if permission else ""
        return CloudPermissionDenied(
            f"this account may not change {resource} in project {project!r}{needs}; ask "
            "an owner to grant roles/run.developer on the project, and "
            "roles/iam.serviceAccountUser on the runtime service account "
            "(KEPLER_DEPLOY_SERVICE_ACCOUNT)",
            detail={**detail, "permission": permission} if permission else detail,
        )
    if isinstance(exc, exceptions.ResourceExhausted):
        metric = meta.get("quota_metric") or meta.get("quota_limit") or ""
        which = f" ({metric})" if metric else ""
        return CloudQuotaExceeded(
            f"a Cloud Run quota is exhausted in project {project!r}{which}; lower "
            "KEPLER_DEPLOY_MAX_INSTANCES / KEPLER_DEPLOY_WORKER_INSTANCES or the CPU and "
            "memory, or request more quota (IAM & Admin > Quotas), then try again",
            detail={**detail, "quota": metric} if metric else detail,
        )
    if isinstance(exc, exceptions.NotFound):
        return CloudResourceNotFound(
            f"Cloud Run has no {resource}: check the project ({project!r}), the region "
            "(--region / KEPLER_DEPLOY_REGION) and the name",
            detail=detail,
        )
    if isinstance(exc, exceptions.InvalidArgument | exceptions.FailedPrecondition):
        return DeployError(
            f"Cloud Run refused {resource}: {message}; fix the setting it names "
            "(see docs/deploy.md) and try again",
            detail=detail,
        )
    return DeployError(f"Cloud Run failed on {resource}: {message}", detail=detail)


@contextlib.contextmanager
def _google_errors(resource: str, project: str) -> Iterator[None]:
    exceptions = require("google.api_core.exceptions", "deploy")
    auth_exceptions = require("google.auth.exceptions", "deploy")
    try:
        yield
    except (exceptions.GoogleAPICallError, auth_exceptions.DefaultCredentialsError) as exc:
        raise translate(exc, resource, project) from None


class CloudRun:
    """Google's Services and WorkerPools clients for one project.

    ``services``/``worker_pools`` default to clients on Application Default Credentials;
    tests pass clients over their own transport.
    """

    def __init__(self, project: str, services: Any = None, worker_pools: Any = None) -> None:
        self.project = project
        self._services = services
        self._worker_pools = worker_pools

    @property
    def services(self) -> Any:
        if self._services is None:
            with _google_errors("the Cloud Run services client", self.project):
                self._services = run_v2().ServicesClient()
        return self._services

    @property
    def worker_pools(self) -> Any:
        if self._worker_pools is None:
            with _google_errors("the Cloud Run worker pools client", self.project):
                self._worker_pools = run_v2().WorkerPoolsClient()
        return self._worker_pools

    def _get(self, getter: Any, name: str) -> Any:
        exceptions = require("google.api_core.exceptions", "deploy")
        try:
            return getter(name=name)
        except exceptions.NotFound as exc:
            # A plain NotFound is the resource itself: create it. One with an ErrorInfo
            # reason is about its project, and is the user's to fix.
            reason, _ = _error_info(exc)
            if reason:
                raise
            return None

    def apply_service(self, service: Any) -> Applied:
        action, done = self._create_or_update(
            service,
            "/services/",
            run_v2().Service,
            self.services.get_service,
            lambda parent, body, rid: self.services.create_service(
                parent=parent, service=body, service_id=rid
            ),
            lambda body: self.services.update_service(service=body),
        )
        return Applied(action, service.name, done.uri, done.latest_created_revision)

    def apply_worker_pool(self, pool: Any) -> Applied:
        action, done = self._create_or_update(
            pool,
            "/workerPools/",
            run_v2().WorkerPool,
            self.worker_pools.get_worker_pool,
            lambda parent, body, rid: self.worker_pools.create_worker_pool(
                parent=parent, worker_pool=body, worker_pool_id=rid
            ),
            lambda body: self.worker_pools.update_worker_pool(worker_pool=body),
        )
        return Applied(action, pool.name, "", done.latest_created_revision)

    def _create_or_update(
        self,
        resource: Any,
        collection: str,
        copy: Callable[[Any], Any],
        get: Callable[..., Any],
        create: Callable[[str, Any, str], Any],
        update: Callable[[Any], Any],
    ) -> tuple[str, Any]:
        """Create ``resource`` or, when it exists, update it with the etag read (so a
        concurrent change is refused, not overwritten); wait for the operation."""
        parent, _, resource_id = resource.name.rpartition(collection)
        with _google_errors(resource.name, self.project):
            existing = self._get(get, resource.name)
            body = copy(resource)
            if existing is None:
                body.name = ""  # composed by the API from parent and the id
                op, action = create(parent, body, resource_id), "created"
            else:
                body.etag = existing.etag
                op, action = update(body), "updated"
            return action, op.result(timeout=OPERATION_TIMEOUT_S)

    def delete_service(self, name: str) -> Applied:
        with _google_errors(name, self.project):
            op = self.services.delete_service(name=name)
            op.result(timeout=OPERATION_TIMEOUT_S)
        return Applied("deleted", name)
