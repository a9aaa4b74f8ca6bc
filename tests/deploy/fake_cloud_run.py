"""An in-process gRPC server playing Cloud Run Admin API v2 for the real client library.

It serves ``google.cloud.run.v2.Services``, ``google.cloud.run.v2.WorkerPools`` and
``google.longrunning.Operations`` on a loopback port, keeps resources in memory, records
every request it receives, and answers errors the way Google's front end does: a gRPC
status carrying ``google.rpc.Status`` details (``ErrorInfo``, ``QuotaFailure``) in the
``grpc-status-details-bin`` trailer, which google-api-core turns into typed exceptions.
"""

from __future__ import annotations

import threading
import uuid
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.cloud import run_v2
from google.longrunning import operations_pb2
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status


@dataclass
class Failure:
    """An error to answer: a google.rpc.Code and message, with its detail messages."""

    code: int
    message: str
    details: list[Any] = field(default_factory=list)

    def status(self) -> Any:
        packed = []
        for d in self.details:
            a = any_pb2.Any()
            a.Pack(d)
            packed.append(a)
        return rpc_status.to_status(
            status_pb2.Status(code=self.code, message=self.message, details=packed)
        )


def project_not_found(project: str) -> Failure:
    """What Google answers for a project that does not exist (or is invisible)."""
    msg = f"Permission denied on resource project {project}."
    return Failure(
        code_pb2.PERMISSION_DENIED,
        msg,
        [
            error_details_pb2.ErrorInfo(
                reason="CONSUMER_INVALID",
                domain="googleapis.com",
                metadata={
                    "consumer": f"projects/{project}",
                    "containerInfo": project,
                    "service": "run.googleapis.com",
                },
            ),
            error_details_pb2.LocalizedMessage(locale="en-US", message=msg),
        ],
    )


def permission_denied(permission: str, resource: str) -> Failure:
    return Failure(
        code_pb2.PERMISSION_DENIED,
        f"Permission '{permission}' denied on resource '{resource}' (or resource may not exist).",
        [
            error_details_pb2.ErrorInfo(
                reason="IAM_PERMISSION_DENIED",
                domain="run.googleapis.com",
                metadata={"permission": permission, "resource": resource},
            )
        ],
    )


def api_disabled(project_number: str) -> Failure:
    return Failure(
        code_pb2.PERMISSION_DENIED,
        f"Cloud Run Admin API has not been used in project {project_number} before or it is "
        "disabled.",
        [
            error_details_pb2.ErrorInfo(
                reason="SERVICE_DISABLED",
                domain="googleapis.com",
                metadata={
                    "consumer": f"projects/{project_number}",
                    "service": "run.googleapis.com",
                },
            )
        ],
    )


def quota_exceeded(project: str, metric: str) -> Failure:
    return Failure(
        code_pb2.RESOURCE_EXHAUSTED,
        f"Quota exceeded for quota metric '{metric}' of service 'run.googleapis.com' for "
        f"consumer 'project_number:{project}'.",
        [
            error_details_pb2.ErrorInfo(
                reason="RATE_LIMIT_EXCEEDED",
                domain="googleapis.com",
                metadata={
                    "quota_metric": metric,
                    "quota_limit": "WriteRequestsPerMinutePerProject",
                    "service": "run.googleapis.com",
                    "consumer": f"projects/{project}",
                },
            ),
            error_details_pb2.QuotaFailure(
                violations=[
                    error_details_pb2.QuotaFailure.Violation(
                        subject=f"project:{project}", description=metric
                    )
                ]
            ),
        ],
    )


