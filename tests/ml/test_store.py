"""The MLflow-backed registry: new versions, idempotent jobs, references, describe, delete."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from kepler.core import wire
from kepler.core.errors import (
    InvalidSpec,
    ModelNotFound,
    NotFound,
    RegistryUnavailable,
    VersionNotFound,
)
from kepler.core.refs import ModelRef
from kepler.core.spec import FitSpec
from kepler.ml.outputs import predict_frame
from kepler.ml.store import ModelStore, lineage_tags, pip_requirements
from kepler.ml.training import TrainedModel, train

Events = Callable[..., pd.DataFrame]

LINEAGE = {
    "dataset": {
        "dataset_id": "d" * 32,
        "content_hash": "c0ffee",
        "rows": 120,
        "columns": ["x", "z", "color", "label"],
        "schema": {"x": "string"},
        "parts": [{"seq": 0, "rows": 120}],
    },
    "source": {
        "search": "index=main sourcetype=pump",
        "earliest": "-24h",
        "latest": "now",
        "sid": "1700000000.42",
    },
}


@pytest.fixture(scope="module")
def classifier(make_events: Events) -> TrainedModel:
    return train(
        make_events(120),
        FitSpec("LogisticRegression", target="label", features=("x", "z", "color")),
    )


@pytest.fixture(scope="module")
def forest(make_events: Events) -> TrainedModel:
    return train(
        make_events(120),
        FitSpec(
            "RandomForestRegressor",
            target="amount",
            features=("x", "z", "color"),
            params={"n_estimators": 5, "random_state": 0},
        ),
    )


def test_each_register_is_a_new_version(module_store: ModelStore, classifier: TrainedModel) -> None:
    first = module_store.register(classifier, "versions")
    second = module_store.register(classifier, "versions")
    assert (first.version, second.version) == (1, 2)
    assert first.run_id != second.run_id
    assert module_store.resolve(ModelRef("versions", version=1)).run_id == first.run_id


def test_register_is_idempotent_per_job(module_store: ModelStore, classifier: TrainedModel) -> None:
    a = module_store.register(classifier, "jobs", job_id="job-1")
    again = module_store.register(classifier, "jobs", job_id="job-1")
    b = module_store.register(classifier, "jobs", job_id="job-2")
    assert again == a
    assert b.version == a.version + 1
    assert module_store.resolve(ModelRef("jobs", version=a.version)).job_id == "job-1"


def test_resolve_latest_version_and_alias(
    module_store: ModelStore, classifier: TrainedModel
) -> None:
    for _ in range(3):
        module_store.register(classifier, "refs")
    module_store.set_alias("refs", "production", 2)
    assert module_store.resolve(ModelRef.parse("refs")).version == 3
    assert module_store.resolve(ModelRef.parse("refs@1")).version == 1
    found = module_store.resolve(ModelRef.parse("refs:production"))
    assert found.version == 2 and found.aliases == ("production",)
    module_store.set_alias("refs", "production", 3)  # an alias moves
    assert module_store.resolve(ModelRef.parse("refs:production")).version == 3


def test_delete_alias_keeps_the_version(module_store: ModelStore, classifier: TrainedModel) -> None:
    module_store.register(classifier, "unaliased")
    module_store.set_alias("unaliased", "production", 1)
    module_store.delete_alias("unaliased", "production")
    assert module_store.resolve(ModelRef.parse("unaliased@1")).aliases == ()
    with pytest.raises(VersionNotFound, match="no alias 'production'"):
        module_store.resolve(ModelRef.parse("unaliased:production"))
    with pytest.raises(NotFound, match=r"has no alias 'production' \(its aliases: none\)"):
        module_store.delete_alias("unaliased", "production")


def test_unknown_model_suggests_listing_models(module_store: ModelStore) -> None:
    with pytest.raises(ModelNotFound, match=r"no model named 'ghost'.*kepler models"):
        module_store.resolve(ModelRef.parse("ghost"))
    with pytest.raises(ModelNotFound):
        module_store.load("ghost", 1)


def test_unknown_version_or_alias_names_what_exists(
    module_store: ModelStore, classifier: TrainedModel
) -> None:
    module_store.register(classifier, "missing")
    module_store.register(classifier, "missing")
    module_store.set_alias("missing", "prod", 1)
    listed = r"no version 9; its versions: 1, 2; its aliases: prod \(version 1\)"
    with pytest.raises(VersionNotFound, match=listed):
        module_store.resolve(ModelRef.parse("missing@9"))
    with pytest.raises(VersionNotFound, match="no alias 'staging'; its versions: 1, 2"):
        module_store.resolve(ModelRef.parse("missing:staging"))
    with pytest.raises(VersionNotFound, match="no version 5"):
        module_store.set_alias("missing", "prod", 5)


def test_load_gives_back_the_same_predictions(
    module_store: ModelStore, classifier: TrainedModel, make_events: Events
) -> None:
    saved = module_store.register(classifier, "roundtrip")
    pipeline, meta = module_store.load("roundtrip", saved.version)
    assert meta == classifier.meta
    new = make_events(30, seed=9)
    pd.testing.assert_frame_equal(
        predict_frame(pipeline, meta, new, probabilities=True),
        predict_frame(classifier.pipeline, classifier.meta, new, probabilities=True),
    )


def test_run_records_params_metrics_and_lineage_tags(
    module_store: ModelStore, forest: TrainedModel
) -> None:
    saved = module_store.register(forest, "lineage", lineage=LINEAGE, job_id="job-42")
    run = module_store.client.get_run(saved.run_id)
    assert run.data.params["algorithm"] == "RandomForestRegressor"
    assert run.data.params["n_estimators"] == "5"
    assert run.data.params["features"] == "x,z,color"
    assert run.data.params["target"] == "amount" and run.data.params["holdout"] == "0.2"
    assert run.data.metrics == pytest.approx(forest.metrics)
    tags = run.data.tags
    assert tags["kepler.algorithm"] == "RandomForestRegressor"
    assert tags["kepler.task"] == "regressor" and tags["kepler.job_id"] == "job-42"
    assert tags["kepler.dataset.content_hash"] == "c0ffee"
    assert tags["kepler.dataset.rows"] == "120"
    assert tags["kepler.dataset.columns"] == "x,z,color,label"
    assert tags["kepler.splunk.search"] == "index=main sourcetype=pump"
    assert tags["kepler.splunk.sid"] == "1700000000.42"
    assert run.info.status == "FINISHED"


def test_describe_reports_importances_params_lineage_and_versions(
    module_store: ModelStore, forest: TrainedModel
) -> None:
    module_store.register(forest, "described", lineage=LINEAGE)
    module_store.register(forest, "described")
    module_store.set_alias("described", "prod", 1)
    body = module_store.describe(ModelRef.parse("described:prod"))
    assert body["name"] == "described" and body["version"] == 1
    assert body["algorithm"] == "RandomForestRegressor" and body["task"] == "regressor"
    assert body["target"] == "amount" and body["features"] == ["x", "z", "color"]
    assert body["params"] == {"n_estimators": 5, "random_state": 0}
    assert body["metrics"] == pytest.approx(forest.metrics)
    assert body["importances"] == forest.importances and "coefficients" not in body
    assert body["importances"][0]["feature"] == "x"
    assert body["lineage"] == LINEAGE
    assert body["aliases"] == ["prod"]
    assert [v["version"] for v in body["versions"]] == [1, 2]
    assert body["versions"][0]["aliases"] == ["prod"]
    sample = body["holdout_sample"]  # what the SDK draws residuals from
    assert sample == forest.holdout and sample["n_holdout"] == forest.meta.n_holdout
    assert len(sample["y_true"]) == len(sample["y_pred"]) == forest.meta.n_holdout
    # Clients read every key (the bridge adds the alias moves, kept in its database).
    assert wire.ModelView.from_dict(body).to_dict() == {**body, "alias_moves": []}


def test_describe_reports_coefficients_of_linear_models(
    module_store: ModelStore, classifier: TrainedModel
) -> None:
    module_store.register(classifier, "linear")
    body = module_store.describe(ModelRef.parse("linear"))
    assert body["coefficients"] == classifier.importances and "importances" not in body
    assert body["classes"] == ["no", "yes"]
    assert wire.ModelView.from_dict(body).to_dict() == {**body, "alias_moves": []}


def test_list_models_summarises_the_latest_version(
    module_store: ModelStore, classifier: TrainedModel, forest: TrainedModel
) -> None:
    module_store.register(classifier, "listed")
    module_store.register(forest, "listed")
    module_store.set_alias("listed", "prod", 1)
    (entry,) = [m for m in module_store.list_models() if m["name"] == "listed"]
    assert entry["latest_version"] == 2 and entry["versions"] == [1, 2]
    assert entry["algorithm"] == "RandomForestRegressor" and entry["task"] == "regressor"
    assert entry["metrics"] == pytest.approx(forest.metrics)
    assert entry["aliases"] == {"prod": 1}
    assert entry["created"].endswith("+00:00") and entry["updated"] >= entry["created"]


def test_delete_removes_the_model(module_store: ModelStore, classifier: TrainedModel) -> None:
    module_store.register(classifier, "doomed")
    module_store.delete("doomed")
    with pytest.raises(ModelNotFound):
        module_store.resolve(ModelRef.parse("doomed"))
    assert "doomed" not in [m["name"] for m in module_store.list_models()]
    with pytest.raises(ModelNotFound, match="'doomed'"):
        module_store.delete("doomed")


def test_bad_model_names_are_refused(module_store: ModelStore, classifier: TrainedModel) -> None:
    with pytest.raises(InvalidSpec, match="not valid"):
        module_store.register(classifier, "no spaces please")


def test_stores_in_one_process_stay_apart(
    tmp_path: Path,
    module_store: ModelStore,
    classifier: TrainedModel,
    store_factory: Callable[[Path], ModelStore],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing may land in the working directory
    other = store_factory(tmp_path / "other")
    saved = other.register(classifier, "apart")
    assert saved.version == 1
    with pytest.raises(ModelNotFound):
        module_store.resolve(ModelRef.parse("apart"))
    assert other.resolve(ModelRef.parse("apart")).source.startswith(
        (tmp_path / "other" / "artifacts").as_uri()
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other"]


def test_pip_requirements_pin_what_the_model_needs(
    classifier: TrainedModel, make_events: Events
) -> None:
    reqs = pip_requirements(classifier.meta)
    assert any(r.startswith("scikit-learn==") for r in reqs)
    assert any(r.startswith("wheels/kepler_ml-") and r.endswith(".whl") for r in reqs)
    assert not any(r.startswith("kepler-ml") for r in reqs)  # no public index serves it
    assert not any(r.startswith(("xgboost", "torch")) for r in reqs)
    xgb = train(
        make_events(60),
        FitSpec("XGBoostRegressor", target="amount", features=("x",), params={"n_estimators": 2}),
    )
    assert any(r.startswith("xgboost==") for r in pip_requirements(xgb.meta))


def test_registered_model_requirements_resolve_offline(
    module_store: ModelStore, classifier: TrainedModel, tmp_path: Path
) -> None:
    """What MLflow does to restore a model's environment (pip install -r requirements.txt
    in the model's folder) finds Kepler without any index: kepler-ml is on none."""
    import json
    import subprocess
    import sys
    import sysconfig
    import zipfile
    from importlib import metadata

    from mlflow.utils.file_utils import local_file_uri_to_path
    from packaging.requirements import InvalidRequirement, Requirement

    registered = module_store.register(classifier, "offline")
    info = module_store.resolve(ModelRef("offline", version=registered.version))
    folder = Path(local_file_uri_to_path(info.source))
    lines = [
        ln.strip()
        for ln in (folder / "requirements.txt").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    local = []
    for line in lines:
        try:
            req = Requirement(line)
        except InvalidRequirement:  # a path to a file in the model
            local.append(line)
            continue
        if req.name == "kepler-ml":
            local.append(line)
            continue
        # Public packages, pinned to what trained the model.
        assert str(req.specifier) == f"=={metadata.version(req.name)}", line
    assert local, lines

    report = tmp_path / "report.json"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-deps"),
            *("--ignore-installed", "--quiet", "--report", str(report), *local),
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    planned = json.loads(report.read_text())["install"]
    installs = {i["metadata"]["name"]: i["metadata"] for i in planned}
    assert installs["kepler-ml"]["version"] == metadata.version("kepler-ml")
    assert "pandas>=2.2" in " ".join(installs["kepler-ml"].get("requires_dist", []))

    # The wheel holds the code the pickled pipeline imports.
    wheel = next(folder.glob("wheels/kepler_ml-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(tmp_path / "site")
    # -S: no .pth files, so not the editable install's import hook; site-packages last,
    # for scikit-learn and the other public requirements.
    code = (
        f"import sys; sys.path[:0] = [{str(tmp_path / 'site')!r}]; "
        f"sys.path.append({sysconfig.get_paths()['purelib']!r}); "
        "import kepler.ml.pipeline as m; print(m.__file__)"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().startswith(str(tmp_path / "site")), out.stdout


def test_lineage_tags_accept_flat_keys_and_clip_nothing_short() -> None:
    assert lineage_tags({"content_hash": "h", "rows": 3, "search": "index=a"}) == {
        "kepler.dataset.content_hash": "h",
        "kepler.dataset.rows": "3",
        "kepler.splunk.search": "index=a",
    }


def test_list_versions_gives_each_version_its_own_metrics(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    from kepler.core.spec import FitSpec
    from kepler.ml.store import ModelStore
    from kepler.ml.training import train

    store = ModelStore(f"sqlite:///{tmp_path / 'm.db'}", (tmp_path / "art").as_uri())
    frame = pd.DataFrame({"x": [float(i) for i in range(60)], "y": [i % 3 for i in range(60)]})
    store.register(train(frame, FitSpec("LinearRegression", target="y", features=("x",))), "m")
    store.register(train(frame, FitSpec("DecisionTreeRegressor", target="y", features=("x",))), "m")
    store.set_alias("m", "production", 1)
    rows = store.list_versions()
    assert [(r["name"], r["version"], r["latest"]) for r in rows] == [
        ("m", 1, False),
        ("m", 2, True),
    ]
    assert rows[0]["aliases"] == ["production"] and rows[1]["aliases"] == []
    assert (rows[0]["algorithm"], rows[1]["algorithm"]) == (
        "LinearRegression",
        "DecisionTreeRegressor",
    )
    assert rows[0]["metrics"]["r2"] != rows[1]["metrics"]["r2"]


def test_a_failing_registry_is_not_a_missing_model(
    tmp_path: Path, store_factory: Callable[[Path], ModelStore]
) -> None:
    """A registry that cannot answer (here its database overwritten under the open store)
    says so, as a 503, instead of "no model named ...": a busy SQLite file must not make
    a model look deleted, nor a fit think its version was never registered."""
    store = store_factory(tmp_path)
    store.client.create_registered_model("m")
    with open(tmp_path / "mlflow.db", "r+b") as fh:
        fh.write(b"not a database" * 512)
    for ref in (ModelRef("m"), ModelRef("m", version=1), ModelRef.parse("m:production")):
        with pytest.raises(RegistryUnavailable, match="did not answer") as err:
            store.resolve(ref)
        assert not isinstance(err.value, NotFound) and err.value.status == 503
        assert "mlflow.db" not in err.value.message and str(tmp_path) not in err.value.message
