"""Kepler on Google Cloud Run: the bridge as a service, the workers as a worker pool, and
one small service per deployed model version (``kepler deploy``, docs/deploy.md).

Needs the ``deploy`` extra (``pip install 'kepler-ml[deploy]'``); importing this package
does not, so ``kepler --help`` works without it.
"""

from __future__ import annotations

from kepler.deploy.api import deploy_bridge, deploy_model, deploy_workers, undeploy_model
from kepler.deploy.ops import Applied, CloudRun
from kepler.deploy.settings import DeploySettings

__all__ = [
    "Applied",
    "CloudRun",
    "DeploySettings",
    "deploy_bridge",
    "deploy_model",
    "deploy_workers",
    "undeploy_model",
]
