"""Where and how ``kepler deploy`` puts Kepler on Google Cloud Run (prefix ``KEPLER_DEPLOY_``).

Read once by the command that deploys (a laptop or CI), never by the bridge or a worker:
what those processes read at run time is written into each resource as ``KEPLER_*``
environment variables (secrets as Secret Manager references, never as values).
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Cloud Run resource ids: lowercase letters, digits and hyphens, a letter first, <= 49 chars.
_RESOURCE_ID = re.compile(r"^[a-z]([-a-z0-9]{0,47}[a-z0-9])?$")


class DeploySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEPLER_DEPLOY_", extra="ignore")

    # Where: the Google Cloud project and region, and the identity the containers run as.
    project: str = ""
    region: str = "us-central1"
    service_account: str = ""
    # What: the image built from packaging/Dockerfile and pushed to Artifact Registry; the
    # workers may use another build of it (WITH_TORCH=1).
    image: str = ""
    worker_image: str = ""

    # Names of the resources Kepler creates.
    bridge_service: str = "kepler-bridge"
    worker_pool: str = "kepler-workers"
    model_service_prefix: str = "kepler-model"

    # Secret Manager secrets (the secret's id in the same project, version "latest" unless
    # given as "name:version"): the bridge token, and the jobs database URL with its password.
    token_secret: str = "kepler-token"  # noqa: S105 - a secret's name, not a secret
    # The user-level token (fit, apply, read; no deletions): Splunk's kepler_user gets it.
    # Empty: the bridge serves the admin level only (each instance would make its own).
    user_token_secret: str = ""
    database_url_secret: str = "kepler-database-url"  # noqa: S105 - a name

    # Splunk (optional): HEC for scores and Kepler's own events, splunkd's REST API for
    # scheduled scoring. Tokens come from Secret Manager; empty leaves the feature off.
    hec_url: str = ""
    hec_index: str = ""
    hec_token_secret: str = ""
    splunk_url: str = ""
    splunk_token_secret: str = ""

    # Shared state: Memorystore Redis as the broker, an MLflow tracking server (or database
    # URL), and a Cloud Storage bucket for datasets and MLflow artifacts.
    broker_url: str = ""
    tracking_uri: str = ""
    bucket: str = ""
    # Direct VPC egress, so the containers reach Memorystore's private address.
    network: str = ""
    subnetwork: str = ""

    # Bridge scaling: Cloud Run adds instances up to max as requests arrive.
    min_instances: int = Field(default=0, ge=0, le=1000)
    max_instances: int = Field(default=10, ge=1, le=1000)
    concurrency: int = Field(default=80, ge=1, le=1000)
    bridge_cpu: str = "2"
    bridge_memory: str = "4Gi"
    # Workers: a fixed instance count (a worker pool does not scale on requests).
    worker_instances: int = Field(default=1, ge=0, le=1000)
    worker_cpu: str = "4"
    worker_memory: str = "8Gi"
    worker_concurrency: int = Field(default=2, ge=1, le=64)
    # Model services: sized from the model; scaled to zero when idle by default.
    model_min_instances: int = Field(default=0, ge=0, le=1000)
    model_max_instances: int = Field(default=3, ge=1, le=1000)

    # Extra labels on every resource (billing, ownership); Kepler adds its own.
    labels: dict[str, str] = {}

    @field_validator("bridge_service", "worker_pool", "model_service_prefix")
    @classmethod
    def _resource_id(cls, value: str) -> str:
        if not _RESOURCE_ID.match(value):
            raise ValueError(
                f"{value!r} is not a Cloud Run name: use lowercase letters, digits and "
                "hyphens, starting with a letter, at most 49 characters"
            )
        return value

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    @property
    def workers_image(self) -> str:
        return self.worker_image or self.image
