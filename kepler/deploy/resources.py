"""Pure functions from :class:`DeploySettings` to the Cloud Run v2 resources Kepler sends.

Nothing here talks to Google: each function returns a ``run_v2.Service`` or
``run_v2.WorkerPool`` message, so the exact request can be printed (``--dry-run``),
tested, and sent by :mod:`kepler.deploy.ops`.
"""

from __future__ import annotations

import re
from typing import Any

from kepler._version import __version__
from kepler.core.errors import DeployConfigError, require
from kepler.deploy.settings import DeploySettings

# The port Cloud Run sends requests to; TLS ends at Google's front end, so the bridge
# serves plain HTTP here and needs no certificate in the container.
CONTAINER_PORT = 8080
# Writable on Cloud Run (an in-memory filesystem); nothing there outlives an instance.
CONTAINER_HOME = "/tmp/kepler"  # noqa: S108 - the container's own scratch folder
REQUEST_TIMEOUT_S = 600


def run_v2() -> Any:
    """The ``google.cloud.run_v2`` module, or MissingDependency naming the extra."""
    return require("google.cloud.run_v2", "deploy")


def label_value(text: str) -> str:
    """``text`` as a Google Cloud label value (lowercase, digits, ``_`` and ``-``, <= 63)."""
    return re.sub(r"[^a-z0-9_-]", "-", text.lower())[:63]


def resource_id(text: str, limit: int = 49) -> str:
    """``text`` as a Cloud Run resource id: lowercase letters, digits and hyphens."""
    slug = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")
    if not slug or not slug[0].isalpha():
        slug = f"m-{slug}"
    return slug[:limit].rstrip("-")


def _require(settings: DeploySettings, *names: str) -> None:
    missing = [n for n in names if not getattr(settings, n)]
    if missing:
        flags = {"project": "--project", "image": "--image", "region": "--region"}
        hints = [
            f"{flags[n]} or KEPLER_DEPLOY_{n.upper()}"
            if n in flags
            else f"KEPLER_DEPLOY_{n.upper()}"
            for n in missing
        ]
        raise DeployConfigError(
            f"kepler deploy needs {', '.join(missing)}: set {'; '.join(hints)} "
            "(see docs/deploy.md)",
            detail={"missing": missing},
        )


def _secret_env(name: str, secret: str) -> Any:
    """An environment variable read from Secret Manager when the instance starts."""
    v2 = run_v2()
    secret_id, _, version = secret.partition(":")
    return v2.EnvVar(
        name=name,
        value_source=v2.EnvVarSource(
            secret_key_ref=v2.SecretKeySelector(secret=secret_id, version=version or "latest")
        ),
    )


def _labels(settings: DeploySettings, component: str, **extra: str) -> dict[str, str]:
    labels = {label_value(k): label_value(v) for k, v in settings.labels.items()}
    labels.update(
        {
            "managed-by": "kepler",
            "kepler-component": component,
            "kepler-version": label_value(__version__),
        }
    )
    labels.update({k: label_value(v) for k, v in extra.items()})
    return labels


def _shared_env(settings: DeploySettings) -> list[Any]:
    """What the bridge and the workers both read: the broker, MLflow, Cloud Storage."""
    v2 = run_v2()
    bucket = settings.bucket.removeprefix("gs://").rstrip("/")
    plain = {
        "KEPLER_HOME": CONTAINER_HOME,
        "KEPLER_BROKER_URL": settings.broker_url,
        "KEPLER_TRACKING_URI": settings.tracking_uri,
        "KEPLER_DATASET_STORE": f"gs://{bucket}/datasets",
        "KEPLER_ARTIFACT_LOCATION": f"gs://{bucket}/mlartifacts",
    }
    return [v2.EnvVar(name=k, value=v) for k, v in plain.items()]


