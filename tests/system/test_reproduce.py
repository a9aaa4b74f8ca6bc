"""Reproduce over the real stack (bridge, worker, MLflow on SQLite) through the SDK: a
seeded forest reproduces exactly into a new version tagged with what it reproduces, an
unseeded one is held to the stated tolerance, a deleted dataset and differing package
versions are refused (the latter faked by editing the recorded tag with MLflow's own
client) and then forced, and ``summary`` shows both sides."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from importlib import metadata

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from kepler._stack import LocalStack
from kepler.core.errors import NotReproducible

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("reproduce-stack")) as s:
        yield s


def sensors(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    temp = rng.uniform(10, 90, n)
    vibration = rng.uniform(0, 5, n)
    noisy = rng.random(n) < 0.15  # labels a forest cannot get all right
    failure = np.where(((temp > 60) & (vibration > 2.5)) ^ noisy, "yes", "no")
    return pd.DataFrame({"temp": temp, "vibration": vibration, "failure": failure})


def fit(stack: LocalStack, into: str, **params: object) -> str:
    with stack.client() as c:
        result = c.fit(
            sensors(400, seed=3),
            "RandomForestClassifier",
            target="failure",
            features=["temp", "vibration"],
            into=into,
            progress=False,
            n_estimators=15,
            **params,
        )
    return str(result.ref)


def test_seeded_forest_reproduces_exactly_into_a_tagged_version(stack: LocalStack) -> None:
    ref = fit(stack, "pump", random_state=5)
    with stack.client() as c:
        original = c.summary(ref)
        result = c.reproduce(ref, progress=False)
        assert (result.reproduces, result.ref) == (ref, "pump@2")
        assert result.verdict == "exact" and result.matched
        assert result.rule["kind"] == "exact" and "random_state=5" in result.rule["why"]
        frame = result.frame
        metrics = frame[frame["item"].str.startswith("metric.")]
        assert set(metrics["item"]) == {f"metric.{m}" for m in original["metrics"]}
        assert frame["match"].all() and (frame["difference"].dropna() == 0).all()
        assert "split" in set(frame["item"])  # the very same rows held out
        assert result.metrics == original["metrics"]
        assert "verdict" in result._repr_html_() and "exact" in result._repr_html_()

        again = c.summary("pump@2")
        assert again["reproduces"]["of"] == ref and again["reproduces"]["verdict"] == "exact"
        assert again["reproduces"]["forced"] is False
        assert again["params"] == original["params"] and again["metrics"] == original["metrics"]
        listed = c.summary(ref)["reproductions"]
        assert [(r["version"], r["verdict"]) for r in listed] == [(2, "exact")]
        assert c.summary(ref)["reproduces"] is None


def test_unseeded_forest_is_held_to_the_stated_tolerance(stack: LocalStack) -> None:
    ref = fit(stack, "loose")
    with stack.client() as c:
        result = c.reproduce(ref, progress=False)
    assert result.rule["kind"] == "tolerance" and "without random_state" in result.rule["why"]
    metric_rows = [r for r in result.comparison if r["item"].startswith("metric.")]
    assert metric_rows and all(r["rule"] == "tolerance" for r in metric_rows)
    assert all(r["tolerance"] >= 0.02 for r in metric_rows)
    assert result.verdict in ("exact", "within_tolerance", "differs")
    # The split does not depend on the forest's seed: the same rows, exactly.
    (split,) = [r for r in result.comparison if r["item"] == "split"]
    assert split["match"] and split["rule"] == "exact"


def test_deleted_dataset_is_refused(stack: LocalStack) -> None:
    ref = fit(stack, "tank", random_state=1)
    with stack.client() as c:
        dataset_id = c.summary(ref)["lineage"]["dataset"]["dataset_id"]
        # The bridge keeps a dataset a version references; gone anyway (a lost bucket).
        shutil.rmtree(stack.home / "datasets" / dataset_id)
        with pytest.raises(NotReproducible) as refused:
            c.reproduce(ref, progress=False)
        assert f"the dataset it was trained on ({dataset_id}) was deleted" in str(refused.value)
        assert refused.value.detail["reason"] == "dataset"
        assert c.summary("tank")["version"] == 1  # nothing registered


def test_package_mismatch_is_refused_listing_them_then_forced(stack: LocalStack) -> None:
    ref = fit(stack, "valve", random_state=2)
    installed = metadata.version("scikit-learn")
    with stack.client() as c:
        run_id = c.summary(ref)["run_id"]
        mlflow = MlflowClient(tracking_uri=f"sqlite:///{stack.home / 'mlflow.db'}")
        mlflow.set_tag(run_id, "kepler.package.scikit-learn", "0.0.1")

        with pytest.raises(NotReproducible) as refused:
            c.reproduce(ref, progress=False)
        assert refused.value.detail["packages"] == [
            {"package": "scikit-learn", "recorded": "0.0.1", "installed": installed}
        ]
        assert f"scikit-learn: recorded 0.0.1, installed {installed}" in str(refused.value)
        assert "force=true" in str(refused.value)
        assert c.summary("valve")["version"] == 1

        forced = c.reproduce(ref, force=True, progress=False)
        assert forced.forced and forced.verdict == "exact"
        assert forced.package_differences == refused.value.detail["packages"]
        shown = c.summary(str(forced.ref))["reproduces"]
        assert shown["forced"] is True
        assert shown["package_differences"] == forced.package_differences
        listed = c.summary(ref)["reproductions"]
        assert [(r["version"], r["forced"]) for r in listed] == [(2, True)]
