"""Create-or-update and delete through Google's real client library, against a fake API.

Every request the library sends is checked as the server received it: resource names,
images, environment, secrets, scaling, labels; and each documented error shape becomes
the Kepler error that names its fix.
"""

from __future__ import annotations

import pytest
from google.cloud import run_v2
from google.rpc import code_pb2

from kepler.core.errors import (
    CloudApiDisabled,
    CloudAuthMissing,
    CloudPermissionDenied,
    CloudProjectNotFound,
    CloudQuotaExceeded,
    CloudResourceNotFound,
    DeployError,
)
from kepler.deploy import (
    CloudRun,
    DeploySettings,
    deploy_bridge,
    deploy_workers,
    resources,
    undeploy_model,
)
from tests.deploy.fake_cloud_run import (
    Failure,
    FakeCloudRun,
    api_disabled,
    permission_denied,
    project_not_found,
    quota_exceeded,
)

PARENT = "projects/acme-ml/locations/europe-west1"
BRIDGE = f"{PARENT}/services/kepler-bridge"
POOL = f"{PARENT}/workerPools/kepler-workers"


def _env(container: run_v2.Container) -> dict[str, str]:
    out = {}
    for e in container.env:
        ref = e.value_source.secret_key_ref
        out[e.name] = f"secret:{ref.secret}:{ref.version}" if ref.secret else e.value
    return out


def test_deploy_bridge_creates_service_with_every_setting(
    fake_run: FakeCloudRun, cloud: CloudRun, deploy_settings: DeploySettings
) -> None:
    applied = deploy_bridge(deploy_settings, cloud=cloud)

    assert applied.action == "created"
    assert applied.name == BRIDGE
    assert applied.uri.startswith("https://kepler-bridge-")
    assert [m for m, _ in fake_run.requests] == ["GetService", "CreateService", "GetOperation"]
    (get,) = fake_run.calls("GetService")
    assert get.name == BRIDGE
    (create,) = fake_run.calls("CreateService")
    assert create.parent == PARENT
    assert create.service_id == "kepler-bridge"
    assert create.service.name == ""  # composed by the API from parent and service_id
    svc = create.service
    assert svc.ingress == run_v2.IngressTraffic.INGRESS_TRAFFIC_ALL
    assert svc.invoker_iam_disabled  # the bridge's own token guards every route
    t = svc.template
    assert t.service_account == "kepler-run@acme-ml.iam.gserviceaccount.com"
    assert (t.scaling.min_instance_count, t.scaling.max_instance_count) == (1, 7)
    assert t.max_instance_request_concurrency == 40
    assert t.vpc_access.network_interfaces[0].network == "kepler-vpc"
    assert t.vpc_access.network_interfaces[0].subnetwork == "kepler-subnet"
    assert t.vpc_access.egress == run_v2.VpcAccess.VpcEgress.PRIVATE_RANGES_ONLY
    (c,) = t.containers
    assert c.image == deploy_settings.image
    assert list(c.args) == ["bridge"]
    assert [(p.name, p.container_port) for p in c.ports] == [("http1", 8080)]
    assert c.startup_probe.http_get.path == "/health"
    assert dict(c.resources.limits) == {"cpu": "2", "memory": "4Gi"}
    assert _env(c) == {
        "KEPLER_HOST": "0.0.0.0",
        "KEPLER_PORT": "8080",
        "KEPLER_HOME": "/tmp/kepler",
        "KEPLER_BROKER_URL": "redis://10.20.0.3:6379/0",
        "KEPLER_TRACKING_URI": "https://mlflow.acme.internal",
        "KEPLER_DATASET_STORE": "gs://acme-kepler/datasets",
        "KEPLER_ARTIFACT_LOCATION": "gs://acme-kepler/mlartifacts",
        "KEPLER_TOKEN": "secret:kepler-token:latest",
        "KEPLER_DATABASE_URL": "secret:kepler-database-url:latest",
    }
    # No TLS material in the container: Google's front end ends TLS.
    assert not any("TLS" in name for name in _env(c))
    for labels in (svc.labels, t.labels):
        assert labels["managed-by"] == "kepler"
        assert labels["kepler-component"] == "bridge"
        assert labels["team"] == "fraud-ops"


def test_deploy_bridge_twice_updates_with_the_etag_read(
    fake_run: FakeCloudRun, cloud: CloudRun, deploy_settings: DeploySettings
) -> None:
    deploy_bridge(deploy_settings, cloud=cloud)
    etag = fake_run.services[BRIDGE].etag
    fake_run.requests.clear()

    bigger = deploy_settings.model_copy(update={"max_instances": 20, "image": "img:2"})
    applied = deploy_bridge(bigger, cloud=cloud)

    assert applied.action == "updated"
    assert applied.revision.endswith("kepler-bridge-00002-abc")
    assert [m for m, _ in fake_run.requests] == ["GetService", "UpdateService", "GetOperation"]
    (update,) = fake_run.calls("UpdateService")
    assert update.service.name == BRIDGE
    assert update.service.etag == etag
    assert update.service.template.scaling.max_instance_count == 20
    assert update.service.template.containers[0].image == "img:2"
    assert fake_run.services[BRIDGE].generation == 2


def test_deploy_bridge_changed_meanwhile_is_refused_not_overwritten(
    fake_run: FakeCloudRun, cloud: CloudRun, deploy_settings: DeploySettings
) -> None:
    deploy_bridge(deploy_settings, cloud=cloud)
    fake_run.failures["UpdateService"] = Failure(
        code_pb2.ABORTED, "The etag does not match: reload and retry."
    )
    with pytest.raises(DeployError, match="etag does not match"):
        deploy_bridge(deploy_settings, cloud=cloud)
    assert fake_run.services[BRIDGE].generation == 1