def _splunk_env(settings: DeploySettings) -> list[Any]:
    """HEC and splunkd's REST API for the bridge and the workers, when configured: URLs and
    the index as values, tokens as Secret Manager references."""
    v2 = run_v2()
    env: list[Any] = []
    if settings.hec_url:
        if not settings.hec_token_secret:
            raise DeployConfigError(
                "KEPLER_DEPLOY_HEC_URL is set without KEPLER_DEPLOY_HEC_TOKEN_SECRET: name the "
                "Secret Manager secret that holds the HEC token",
                detail={"missing": ["hec_token_secret"]},
            )
        env.append(v2.EnvVar(name="KEPLER_HEC_URL", value=settings.hec_url))
        if settings.hec_index:
            env.append(v2.EnvVar(name="KEPLER_HEC_INDEX", value=settings.hec_index))
        env.append(_secret_env("KEPLER_HEC_TOKEN", settings.hec_token_secret))
    if settings.splunk_url:
        if not settings.splunk_token_secret:
            raise DeployConfigError(
                "KEPLER_DEPLOY_SPLUNK_URL is set without KEPLER_DEPLOY_SPLUNK_TOKEN_SECRET: name "
                "the Secret Manager secret that holds the Splunk token",
                detail={"missing": ["splunk_token_secret"]},
            )
        env.append(v2.EnvVar(name="KEPLER_SPLUNK_URL", value=settings.splunk_url))
        env.append(_secret_env("KEPLER_SPLUNK_TOKEN", settings.splunk_token_secret))
    return env


def _vpc_access(settings: DeploySettings) -> Any:
    v2 = run_v2()
    if not settings.network:
        return None
    return v2.VpcAccess(
        network_interfaces=[
            v2.VpcAccess.NetworkInterface(
                network=settings.network, subnetwork=settings.subnetwork or settings.network
            )
        ],
        # Only private addresses (Memorystore) go through the VPC; Google APIs go direct.
        egress=v2.VpcAccess.VpcEgress.PRIVATE_RANGES_ONLY,
    )


def _http_container(image: str, env: list[Any], cpu: str, memory: str, args: list[str]) -> Any:
    v2 = run_v2()
    return v2.Container(
        name="bridge",
        image=image,
        args=args,
        env=[
            v2.EnvVar(name="KEPLER_HOST", value="0.0.0.0"),
            v2.EnvVar(name="KEPLER_PORT", value=str(CONTAINER_PORT)),
            *env,
        ],
        ports=[v2.ContainerPort(name="http1", container_port=CONTAINER_PORT)],
        resources=v2.ResourceRequirements(
            limits={"cpu": cpu, "memory": memory}, cpu_idle=True, startup_cpu_boost=True
        ),
        startup_probe=v2.Probe(
            http_get=v2.HTTPGetAction(path="/health", port=CONTAINER_PORT),
            period_seconds=5,
            timeout_seconds=4,
            failure_threshold=24,
        ),
        liveness_probe=v2.Probe(
            http_get=v2.HTTPGetAction(path="/health", port=CONTAINER_PORT),
            period_seconds=30,
            timeout_seconds=5,
            failure_threshold=3,
        ),
    )


def _service(
    settings: DeploySettings,
    service_id: str,
    container: Any,
    labels: dict[str, str],
    min_instances: int,
    max_instances: int,
) -> Any:
    v2 = run_v2()
    from google.protobuf import duration_pb2

    return v2.Service(
        name=f"{settings.parent}/services/{service_id}",
        labels=labels,
        ingress=v2.IngressTraffic.INGRESS_TRAFFIC_ALL,
        # The bridge checks its own bearer token on every route but /health, so callers
        # (Splunk, notebooks) need no Google identity; IAM still guards the control plane.
        invoker_iam_disabled=True,
        template=v2.RevisionTemplate(
            labels=labels,
            service_account=settings.service_account,
            scaling=v2.RevisionScaling(
                min_instance_count=min_instances, max_instance_count=max_instances
            ),
            max_instance_request_concurrency=settings.concurrency,
            timeout=duration_pb2.Duration(seconds=REQUEST_TIMEOUT_S),
            execution_environment=v2.ExecutionEnvironment.EXECUTION_ENVIRONMENT_GEN2,
            vpc_access=_vpc_access(settings),
            containers=[container],
        ),
    )


