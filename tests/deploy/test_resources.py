"""The pure builders: names, required settings, labels and model services."""

from __future__ import annotations

import pytest

from kepler.core.errors import DeployConfigError
from kepler.deploy import DeploySettings, resources


def test_missing_settings_are_named_with_their_flags() -> None:
    with pytest.raises(DeployConfigError) as info:
        resources.bridge_service(DeploySettings(bucket="b"))
    message = info.value.message
    assert "--project or KEPLER_DEPLOY_PROJECT" in message
    assert "--image or KEPLER_DEPLOY_IMAGE" in message
    assert "KEPLER_DEPLOY_BROKER_URL" in message
    assert "KEPLER_DEPLOY_BUCKET" not in message  # given
    assert info.value.detail["missing"] == ["project", "image", "broker_url", "tracking_uri"]


def test_worker_image_defaults_to_the_bridge_image(deploy_settings: DeploySettings) -> None:
    same = deploy_settings.model_copy(update={"worker_image": ""})
    pool = resources.worker_pool(same)
    assert pool.template.containers[0].image == deploy_settings.image


def test_bucket_given_as_url_is_accepted(deploy_settings: DeploySettings) -> None:
    s = deploy_settings.model_copy(update={"bucket": "gs://acme-kepler/"})
    env = {e.name: e.value for e in resources.worker_pool(s).template.containers[0].env}
    assert env["KEPLER_ARTIFACT_LOCATION"] == "gs://acme-kepler/mlartifacts"


def test_no_network_means_no_vpc_access(deploy_settings: DeploySettings) -> None:
    s = deploy_settings.model_copy(update={"network": "", "subnetwork": ""})
    assert not resources.bridge_service(s).template.vpc_access.network_interfaces


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pump", "pump"),
        ("Pump_Failures", "pump-failures"),
        ("9lives", "m-9lives"),
        ("a" * 80, "a" * 49),
        ("x--y__z", "x-y-z"),
    ],
)
def test_resource_id_is_a_cloud_run_name(text: str, expected: str) -> None:
    assert resources.resource_id(text) == expected


def test_model_service_is_named_labelled_and_sized(deploy_settings: DeploySettings) -> None:
    svc = resources.model_service(deploy_settings, "Pump_Failures", 12, "2", "8Gi")
    assert svc.name.endswith("/services/kepler-model-pump-failures-v12")
    assert svc.labels["kepler-component"] == "model"
    assert svc.labels["kepler-model"] == "pump_failures"
    assert svc.labels["kepler-model-version"] == "12"
    (c,) = svc.template.containers
    assert dict(c.resources.limits) == {"cpu": "2", "memory": "8Gi"}
    env = {e.name: e.value for e in c.env}
    assert env["KEPLER_MODEL_CACHE_SIZE"] == "1"
    assert env["KEPLER_PRELOAD_MODELS"] == "Pump_Failures@12"
    assert "KEPLER_BROKER_URL" not in env  # serves apply only; no fits queued from here
    scaling = svc.template.scaling
    assert (scaling.min_instance_count, scaling.max_instance_count) == (0, 3)


def test_deploy_settings_refuse_names_cloud_run_would() -> None:
    with pytest.raises(ValueError, match="not a Cloud Run name"):
        DeploySettings(bridge_service="Kepler_Bridge")


def test_deploy_settings_read_their_environment_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEPLER_DEPLOY_PROJECT", "from-env")
    monkeypatch.setenv("KEPLER_DEPLOY_WORKER_INSTANCES", "4")
    s = DeploySettings()
    assert (s.project, s.worker_instances) == ("from-env", 4)


def test_every_kepler_variable_sent_is_a_setting_the_code_reads(
    deploy_settings: DeploySettings,
) -> None:
    from kepler.hec import HecSettings
    from kepler.server.settings import ServerSettings
    from kepler.splunk.settings import SplunkSettings

    fields = {f"KEPLER_{name.upper()}" for name in ServerSettings.model_fields}
    # ServerSettings.hec and .splunk read their own prefixes.
    fields |= {f"KEPLER_HEC_{name.upper()}" for name in HecSettings.model_fields}
    fields |= {f"KEPLER_SPLUNK_{name.upper()}" for name in SplunkSettings.model_fields}
    deploy_settings = deploy_settings.model_copy(
        update={
            "hec_url": "https://hec.acme.internal:8088",
            "hec_index": "ml_scores",
            "hec_token_secret": "hec-token",
            "splunk_url": "https://splunk.acme.internal:8089",
            "splunk_token_secret": "splunk-token:3",
        }
    )
    sent = set()
    for resource in (
        resources.bridge_service(deploy_settings),
        resources.worker_pool(deploy_settings),
        resources.model_service(deploy_settings, "pump", 1, "1", "2Gi"),
    ):
        for container in resource.template.containers:
            sent |= {e.name for e in container.env}
    assert sent, "the resources carry settings"
    assert sent <= fields, f"not read by ServerSettings: {sorted(sent - fields)}"


def test_without_the_client_library_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, deploy_settings: DeploySettings
) -> None:
    import sys

    from kepler.core.errors import MissingDependency

    # As if google-cloud-run were not installed: importing it raises ImportError.
    monkeypatch.setitem(sys.modules, "google.cloud.run_v2", None)
    with pytest.raises(MissingDependency, match=r"pip install 'kepler-ml\[deploy\]'"):
        resources.bridge_service(deploy_settings)


def test_splunk_settings_reach_bridge_and_workers_with_tokens_as_secrets(
    deploy_settings: DeploySettings,
) -> None:
    configured = deploy_settings.model_copy(
        update={
            "hec_url": "https://hec.acme.internal:8088",
            "hec_index": "ml_scores",
            "hec_token_secret": "hec-token",
            "splunk_url": "https://splunk.acme.internal:8089",
            "splunk_token_secret": "splunk-token:3",
        }
    )
    for resource in (resources.bridge_service(configured), resources.worker_pool(configured)):
        env = {e.name: e for e in resource.template.containers[0].env}
        assert env["KEPLER_HEC_URL"].value == "https://hec.acme.internal:8088"
        assert env["KEPLER_HEC_INDEX"].value == "ml_scores"
        assert env["KEPLER_SPLUNK_URL"].value == "https://splunk.acme.internal:8089"
        hec = env["KEPLER_HEC_TOKEN"].value_source.secret_key_ref
        assert (hec.secret, hec.version, env["KEPLER_HEC_TOKEN"].value) == (
            "hec-token",
            "latest",
            "",
        )
        rest = env["KEPLER_SPLUNK_TOKEN"].value_source.secret_key_ref
        assert (rest.secret, rest.version) == ("splunk-token", "3")
    # Not configured: nothing about Splunk is sent.
    plain = resources.bridge_service(deploy_settings).template.containers[0].env
    assert not [e.name for e in plain if "HEC" in e.name or "SPLUNK" in e.name]


def test_hec_url_without_its_token_secret_is_refused(deploy_settings: DeploySettings) -> None:
    broken = deploy_settings.model_copy(update={"hec_url": "https://hec.acme.internal:8088"})
    with pytest.raises(DeployConfigError, match="KEPLER_DEPLOY_HEC_TOKEN_SECRET"):
        resources.worker_pool(broken)
