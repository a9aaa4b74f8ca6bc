"""``deploy_model``: the version is found in a real MLflow registry and its service sized
from the artifacts saved there."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kepler.core.errors import DeployConfigError, VersionNotFound
from kepler.core.spec import FitSpec
from kepler.deploy import CloudRun, DeploySettings, deploy_model, undeploy_model
from kepler.deploy.sizing import folder_bytes, size_for
from kepler.ml.store import ModelStore
from kepler.ml.training import train
from tests.deploy.fake_cloud_run import FakeCloudRun
from tests.ml.conftest import events


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A SQLite registry with two versions of ``pump``; its URI and artifact folder."""
    root = tmp_path_factory.mktemp("registry")
    store = ModelStore(f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri())
    spec = FitSpec("LogisticRegression", target="label", features=("x", "z", "color"))
    trained = train(events(120), spec)
    store.register(trained, "pump")
    store.register(trained, "pump")
    return store.tracking_uri, root / "artifacts"


def _settings(base: DeploySettings, tracking_uri: str) -> DeploySettings:
    return base.model_copy(update={"tracking_uri": tracking_uri})


def test_deploy_model_sizes_service_from_saved_artifacts(
    registry: tuple[str, Path],
    deploy_settings: DeploySettings,
    fake_run: FakeCloudRun,
    cloud: CloudRun,
) -> None:
    uri, _ = registry
    applied = deploy_model(_settings(deploy_settings, uri), "pump@1", cloud=cloud)

    assert applied.action == "created"  # type: ignore[union-attr]
    (create,) = fake_run.calls("CreateService")
    assert create.service_id == "kepler-model-pump-v1"
    assert create.service.labels["kepler-model-version"] == "1"
    store = ModelStore(uri, "")
    source = store.client.get_model_version_download_uri("pump", "1")
    saved = folder_bytes(source.removeprefix("file://"))
    assert saved > 0
    expected = size_for(saved)
    limits = dict(create.service.template.containers[0].resources.limits)
    assert limits == {"cpu": expected.cpu, "memory": expected.memory}


def test_deploy_model_without_version_takes_the_latest(
    registry: tuple[str, Path], deploy_settings: DeploySettings
) -> None:
    uri, _ = registry
    text = deploy_model(_settings(deploy_settings, uri), "pump", dry_run=True)
    doc = yaml.safe_load(str(text))
    assert doc["metadata"]["name"] == "kepler-model-pump-v2"
    assert doc["metadata"]["labels"]["kepler-model-version"] == "2"


def test_deploy_model_unknown_version_names_what_exists(
    registry: tuple[str, Path], deploy_settings: DeploySettings
) -> None:
    uri, _ = registry
    with pytest.raises(VersionNotFound, match="no version 9"):
        deploy_model(_settings(deploy_settings, uri), "pump@9", dry_run=True)


def test_deploy_model_needs_the_tracking_uri(deploy_settings: DeploySettings) -> None:
    with pytest.raises(DeployConfigError, match="KEPLER_DEPLOY_TRACKING_URI"):
        deploy_model(_settings(deploy_settings, ""), "pump@1", dry_run=True)


def test_undeploy_needs_an_explicit_version(deploy_settings: DeploySettings) -> None:
    with pytest.raises(DeployConfigError, match="kepler undeploy pump@<version>"):
        undeploy_model(deploy_settings, "pump", dry_run=True)
