"""train(): refusing data it cannot learn from, splitting, fitting, and what it records."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kepler.core.errors import BadParameter, DataError, InvalidSpec, UnknownAlgorithm
from kepler.core.spec import FitSpec
from kepler.ml import frames, training
from kepler.ml.training import MIN_ROWS_FOR_HOLDOUT, ModelMeta, train

Events = Callable[..., pd.DataFrame]


def _spec(
    algorithm: str = "LogisticRegression", target: str | None = "label", **kw: Any
) -> FitSpec:
    kw.setdefault("features", ("x", "z", "color"))
    return FitSpec(algorithm, target=target, **kw)


# ------------------------------------------------------------------ refusing bad input


def test_empty_dataset(make_events: Events) -> None:
    with pytest.raises(DataError, match="the dataset has no rows"):
        train(make_events().iloc[:0], _spec())


def test_supervised_fit_without_a_target(make_events: Events) -> None:
    with pytest.raises(DataError, match=r"LogisticRegression predicts a field.*from"):
        train(make_events(), _spec(target=None))


def test_target_missing_from_the_data_names_the_available_fields(make_events: Events) -> None:
    with pytest.raises(DataError, match=r"'lable' is not in the data; the data has: x, z, color"):
        train(make_events(), _spec(target="lable"))


def test_target_with_no_values(make_events: Events) -> None:
    frame = make_events()
    frame["label"] = ""
    with pytest.raises(DataError, match="target field 'label' has no values"):
        train(frame, _spec())


def test_classifier_target_with_one_class(make_events: Events) -> None:
    frame = make_events()
    frame["label"] = "yes"
    frame.loc[0, "label"] = ""
    with pytest.raises(DataError, match=r"only one class \('yes'\)"):
        train(frame, _spec())


def test_regressor_target_that_is_text(make_events: Events) -> None:
    with pytest.raises(DataError, match=r"'color' is not numeric.*classifier"):
        train(make_events(), _spec("LinearRegression", target="color", features=("x",)))


def test_feature_not_in_the_data(make_events: Events) -> None:
    with pytest.raises(DataError, match="field 'nope' is not in the data"):
        train(make_events(), _spec(features=("x", "nope")))


def test_all_empty_feature(make_events: Events) -> None:
    frame = make_events()
    frame["z"] = ""
    with pytest.raises(DataError, match="'z' have no values in any row; drop them"):
        train(frame, _spec())


def test_mostly_numeric_feature_with_dirt(make_events: Events) -> None:
    frame = make_events(100)
    frame.loc[:4, "x"] = "n/a"
    with pytest.raises(DataError, match=r"'x' is mostly numbers, but 5 of 100.*tonumber\(x\)"):
        train(frame, _spec())


def test_unsupervised_fit_with_a_target(make_events: Events) -> None:
    with pytest.raises(InvalidSpec, match="KMeans learns without a target"):
        train(make_events(), _spec("KMeans", target="label"))


def test_unknown_algorithm(make_events: Events) -> None:
    with pytest.raises(UnknownAlgorithm, match="did you mean"):
        train(make_events(), _spec("LogisticRegresion"))


def test_parameter_the_algorithm_does_not_have(make_events: Events) -> None:
    with pytest.raises(BadParameter, match="no parameter 'trees'"):
        train(make_events(), _spec("RandomForestClassifier", params={"trees": 5}))


def test_parameter_scikit_learn_refuses_at_fit_time(make_events: Events) -> None:
    # min_samples_split=1 passes the flat declaration (>= 0) but scikit-learn wants >= 2
    spec = _spec("DecisionTreeClassifier", params={"min_samples_split": 1})
    with pytest.raises(BadParameter, match=r"DecisionTreeClassifier: .*min_samples_split"):
        train(make_events(), spec)


def test_data_the_algorithm_cannot_fit(make_events: Events) -> None:
    with pytest.raises(DataError, match="KMeans could not be fitted on this data: n_samples=5"):
        train(make_events(5), _spec("KMeans", target=None, params={"k": 8}))


def test_fits_that_would_not_fit_in_memory_are_refused_with_the_arithmetic(
    make_events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training, "MAX_QUADRATIC_BYTES", 50 * 50 * 8)
    with pytest.raises(DataError, match=r"KernelPCA holds a rows-by-rows matrix: 60 rows.*50 rows"):
        train(make_events(60), _spec("KernelPCA", target=None))
    train(make_events(60), _spec("PCA", target=None))  # linear in rows: no limit


def test_probabilities_for_a_model_without_them(make_events: Events) -> None:
    with pytest.raises(BadParameter, match="SVM does not estimate class probabilities"):
        train(make_events(), _spec("SVM", probabilities=True))
    with pytest.raises(BadParameter, match="applies to classifiers"):
        train(make_events(), _spec("Ridge", target="amount", probabilities=True))


# -------------------------------------------------------------------- fitting and meta


def test_rows_with_a_missing_target_are_dropped_and_counted(make_events: Events) -> None:
    frame = make_events(100)
    frame.loc[[1, 5, 9], "label"] = ""
    model = train(frame, _spec())
    assert model.meta.n_dropped == 3
    assert model.meta.n_train + model.meta.n_holdout == 97


def test_holdout_is_a_stratified_fifth_by_default(make_events: Events) -> None:
    frame = make_events(200)
    model = train(frame, _spec())
    assert (model.meta.n_train, model.meta.n_holdout) == (160, 40)
    assert model.meta.holdout == 0.2
    assert set(model.metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert model.metrics["accuracy"] > 0.8


def test_holdout_fraction_and_no_holdout(make_events: Events) -> None:
    frame = make_events(100)
    assert train(frame, _spec(holdout=0.5)).meta.n_holdout == 50
    none = train(frame, _spec(holdout=0.0))
    assert (none.meta.n_train, none.meta.n_holdout, none.metrics) == (100, 0, {})


def test_tiny_data_is_fitted_on_every_row(make_events: Events) -> None:
    frame = make_events(MIN_ROWS_FOR_HOLDOUT - 1, seed=3)
    model = train(frame, _spec("DecisionTreeClassifier"))
    assert (model.meta.n_train, model.meta.n_holdout) == (MIN_ROWS_FOR_HOLDOUT - 1, 0)


def test_holdout_is_repeatable_and_follows_random_state(make_events: Events) -> None:
    frame = make_events(150)
    spec = _spec("DecisionTreeClassifier", params={"random_state": 7})
    assert train(frame, spec).metrics == train(frame, spec).metrics


def test_split_seed_digest_and_spec_are_recorded_for_reproducing(make_events: Events) -> None:
    frame = make_events(150)
    seeded = _spec("DecisionTreeClassifier", params={"random_state": 7})
    first, again = train(frame, seeded), train(frame.copy(), seeded)
    assert first.meta.seed == 7 and first.meta.split_digest == again.meta.split_digest
    assert first.spec == seeded.to_dict()
    unseeded = train(frame, _spec("DecisionTreeClassifier"))
    assert unseeded.meta.seed == 0  # the split's seed without a random_state
    assert unseeded.meta.split_digest != first.meta.split_digest  # other rows held out
    assert train(frame, _spec(holdout=0.0)).meta.split_digest is None


def test_unsupervised_models_fit_every_row_and_describe_it(make_events: Events) -> None:
    model = train(make_events(80), _spec("KMeans", target=None, params={"k": 2}))
    assert (model.meta.n_train, model.meta.n_holdout) == (80, 0)
    assert set(model.metrics) == {"n_clusters", "silhouette"}


def test_regressor_metrics_and_importances(make_events: Events) -> None:
    model = train(make_events(150), _spec("LinearRegression", target="amount"))
    assert model.metrics["r2"] > 0.99
    assert model.importances[0]["feature"] == "x"
    assert model.importances[0]["coefficient"] == pytest.approx(3.0, abs=0.05)


def test_wildcards_expand_without_the_target_or_splunk_fields(make_events: Events) -> None:
    model = train(make_events(60), _spec("LinearRegression", target="amount", features=("*",)))
    assert model.meta.features == ["x", "z", "color", "label"]


def test_meta_records_what_apply_needs_and_round_trips_as_json(make_events: Events) -> None:
    model = train(
        make_events(100),
        _spec(
            "RandomForestClassifier",
            params={"n_estimators": "5", "max_depth": "3"},
            probabilities=True,
            output_name="guess",
        ),
    )
    meta = model.meta
    assert meta.algorithm == "RandomForestClassifier" and meta.task == "classifier"
    assert meta.target == "label" and meta.features == ["x", "z", "color"]
    assert meta.feature_types == {"x": "numeric", "z": "numeric", "color": "categorical"}
    assert meta.classes == ["no", "yes"]
    assert meta.params == {"n_estimators": 5, "max_depth": 3}
    assert meta.probabilities is True and meta.output_name == "guess"
    assert meta.kepler_version
    again = ModelMeta.from_dict(json.loads(json.dumps(meta.to_dict())))
    assert again == meta
    assert ModelMeta.from_dict({**meta.to_dict(), "added_later": 1}) == meta


def test_numeric_class_labels_are_recorded_as_strings(make_events: Events) -> None:
    frame = make_events(80, as_text=False)
    frame["code"] = np.where(frame["x"] > 0, 1, 0)
    model = train(frame, _spec(target="code"))
    assert model.meta.classes == ["0", "1"]
    predicted = model.pipeline.predict(frames.conform(frame, model.meta.feature_types))
    assert predicted.dtype == np.int64 and set(predicted) == {0, 1}


def test_typed_and_text_data_train_the_same_model(make_events: Events) -> None:
    text = train(make_events(120), _spec("LinearRegression", target="amount", features=("x",)))
    typed = train(
        make_events(120, as_text=False), _spec("LinearRegression", target="amount", features=("x",))
    )
    assert text.importances == typed.importances


def test_progress_is_reported_in_order_up_to_done(make_events: Events) -> None:
    seen: list[tuple[float, str]] = []
    train(make_events(), _spec(), progress=lambda f, m: seen.append((f, m)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and seen[-1] == (1.0, "done")
    assert any("fitting LogisticRegression" in m for _, m in seen)


def test_fit_warnings_are_kept_for_the_user(make_events: Events) -> None:
    model = train(make_events(60), _spec("MLPClassifier", params={"max_iter": 1}))
    assert any(w.startswith("ConvergenceWarning") for w in model.warnings)


def test_training_does_not_modify_the_callers_frame(make_events: Events) -> None:
    frame = make_events(50)
    before = frame.copy()
    train(frame, _spec())
    pd.testing.assert_frame_equal(frame, before)


def test_split_is_stratified_disjoint_and_repeatable() -> None:
    import numpy as np

    from kepler.ml.training import _split

    labels = np.array(["rare"] * 30 + ["common"] * 970)
    train_rows, holdout = _split(1000, labels, 0.2, seed=7)
    assert holdout is not None
    assert len(holdout) == 200 and len(train_rows) == 800
    assert not set(train_rows) & set(holdout)
    assert sorted([*train_rows, *holdout]) == list(range(1000))
    assert (labels[holdout] == "rare").sum() == 6  # 3% of the holdout, as of the data
    _, again_holdout = _split(1000, labels, 0.2, seed=7)
    assert np.array_equal(holdout, again_holdout)
    assert not np.array_equal(holdout, _split(1000, labels, 0.2, seed=8)[1])


@pytest.mark.parametrize("algorithm", ["RandomForestClassifier", "LinearRegression"])
def test_consumed_frame_trains_the_same_model_and_the_caller_keeps_its_own(
    algorithm: str,
) -> None:
    """``consume=True`` holds rows out by reordering the frame in place: the same rows, in
    the same order, as copying them; without it the caller's frame is never written."""
    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n),
            "b": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
            "color": rng.choice(["red", "green", "blue"], n).astype(object),
            "label": rng.choice(["yes", "no"], n),
            "y": rng.normal(size=n),
        }
    )
    target = "label" if algorithm.endswith("Classifier") else "y"
    params = {"random_state": 0} if algorithm.endswith("Classifier") else {}
    spec = _spec(algorithm, target, features=("a", "b", "color"), params=params)
    before = frame.copy(deep=True)
    kept = train(frame, spec)
    pd.testing.assert_frame_equal(frame, before)
    given = train(frame.copy(deep=True), spec, consume=True)
    assert given.metrics == kept.metrics and given.metrics
    assert (given.meta.n_train, given.meta.n_holdout) == (kept.meta.n_train, kept.meta.n_holdout)
    np.testing.assert_array_equal(
        given.pipeline.predict(before[["a", "b", "color"]]),
        kept.pipeline.predict(before[["a", "b", "color"]]),
    )


def test_hold_out_in_place_matches_iloc() -> None:
    rng = np.random.default_rng(5)
    X = pd.DataFrame(
        {
            "x": rng.normal(size=50),
            "n": rng.integers(0, 9, 50),
            "s": rng.choice(["p", "q"], 50),  # pandas' str type: copied, not reordered
        },
        index=pd.RangeIndex(100, 150),
    )
    X["o"] = pd.Series(rng.choice(["p", "q"], 50), index=X.index, dtype=object)
    train_rows, holdout_rows = training._split(50, None, 0.3, 7)
    assert holdout_rows is not None
    expected = X.iloc[train_rows], X.iloc[holdout_rows]
    got = training._hold_out(X.copy(deep=True), train_rows, holdout_rows, in_place=True)
    for g, e in zip(got, expected, strict=True):
        pd.testing.assert_frame_equal(g, e)
