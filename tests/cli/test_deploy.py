"""``kepler deploy ...`` and ``kepler undeploy`` from the command line."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml
from typer.testing import CliRunner

from kepler.cli import app

ENV = {
    "KEPLER_DEPLOY_BROKER_URL": "redis://10.20.0.3:6379/0",
    "KEPLER_DEPLOY_TRACKING_URI": "https://mlflow.acme.internal",
    "KEPLER_DEPLOY_BUCKET": "acme-kepler",
    "KEPLER_DEPLOY_REGION": "us-east1",
    "KEPLER_DEPLOY_MAX_INSTANCES": "12",
}


def test_deploy_bridge_dry_run_prints_replaceable_yaml() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEPLER_")}
    env.update(ENV)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "kepler",
            "deploy",
            "bridge",
            "--project",
            "acme-ml",
            "--region",
            "europe-west4",
            "--image",
            "europe-west4-docker.pkg.dev/acme-ml/kepler/kepler:0.1.0",
            "--dry-run",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    doc = yaml.safe_load(out)
    assert doc["kind"] == "Service"
    assert doc["metadata"]["namespace"] == "acme-ml"
    # The flag wins over KEPLER_DEPLOY_REGION; the rest comes from the environment.
    assert doc["metadata"]["labels"]["cloud.googleapis.com/location"] == "europe-west4"
    template = doc["spec"]["template"]
    assert template["metadata"]["annotations"]["autoscaling.knative.dev/maxScale"] == "12"
    (c,) = template["spec"]["containers"]
    assert c["image"] == "europe-west4-docker.pkg.dev/acme-ml/kepler/kepler:0.1.0"


def test_deploy_workers_dry_run_prints_worker_pool() -> None:
    result = CliRunner().invoke(
        app,
        ["deploy", "workers", "--project", "p1", "--image", "img", "--dry-run"],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.output)["kind"] == "WorkerPool"


def test_deploy_without_project_is_one_error_line() -> None:
    result = CliRunner().invoke(
        app,
        ["deploy", "bridge", "--image", "img", "--dry-run"],
        env={**ENV, "KEPLER_DEPLOY_PROJECT": ""},
    )
    assert result.exit_code == 1
    assert "error: kepler deploy needs project" in result.output
    assert "--project or KEPLER_DEPLOY_PROJECT" in result.output
    assert "Traceback" not in result.output


def test_undeploy_dry_run_names_the_service() -> None:
    result = CliRunner().invoke(
        app, ["undeploy", "pump@4", "--project", "p1", "--dry-run"], env=ENV
    )
    assert result.exit_code == 0, result.output
    assert result.output == (
        "would delete projects/p1/locations/us-east1/services/kepler-model-pump-v4\n"
    )
