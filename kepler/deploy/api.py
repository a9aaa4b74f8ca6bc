"""``kepler deploy`` as plain functions: settings in, resources built, sent or printed.

    from kepler.deploy import DeploySettings, deploy_bridge
    deploy_bridge(DeploySettings(project="acme-ml", image="...", ...), dry_run=True)

Each function returns the YAML of what it sends (``dry_run=True`` sends nothing) or the
:class:`~kepler.deploy.ops.Applied` result of the create-or-update.
"""

from __future__ import annotations

from typing import Any

from kepler.core.refs import ModelRef
from kepler.deploy import manifest, resources, sizing
from kepler.deploy.ops import Applied, CloudRun
from kepler.deploy.settings import DeploySettings


def _send_or_show(
    resource: Any, settings: DeploySettings, cloud: CloudRun | None, dry_run: bool
) -> Applied | str:
    if dry_run:
        return manifest.to_yaml(resource)
    cloud = cloud or CloudRun(settings.project)
    if isinstance(resource, resources.run_v2().WorkerPool):
        return cloud.apply_worker_pool(resource)
    return cloud.apply_service(resource)


def deploy_bridge(
    settings: DeploySettings, *, dry_run: bool = False, cloud: CloudRun | None = None
) -> Applied | str:
    """Create or update the bridge's Cloud Run service."""
    return _send_or_show(resources.bridge_service(settings), settings, cloud, dry_run)


def deploy_workers(
    settings: DeploySettings, *, dry_run: bool = False, cloud: CloudRun | None = None
) -> Applied | str:
    """Create or update the workers' Cloud Run worker pool."""
    return _send_or_show(resources.worker_pool(settings), settings, cloud, dry_run)


def model_size(settings: DeploySettings, ref: ModelRef) -> tuple[int, sizing.Size]:
    """The version ``ref`` names in the registry at ``KEPLER_DEPLOY_TRACKING_URI``, and the
    size its saved artifacts call for."""
    from kepler.core.errors import DeployConfigError
    from kepler.ml.store import ModelStore

    if not settings.tracking_uri:
        raise DeployConfigError(
            "kepler deploy model reads the model's size from MLflow: set "
            "KEPLER_DEPLOY_TRACKING_URI to the team's tracking server",
            detail={"missing": ["tracking_uri"]},
        )
    store = ModelStore(settings.tracking_uri, "")
    info = store.resolve(ref)
    uri = store.client.get_model_version_download_uri(info.name, str(info.version))
    with store._local(uri) as path:
        size = sizing.size_for(sizing.folder_bytes(path))
    return info.version, size


def deploy_model(
    settings: DeploySettings,
    model: str,
    *,
    dry_run: bool = False,
    cloud: CloudRun | None = None,
) -> Applied | str:
    """Create or update a serving service for ``model`` (``name`` or ``name@version``;
    the latest version when none is given), sized from its artifacts."""
    ref = ModelRef.parse(model)
    version, size = model_size(settings, ref)
    service = resources.model_service(settings, ref.name, version, size.cpu, size.memory)
    return _send_or_show(service, settings, cloud, dry_run)


def undeploy_model(
    settings: DeploySettings,
    model: str,
    *,
    dry_run: bool = False,
    cloud: CloudRun | None = None,
) -> Applied | str:
    """Delete the serving service of ``model@version`` (the version must be given)."""
    from kepler.core.errors import DeployConfigError

    ref = ModelRef.parse(model)
    if ref.version is None:
        raise DeployConfigError(
            f"say which version's service to remove: kepler undeploy {ref.name}@<version>",
            detail={"model": ref.name},
        )
    resources._require(settings, "project", "region")
    name = (
        f"{settings.parent}/services/{resources.model_service_id(settings, ref.name, ref.version)}"
    )
    if dry_run:
        return f"would delete {name}\n"
    return (cloud or CloudRun(settings.project)).delete_service(name)
