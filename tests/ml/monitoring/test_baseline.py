"""Every fit keeps a baseline with its version: features and outputs, in MLflow, in summary."""

from __future__ import annotations

import json
from collections.abc import Callable

import pandas as pd
import pytest

from kepler.core.refs import ModelRef
from kepler.core.spec import FitSpec
from kepler.ml.monitoring import ARTIFACT, make_baseline
from kepler.ml.monitoring.baseline import MAX_FIELDS
from kepler.ml.store import ModelStore
from kepler.ml.training import train


def test_fit_profiles_features_and_holdout_outputs(
    make_events: Callable[..., pd.DataFrame],
) -> None:
    frame = make_events(400, as_text=True)
    spec = FitSpec(
        "RandomForestClassifier",
        target="label",
        features=("x", "z", "color"),
        probabilities=True,
    )
    trained = train(frame, spec)
    baseline = trained.baseline
    assert baseline is not None and baseline["source"] == "fit"
    fields = baseline["fields"]
    assert set(fields) == {"x", "z", "color"}
    assert fields["x"]["type"] == "numeric" and fields["color"]["type"] == "categorical"
    assert fields["z"]["nulls"] == 1  # Splunk's blank is missing, counted
    assert baseline["rows"] == trained.meta.n_train + trained.meta.n_holdout
    outputs = baseline["outputs"]
    assert list(outputs) == ["predicted(label)", "probability(label=no)", "probability(label=yes)"]
    assert outputs["predicted(label)"]["type"] == "categorical"
    assert outputs["predicted(label)"]["count"] == trained.meta.n_holdout  # the holdout's
    assert outputs["probability(label=yes)"]["type"] == "numeric"
    json.dumps(baseline)  # JSON as it is


def test_baseline_is_stored_with_the_version_and_summarized(
    make_events: Callable[..., pd.DataFrame], module_store: ModelStore
) -> None:
    trained = train(
        make_events(200), FitSpec("LinearRegression", target="amount", features=("x", "z"))
    )
    registered = module_store.register(trained, "amounts")
    info = module_store.resolve(ModelRef("amounts", version=registered.version))
    assert module_store.baseline(info) == trained.baseline
    run = module_store.client.get_run(registered.run_id)
    assert ARTIFACT in [
        a.path for a in module_store.client.list_artifacts(run.info.run_id, "kepler")
    ]
    shown = module_store.describe(ModelRef("amounts"))["baseline"]
    assert shown["rows"] == 200 and set(shown["fields"]) == {"x", "z"}
    assert set(shown["fields"]["x"]) == {"type", "missing", "mean", "std", "min", "max"}
    assert "predicted(amount)" in shown["outputs"]


def test_old_version_gets_a_baseline_from_supplied_rows(
    make_events: Callable[..., pd.DataFrame], module_store: ModelStore
) -> None:
    trained = train(make_events(200), FitSpec("LinearRegression", target="amount", features=("x",)))
    trained.baseline = None  # as a version fitted before baselines existed
    registered = module_store.register(trained, "legacy")
    info = module_store.resolve(ModelRef("legacy", version=registered.version))
    assert module_store.baseline(info) is None
    assert module_store.describe(ModelRef("legacy"))["baseline"] is None
    made = make_baseline(trained.pipeline, trained.meta, make_events(300, seed=4))
    module_store.set_baseline(info, made)
    assert module_store.baseline(info) == made and made["source"] == "supplied"


def test_wide_models_profile_a_bounded_number_of_fields() -> None:
    n = MAX_FIELDS + 5
    frame = pd.DataFrame({f"f{i}": [float(j % 7) for j in range(40)] for i in range(n)})
    frame["y"] = frame["f0"] * 2.0
    trained = train(
        frame, FitSpec("LinearRegression", target="y", features=tuple(frame.columns[:n]))
    )
    assert trained.baseline is not None
    assert len(trained.baseline["fields"]) == MAX_FIELDS
    assert trained.baseline["fields_left_out"] == 5


def test_supplied_rows_without_any_model_field_are_refused(
    make_events: Callable[..., pd.DataFrame],
) -> None:
    from kepler.core.errors import DataError

    trained = train(make_events(100), FitSpec("LinearRegression", target="amount", features=("x",)))
    with pytest.raises(DataError, match="none of the model's fields"):
        make_baseline(trained.pipeline, trained.meta, pd.DataFrame({"other": [1.0, 2.0]}))


def test_a_large_fit_profiles_a_uniform_sample_that_matches_the_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past PROFILED_ROWS, a seeded sample is profiled: rows says how many the fit had,
    profiled_rows how many were read, and the sample's bin shares and moments are those of
    all the rows (the full profile computed here beside it)."""
    import numpy as np

    from kepler.ml.monitoring import baseline as module
    from kepler.ml.monitoring.drift import count_window, drift
    from kepler.ml.monitoring.profile import profile_frame

    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"x": rng.normal(10, 2, 40_000), "y": rng.exponential(1, 40_000)})
    frame["label"] = (frame["x"] + rng.normal(0, 1, len(frame)) > 10).astype(int)
    spec = FitSpec("LogisticRegression", target="label", features=("x", "y"))
    monkeypatch.setattr(module, "PROFILED_ROWS", 8_000)
    trained = train(frame, spec)
    baseline = trained.baseline
    assert baseline is not None
    assert baseline["rows"] == 40_000
    assert abs(baseline["profiled_rows"] - 8_000) <= 2  # rounded per part
    full = profile_frame(frame, {"x": "numeric", "y": "numeric"})["fields"]
    for name in ("x", "y"):
        sampled = baseline["fields"][name]
        assert sampled["count"] == baseline["profiled_rows"]
        error = 4 * full[name]["std"] / np.sqrt(sampled["count"])  # four standard errors
        assert sampled["mean"] == pytest.approx(full[name]["mean"], abs=error)
        assert sampled["std"] == pytest.approx(full[name]["std"], rel=0.05)
    same = drift(baseline, count_window(baseline, [frame[["x", "y"]]]))  # its own data
    assert {row["field"]: row["drifted"] for row in same if row["role"] == "feature"} == {
        "x": False,
        "y": False,
    }
    moved = frame[["x", "y"]] + 1.0
    shifted = drift(baseline, count_window(baseline, [moved]))
    assert all(row["drifted"] for row in shifted if row["role"] == "feature")
    assert module.summarize(baseline)["profiled_rows"] == baseline["profiled_rows"]