def _user_token_env(settings: DeploySettings) -> list[Any]:
    """``KEPLER_USER_TOKEN`` from its secret. None set: each instance makes a random one
    that no client knows, so the service answers the admin token only."""
    if settings.user_token_secret:
        return [_secret_env("KEPLER_USER_TOKEN", settings.user_token_secret)]
    return []


def bridge_service(settings: DeploySettings) -> Any:
    """The bridge as a Cloud Run service: HTTPS at Google's front end, token from Secret
    Manager, ``min_instances``..``max_instances`` with ``concurrency`` requests each."""
    _require(settings, "project", "region", "image", "broker_url", "tracking_uri", "bucket")
    env = [
        *_shared_env(settings),
        _secret_env("KEPLER_TOKEN", settings.token_secret),
        *_user_token_env(settings),
        _secret_env("KEPLER_DATABASE_URL", settings.database_url_secret),
        *_splunk_env(settings),
    ]
    container = _http_container(
        settings.image, env, settings.bridge_cpu, settings.bridge_memory, ["bridge"]
    )
    return _service(
        settings,
        settings.bridge_service,
        container,
        _labels(settings, "bridge"),
        settings.min_instances,
        settings.max_instances,
    )


def worker_pool(settings: DeploySettings) -> Any:
    """The Celery workers as a Cloud Run worker pool of ``worker_instances`` instances."""
    _require(settings, "project", "region", "image", "broker_url", "tracking_uri", "bucket")
    v2 = run_v2()
    env = [
        *_shared_env(settings),
        v2.EnvVar(name="KEPLER_WORKER_CONCURRENCY", value=str(settings.worker_concurrency)),
        _secret_env("KEPLER_DATABASE_URL", settings.database_url_secret),
        *_splunk_env(settings),
    ]
    labels = _labels(settings, "workers")
    return v2.WorkerPool(
        name=f"{settings.parent}/workerPools/{settings.worker_pool}",
        labels=labels,
        scaling=v2.WorkerPoolScaling(manual_instance_count=settings.worker_instances),
        template=v2.WorkerPoolRevisionTemplate(
            labels=labels,
            service_account=settings.service_account,
            vpc_access=_vpc_access(settings),
            containers=[
                v2.Container(
                    name="worker",
                    image=settings.workers_image,
                    args=["worker"],
                    env=env,
                    resources=v2.ResourceRequirements(
                        limits={"cpu": settings.worker_cpu, "memory": settings.worker_memory}
                    ),
                )
            ],
        ),
    )


def model_service_id(settings: DeploySettings, name: str, version: int) -> str:
    return resource_id(f"{settings.model_service_prefix}-{name}-v{version}")


def model_service(settings: DeploySettings, name: str, version: int, cpu: str, memory: str) -> Any:
    """A small service answering ``apply`` for one model version, sized ``cpu``/``memory``.

    It runs the bridge image against the same registry with room for one loaded model
    (``KEPLER_MODEL_CACHE_SIZE=1``), loads it before taking traffic
    (``KEPLER_PRELOAD_MODELS``) and scales to zero when idle by default.
    """
    _require(settings, "project", "region", "image", "tracking_uri", "bucket")
    v2 = run_v2()
    env = [
        *[e for e in _shared_env(settings) if e.name != "KEPLER_BROKER_URL"],
        v2.EnvVar(name="KEPLER_MODEL_CACHE_SIZE", value="1"),
        # Loaded before /health answers, so the startup probe holds traffic until then.
        v2.EnvVar(name="KEPLER_PRELOAD_MODELS", value=f"{name}@{version}"),
        _secret_env("KEPLER_TOKEN", settings.token_secret),
        *_user_token_env(settings),
    ]
    container = _http_container(settings.image, env, cpu, memory, ["bridge"])
    labels = _labels(
        settings, "model", **{"kepler-model": name, "kepler-model-version": str(version)}
    )
    return _service(
        settings,
        model_service_id(settings, name, version),
        container,
        labels,
        settings.model_min_instances,
        settings.model_max_instances,
    )