class FakeCloudRun:
    """Services, WorkerPools and Operations over gRPC on 127.0.0.1:<port>."""

    def __init__(self) -> None:
        self.services: dict[str, Any] = {}
        self.worker_pools: dict[str, Any] = {}
        self.requests: list[tuple[str, Any]] = []
        # method name -> Failure, answered (once each) instead of doing the call.
        self.failures: dict[str, Failure] = {}
        self._operations: dict[str, operations_pb2.Operation] = {}
        self._lock = threading.Lock()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self._server.add_generic_rpc_handlers(
            [
                self._handlers(
                    "google.cloud.run.v2.Services",
                    {
                        "GetService": (run_v2.GetServiceRequest, run_v2.Service, self._get_service),
                        "CreateService": (run_v2.CreateServiceRequest, None, self._create_service),
                        "UpdateService": (run_v2.UpdateServiceRequest, None, self._update_service),
                        "DeleteService": (run_v2.DeleteServiceRequest, None, self._delete_service),
                    },
                ),
                self._handlers(
                    "google.cloud.run.v2.WorkerPools",
                    {
                        "GetWorkerPool": (
                            run_v2.GetWorkerPoolRequest,
                            run_v2.WorkerPool,
                            self._get_pool,
                        ),
                        "CreateWorkerPool": (
                            run_v2.CreateWorkerPoolRequest,
                            None,
                            self._create_pool,
                        ),
                        "UpdateWorkerPool": (
                            run_v2.UpdateWorkerPoolRequest,
                            None,
                            self._update_pool,
                        ),
                    },
                ),
                grpc.method_handlers_generic_handler(
                    "google.longrunning.Operations",
                    {
                        "GetOperation": grpc.unary_unary_rpc_method_handler(
                            self._get_operation,
                            request_deserializer=operations_pb2.GetOperationRequest.FromString,
                            response_serializer=operations_pb2.Operation.SerializeToString,
                        )
                    },
                ),
            ]
        )
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    # ------------------------------------------------------------------ plumbing

    def _handlers(self, service: str, methods: dict[str, Any]) -> Any:
        table = {}
        for method, (request_cls, response_cls, fn) in methods.items():
            table[method] = grpc.unary_unary_rpc_method_handler(
                self._recorded(method, fn),
                request_deserializer=request_cls.deserialize,
                response_serializer=(
                    response_cls.serialize
                    if response_cls is not None
                    else operations_pb2.Operation.SerializeToString
                ),
            )
        return grpc.method_handlers_generic_handler(service, table)

    def _recorded(self, method: str, fn: Any) -> Any:
        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            with self._lock:
                self.requests.append((method, request))
                failure = self.failures.pop(method, None)
            if failure is not None:
                context.abort_with_status(failure.status())
            return fn(request, context)

        return handle

    def start(self) -> FakeCloudRun:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(grace=None)

    def calls(self, method: str) -> list[Any]:
        return [r for m, r in self.requests if m == method]

    def _operation(self, resource: Any, message_cls: Any) -> operations_pb2.Operation:
        """A not-yet-done operation: the client must poll GetOperation to see it finish."""
        parent = resource.name.split("/services/")[0].split("/workerPools/")[0]
        name = f"{parent}/operations/{uuid.uuid4()}"
        meta = any_pb2.Any()
        meta.Pack(message_cls.pb(resource))
        done = operations_pb2.Operation(name=name, done=True, metadata=meta)
        done.response.Pack(message_cls.pb(resource))
        self._operations[name] = done
        return operations_pb2.Operation(name=name, done=False, metadata=meta)

    def _get_operation(self, request: Any, context: grpc.ServicerContext) -> Any:
        with self._lock:
            self.requests.append(("GetOperation", request))
        op = self._operations.get(request.name)
        if op is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"operation {request.name} not found")
        return op

    @staticmethod
    def _missing(name: str, kind: str) -> str:
        """Cloud Run's wording for an absent resource (it names the project and region)."""
        _, project, _, region, _, resource_id = name.split("/")
        return (
            f"Resource '{resource_id}' of kind '{kind}' in region '{region}' in project "
            f"'{project}' does not exist."
        )

    @staticmethod
    def _stamp(resource: Any, generation: int, kind: str) -> None:
        resource.generation = generation
        resource.etag = f'"{uuid.uuid4().hex[:12]}"'
        resource_id = resource.name.rsplit("/", 1)[-1]
        resource.latest_created_revision = (
            f"{resource.name.rsplit('/', 2)[0]}/revisions/{resource_id}-{generation:05d}-abc"
        )
        if kind == "service":
            resource.uri = f"https://{resource_id}-xyz123-uc.a.run.app"

    # ------------------------------------------------------------------ Services

    def _get_service(self, request: Any, context: grpc.ServicerContext) -> Any:
        found = self.services.get(request.name)
        if found is None:
            context.abort(grpc.StatusCode.NOT_FOUND, self._missing(request.name, "SERVICE"))
        return found

    def _create_service(self, request: Any, context: grpc.ServicerContext) -> Any:
        name = f"{request.parent}/services/{request.service_id}"
        if name in self.services:
            context.abort(
                grpc.StatusCode.ALREADY_EXISTS, f"Resource '{request.service_id}' already exists."
            )
        service = run_v2.Service(request.service)
        service.name = name
        self._stamp(service, 1, "service")
        self.services[name] = service
        return self._operation(service, run_v2.Service)

    def _update_service(self, request: Any, context: grpc.ServicerContext) -> Any:
        current = self.services.get(request.service.name)
        if current is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "Resource does not exist.")
        if request.service.etag and request.service.etag != current.etag:
            context.abort(grpc.StatusCode.ABORTED, "The etag does not match: reload and retry.")
        service = run_v2.Service(request.service)
        self._stamp(service, current.generation + 1, "service")
        self.services[service.name] = service
        return self._operation(service, run_v2.Service)

    def _delete_service(self, request: Any, context: grpc.ServicerContext) -> Any:
        service = self.services.pop(request.name, None)
        if service is None:
            context.abort(grpc.StatusCode.NOT_FOUND, self._missing(request.name, "SERVICE"))
        return self._operation(service, run_v2.Service)

    # ------------------------------------------------------------------ WorkerPools

    def _get_pool(self, request: Any, context: grpc.ServicerContext) -> Any:
        found = self.worker_pools.get(request.name)
        if found is None:
            context.abort(grpc.StatusCode.NOT_FOUND, self._missing(request.name, "WORKER_POOL"))
        return found

    def _create_pool(self, request: Any, context: grpc.ServicerContext) -> Any:
        pool = run_v2.WorkerPool(request.worker_pool)
        pool.name = f"{request.parent}/workerPools/{request.worker_pool_id}"
        self._stamp(pool, 1, "pool")
        self.worker_pools[pool.name] = pool
        return self._operation(pool, run_v2.WorkerPool)

    def _update_pool(self, request: Any, context: grpc.ServicerContext) -> Any:
        current = self.worker_pools.get(request.worker_pool.name)
        if current is None:
            context.abort(grpc.StatusCode.NOT_FOUND, "Resource does not exist.")
        if request.worker_pool.etag and request.worker_pool.etag != current.etag:
            context.abort(grpc.StatusCode.ABORTED, "The etag does not match: reload and retry.")
        pool = run_v2.WorkerPool(request.worker_pool)
        self._stamp(pool, current.generation + 1, "pool")
        self.worker_pools[pool.name] = pool
        return self._operation(pool, run_v2.WorkerPool)


def clients(fake: FakeCloudRun) -> tuple[Any, Any, grpc.Channel]:
    """Google's real clients, over a gRPC channel to ``fake`` (no credentials needed)."""
    from google.cloud.run_v2.services.services.transports import ServicesGrpcTransport
    from google.cloud.run_v2.services.worker_pools.transports import WorkerPoolsGrpcTransport

    channel = grpc.insecure_channel(f"127.0.0.1:{fake.port}")
    services = run_v2.ServicesClient(transport=ServicesGrpcTransport(channel=channel))
    pools = run_v2.WorkerPoolsClient(transport=WorkerPoolsGrpcTransport(channel=channel))
    return services, pools, channel
