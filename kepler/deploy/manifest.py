"""The resources Kepler sends, as the YAML ``gcloud run ... replace`` accepts (``--dry-run``).

A v2 ``Service`` becomes a Knative ``serving.knative.dev/v1`` Service (the form of
``gcloud run services replace``); a v2 ``WorkerPool`` becomes a ``run.googleapis.com/v1``
WorkerPool (``gcloud beta run worker-pools replace``). Each field the v2 message sets has
its v1 place: a label, an annotation or a spec field.
"""

from __future__ import annotations

import json
from typing import Any

from kepler.core.errors import require
from kepler.deploy.resources import run_v2


def _split(name: str) -> tuple[str, str, str]:
    """``projects/P/locations/R/<kind>/ID`` -> (P, R, ID)."""
    parts = name.split("/")
    return parts[1], parts[3], parts[5]


def _env(env: Any) -> dict[str, Any]:
    if env.value_source and env.value_source.secret_key_ref.secret:
        ref = env.value_source.secret_key_ref
        return {
            "name": env.name,
            "valueFrom": {"secretKeyRef": {"name": ref.secret, "key": ref.version or "latest"}},
        }
    return {"name": env.name, "value": env.value}


def _probe(probe: Any) -> dict[str, Any] | None:
    if not probe or not probe.http_get.path:
        return None
    return {
        "httpGet": {"path": probe.http_get.path, "port": probe.http_get.port},
        "periodSeconds": probe.period_seconds,
        "timeoutSeconds": probe.timeout_seconds,
        "failureThreshold": probe.failure_threshold,
    }


def _container(c: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": c.name, "image": c.image}
    if c.args:
        out["args"] = list(c.args)
    if c.ports:
        out["ports"] = [{"name": p.name, "containerPort": p.container_port} for p in c.ports]
    out["env"] = [_env(e) for e in c.env]
    out["resources"] = {"limits": dict(c.resources.limits)}
    for key, probe in (("startupProbe", c.startup_probe), ("livenessProbe", c.liveness_probe)):
        if (shown := _probe(probe)) is not None:
            out[key] = shown
    return out


def _vpc_annotations(vpc: Any) -> dict[str, str]:
    if not vpc or not vpc.network_interfaces:
        return {}
    v2 = run_v2()
    interfaces = [
        {"network": n.network, "subnetwork": n.subnetwork} for n in vpc.network_interfaces
    ]
    egress = (
        "private-ranges-only"
        if vpc.egress == v2.VpcAccess.VpcEgress.PRIVATE_RANGES_ONLY
        else "all-traffic"
    )
    return {
        "run.googleapis.com/network-interfaces": json.dumps(interfaces, separators=(",", ":")),
        "run.googleapis.com/vpc-access-egress": egress,
    }


def _metadata(name: str, labels: Any) -> tuple[str, dict[str, Any]]:
    project, region, resource_id = _split(name)
    meta = {
        "name": resource_id,
        "namespace": project,
        "labels": {**dict(labels), "cloud.googleapis.com/location": region},
    }
    return resource_id, meta


def service_manifest(service: Any) -> dict[str, Any]:
    """``service`` (run_v2.Service) as a Knative Service document."""
    v2 = run_v2()
    _, meta = _metadata(service.name, service.labels)
    t = service.template
    meta["annotations"] = {
        "run.googleapis.com/ingress": "all"
        if service.ingress == v2.IngressTraffic.INGRESS_TRAFFIC_ALL
        else "internal",
    }
    if service.invoker_iam_disabled:
        meta["annotations"]["run.googleapis.com/invoker-iam-disabled"] = "true"
    annotations = {
        "autoscaling.knative.dev/minScale": str(t.scaling.min_instance_count),
        "autoscaling.knative.dev/maxScale": str(t.scaling.max_instance_count),
        **_vpc_annotations(t.vpc_access),
    }
    if t.execution_environment == v2.ExecutionEnvironment.EXECUTION_ENVIRONMENT_GEN2:
        annotations["run.googleapis.com/execution-environment"] = "gen2"
    container = t.containers[0]
    annotations["run.googleapis.com/cpu-throttling"] = str(container.resources.cpu_idle).lower()
    annotations["run.googleapis.com/startup-cpu-boost"] = str(
        container.resources.startup_cpu_boost
    ).lower()
    spec: dict[str, Any] = {
        "containerConcurrency": t.max_instance_request_concurrency,
        "timeoutSeconds": int(t.timeout.total_seconds()),
        "containers": [_container(c) for c in t.containers],
    }
    if t.service_account:
        spec["serviceAccountName"] = t.service_account
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "template": {
                "metadata": {"labels": dict(t.labels), "annotations": annotations},
                "spec": spec,
            },
            "traffic": [{"latestRevision": True, "percent": 100}],
        },
    }


def worker_pool_manifest(pool: Any) -> dict[str, Any]:
    """``pool`` (run_v2.WorkerPool) as a ``run.googleapis.com/v1`` WorkerPool document."""
    _, meta = _metadata(pool.name, pool.labels)
    t = pool.template
    meta["annotations"] = {
        "run.googleapis.com/launch-stage": "BETA",
        "run.googleapis.com/manualInstanceCount": str(pool.scaling.manual_instance_count),
    }
    spec: dict[str, Any] = {"containers": [_container(c) for c in t.containers]}
    if t.service_account:
        spec["serviceAccountName"] = t.service_account
    return {
        "apiVersion": "run.googleapis.com/v1",
        "kind": "WorkerPool",
        "metadata": meta,
        "spec": {
            "template": {
                "metadata": {
                    "labels": dict(t.labels),
                    "annotations": _vpc_annotations(t.vpc_access),
                },
                "spec": spec,
            },
        },
    }


def manifest(resource: Any) -> dict[str, Any]:
    v2 = run_v2()
    if isinstance(resource, v2.WorkerPool):
        return worker_pool_manifest(resource)
    return service_manifest(resource)


def to_yaml(resource: Any) -> str:
    """One YAML document for ``resource``, ready for ``gcloud run ... replace``."""
    yaml = require("yaml", "deploy")
    return str(yaml.safe_dump(manifest(resource), sort_keys=False, default_flow_style=False))