def test_deploy_workers_creates_then_updates_pool(
    fake_run: FakeCloudRun, cloud: CloudRun, deploy_settings: DeploySettings
) -> None:
    first = deploy_workers(deploy_settings, cloud=cloud)
    assert first.action == "created" and first.name == POOL
    (create,) = fake_run.calls("CreateWorkerPool")
    assert create.parent == PARENT
    assert create.worker_pool_id == "kepler-workers"
    pool = create.worker_pool
    assert pool.scaling.manual_instance_count == 3
    (c,) = pool.template.containers
    assert c.image == deploy_settings.worker_image  # the torch build, when set
    assert list(c.args) == ["worker"]
    assert not c.ports  # a worker pool takes no requests
    env = _env(c)
    assert env["KEPLER_BROKER_URL"] == "redis://10.20.0.3:6379/0"
    assert env["KEPLER_WORKER_CONCURRENCY"] == "2"
    assert env["KEPLER_DATABASE_URL"] == "secret:kepler-database-url:latest"
    assert "KEPLER_TOKEN" not in env  # workers never see the bridge token
    assert pool.template.labels["kepler-component"] == "workers"
    assert pool.template.service_account == deploy_settings.service_account

    second = deploy_workers(deploy_settings.model_copy(update={"worker_instances": 5}), cloud=cloud)
    assert second.action == "updated"
    (update,) = fake_run.calls("UpdateWorkerPool")
    assert update.worker_pool.scaling.manual_instance_count == 5
    assert fake_run.worker_pools[POOL].scaling.manual_instance_count == 5


def test_undeploy_model_deletes_its_service(
    fake_run: FakeCloudRun, cloud: CloudRun, deploy_settings: DeploySettings
) -> None:
    service = resources.model_service(deploy_settings, "Pump_Failures", 3, "1", "2Gi")
    cloud.apply_service(service)
    assert service.name == f"{PARENT}/services/kepler-model-pump-failures-v3"

    applied = undeploy_model(deploy_settings, "Pump_Failures@3", cloud=cloud)

    assert applied.action == "deleted"
    assert [r.name for r in fake_run.calls("DeleteService")] == [service.name]
    assert service.name not in fake_run.services


def test_undeploy_model_never_deployed_says_so(
    cloud: CloudRun, deploy_settings: DeploySettings
) -> None:
    with pytest.raises(CloudResourceNotFound, match="kepler-model-pump-v9"):
        undeploy_model(deploy_settings, "pump@9", cloud=cloud)


def test_missing_project_names_the_setting(
    fake_run: FakeCloudRun, cloud: CloudRun, deploy_settings: DeploySettings
) -> None:
    fake_run.failures["GetService"] = project_not_found("acme-ml")
    with pytest.raises(CloudProjectNotFound) as info:
        deploy_bridge(deploy_settings, cloud=cloud)
    assert "'acme-ml' does not exist" in info.value.message
    assert "--project" in info.value.message
    assert info.value.detail["reason"] == "CONSUMER_INVALID"
    assert not fake_run.calls("CreateService")  # nothing attempted after the refusal


def test_missing_permission_names_permission_and_role(
    fake_run: FakeCloudRun, cloud: CloudRun, deploy_settings: DeploySettings
) -> None:
    fake_run.failures["CreateService"] = permission_denied(
        "run.services.create", "namespaces/acme-ml/services/kepler-bridge"
    )
    with pytest.raises(CloudPermissionDenied) as info:
        deploy_bridge(deploy_settings, cloud=cloud)
    assert info.value.status == 403
    assert "run.services.create" in info.value.message
    assert "roles/run.developer" in info.value.message
    assert info.value.detail["permission"] == "run.services.create"


def test_disabled_api_names_the_enable_command(
    fake_run: FakeCloudRun, cloud: CloudRun, deploy_settings: DeploySettings
) -> None:
    fake_run.failures["GetWorkerPool"] = api_disabled("123456789")
    with pytest.raises(CloudApiDisabled, match=r"gcloud services enable run\.googleapis\.com"):
        deploy_workers(deploy_settings, cloud=cloud)


def test_quota_exhausted_names_the_quota_and_the_knobs(
    fake_run: FakeCloudRun, cloud: CloudRun, deploy_settings: DeploySettings
) -> None:
    metric = "run.googleapis.com/write_requests"
    fake_run.failures["CreateWorkerPool"] = quota_exceeded("acme-ml", metric)
    with pytest.raises(CloudQuotaExceeded) as info:
        deploy_workers(deploy_settings, cloud=cloud)
    assert info.value.status == 429
    assert metric in info.value.message
    assert "KEPLER_DEPLOY_WORKER_INSTANCES" in info.value.message
    assert not fake_run.worker_pools  # nothing half-created


def test_expired_credentials_say_how_to_log_in(
    fake_run: FakeCloudRun, cloud: CloudRun, deploy_settings: DeploySettings
) -> None:
    fake_run.failures["GetService"] = Failure(
        code_pb2.UNAUTHENTICATED, "Request had invalid authentication credentials."
    )
    with pytest.raises(CloudAuthMissing, match="gcloud auth application-default login"):
        deploy_bridge(deploy_settings, cloud=cloud)


def test_no_credentials_at_all_say_how_to_log_in(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object, deploy_settings: DeploySettings
) -> None:
    # google-auth's own variable: a key file that is not there fails before any network.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", f"{tmp_path}/missing-key.json")
    with pytest.raises(CloudAuthMissing, match="application-default login"):
        deploy_bridge(deploy_settings, cloud=CloudRun(deploy_settings.project))
