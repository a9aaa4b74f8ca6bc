"""``--dry-run``'s YAML: the forms ``gcloud run services replace`` and
``gcloud beta run worker-pools replace`` accept, field for field what the API is sent."""

from __future__ import annotations

import json

import yaml

from kepler.deploy import DeploySettings, deploy_bridge, deploy_workers, resources
from kepler.deploy.manifest import to_yaml


def _env(container: dict) -> dict[str, object]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_bridge_yaml_is_a_knative_service_with_every_field(
    deploy_settings: DeploySettings,
) -> None:
    text = deploy_bridge(deploy_settings, dry_run=True)
    assert isinstance(text, str)
    (doc,) = list(yaml.safe_load_all(text))

    assert doc["apiVersion"] == "serving.knative.dev/v1"
    assert doc["kind"] == "Service"
    meta = doc["metadata"]
    assert meta["name"] == "kepler-bridge"
    assert meta["namespace"] == "acme-ml"
    assert meta["labels"]["cloud.googleapis.com/location"] == "europe-west1"
    assert meta["labels"]["managed-by"] == "kepler"
    assert meta["annotations"]["run.googleapis.com/ingress"] == "all"
    template = doc["spec"]["template"]
    notes = template["metadata"]["annotations"]
    # Knative reads annotations as strings: numbers must be quoted in the YAML.
    assert notes["autoscaling.knative.dev/minScale"] == "1"
    assert notes["autoscaling.knative.dev/maxScale"] == "7"
    assert notes["run.googleapis.com/execution-environment"] == "gen2"
    assert json.loads(notes["run.googleapis.com/network-interfaces"]) == [
        {"network": "kepler-vpc", "subnetwork": "kepler-subnet"}
    ]
    assert notes["run.googleapis.com/vpc-access-egress"] == "private-ranges-only"
    spec = template["spec"]
    assert spec["containerConcurrency"] == 40
    assert spec["timeoutSeconds"] == 600
    assert spec["serviceAccountName"] == deploy_settings.service_account
    (c,) = spec["containers"]
    assert c["image"] == deploy_settings.image
    assert c["ports"] == [{"name": "http1", "containerPort": 8080}]
    assert c["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}
    env = _env(c)
    assert env["KEPLER_TOKEN"] == {"secretKeyRef": {"name": "kepler-token", "key": "latest"}}
    assert env["KEPLER_DATASET_STORE"] == "gs://acme-kepler/datasets"
    assert c["startupProbe"]["httpGet"] == {"path": "/health", "port": 8080}
    assert doc["spec"]["traffic"] == [{"latestRevision": True, "percent": 100}]


def test_bridge_yaml_carries_every_env_var_the_api_request_does(
    deploy_settings: DeploySettings,
) -> None:
    service = resources.bridge_service(deploy_settings)
    doc = yaml.safe_load(to_yaml(service))
    sent = [e.name for e in service.template.containers[0].env]
    shown = [e["name"] for e in doc["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert shown == sent


def test_secret_version_pinned_in_settings_is_kept(deploy_settings: DeploySettings) -> None:
    pinned = deploy_settings.model_copy(update={"token_secret": "bridge-token:7"})
    doc = yaml.safe_load(deploy_bridge(pinned, dry_run=True))  # type: ignore[arg-type]
    env = _env(doc["spec"]["template"]["spec"]["containers"][0])
    assert env["KEPLER_TOKEN"] == {"secretKeyRef": {"name": "bridge-token", "key": "7"}}


def test_user_level_token_comes_from_its_own_secret(deploy_settings: DeploySettings) -> None:
    doc = yaml.safe_load(deploy_bridge(deploy_settings, dry_run=True))  # type: ignore[arg-type]
    assert "KEPLER_USER_TOKEN" not in _env(doc["spec"]["template"]["spec"]["containers"][0])
    both = deploy_settings.model_copy(update={"user_token_secret": "kepler-user-token"})
    doc = yaml.safe_load(deploy_bridge(both, dry_run=True))  # type: ignore[arg-type]
    env = _env(doc["spec"]["template"]["spec"]["containers"][0])
    assert env["KEPLER_USER_TOKEN"] == {
        "secretKeyRef": {"name": "kepler-user-token", "key": "latest"}
    }


def test_workers_yaml_is_a_worker_pool_with_instance_count(
    deploy_settings: DeploySettings,
) -> None:
    doc = yaml.safe_load(deploy_workers(deploy_settings, dry_run=True))  # type: ignore[arg-type]
    assert doc["apiVersion"] == "run.googleapis.com/v1"
    assert doc["kind"] == "WorkerPool"
    assert doc["metadata"]["name"] == "kepler-workers"
    assert doc["metadata"]["annotations"]["run.googleapis.com/manualInstanceCount"] == "3"
    assert doc["metadata"]["labels"]["cloud.googleapis.com/location"] == "europe-west1"
    (c,) = doc["spec"]["template"]["spec"]["containers"]
    assert c["image"] == deploy_settings.worker_image
    assert c["args"] == ["worker"]
    assert "ports" not in c and "startupProbe" not in c
    assert _env(c)["KEPLER_DATABASE_URL"] == {
        "secretKeyRef": {"name": "kepler-database-url", "key": "latest"}
    }


def test_dry_run_sends_nothing(deploy_settings: DeploySettings) -> None:
    # No client is built, so no credentials are looked for: this passes with none.
    assert "kind: Service" in str(deploy_bridge(deploy_settings, dry_run=True))
