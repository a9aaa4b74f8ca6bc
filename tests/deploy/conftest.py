"""Fixtures for `kepler deploy`: a fake Cloud Run API served over gRPC, and settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kepler.deploy import CloudRun, DeploySettings
from tests.deploy.fake_cloud_run import FakeCloudRun, clients


@pytest.fixture
def fake_run() -> Iterator[FakeCloudRun]:
    fake = FakeCloudRun().start()
    yield fake
    fake.stop()


@pytest.fixture
def cloud(fake_run: FakeCloudRun) -> Iterator[CloudRun]:
    services, pools, channel = clients(fake_run)
    yield CloudRun("acme-ml", services=services, worker_pools=pools)
    channel.close()


@pytest.fixture
def deploy_settings() -> DeploySettings:
    return DeploySettings(
        project="acme-ml",
        region="europe-west1",
        image="europe-west1-docker.pkg.dev/acme-ml/kepler/kepler:0.1.0",
        worker_image="europe-west1-docker.pkg.dev/acme-ml/kepler/kepler:0.1.0-torch",
        service_account="kepler-run@acme-ml.iam.gserviceaccount.com",
        broker_url="redis://10.20.0.3:6379/0",
        tracking_uri="https://mlflow.acme.internal",
        bucket="acme-kepler",
        network="kepler-vpc",
        subnetwork="kepler-subnet",
        min_instances=1,
        max_instances=7,
        concurrency=40,
        worker_instances=3,
        labels={"team": "Fraud Ops"},
    )
