"""partial_fit: a version continued on new rows equals scikit-learn's own partial_fit."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from kepler.core.algorithms import PARTIAL_FIT, find_algorithm
from kepler.core.errors import BadParameter, DataError, InvalidSpec
from kepler.core.spec import FitSpec
from kepler.ml.outputs import predict_frame
from kepler.ml.partial import continue_training
from kepler.ml.store import lineage_tags
from kepler.ml.training import train

Events = Callable[..., pd.DataFrame]


def spec(algorithm: str, **kw: object) -> FitSpec:
    base: dict = {
        "target": "label",
        "features": ("x", "z"),
        "into": "m",
        "holdout": 0.0,
        "partial_fit": True,
    }
    base.update(kw)
    return FitSpec(algorithm, **base)  # type: ignore[arg-type]


def numbers(frame: pd.DataFrame) -> np.ndarray:
    return frame[["x", "z"]].astype(float).to_numpy()


def test_sgd_classifier_continues_like_scikit_learn(make_events: Events) -> None:
    from sklearn.linear_model import SGDClassifier

    first, second = make_events(200, seed=1, as_text=False), make_events(200, seed=2, as_text=False)
    s = spec("SGDClassifier", params={"random_state": 0})
    trained = train(first, s)
    continued = continue_training(second, s, trained.pipeline, trained.meta, 1)
    assert continued.meta.n_train == 400

    direct = SGDClassifier(random_state=0).fit(numbers(first), first["label"] == "yes")
    direct.partial_fit(numbers(second), second["label"] == "yes")
    new = make_events(50, seed=3, as_text=False)
    got = predict_frame(continued.pipeline, continued.meta, new)["predicted(label)"]
    assert list(got) == list(np.where(direct.predict(numbers(new)), "yes", "no"))


def test_gaussian_nb_continued_equals_one_fit_on_all_rows(make_events: Events) -> None:
    first, second = make_events(150, seed=4, as_text=False), make_events(150, seed=5, as_text=False)
    s = spec("GaussianNB")
    trained = train(first, s)
    continued = continue_training(second, s, trained.pipeline, trained.meta, 1)
    new = make_events(60, seed=6, as_text=False)
    # Imputation aside (no gaps here), GaussianNB's partial_fit is exact.
    both = train(
        pd.concat([first, second], ignore_index=True), spec("GaussianNB", partial_fit=False)
    )
    pd.testing.assert_frame_equal(
        predict_frame(continued.pipeline, continued.meta, new),
        predict_frame(both.pipeline, both.meta, new),
    )


def test_standard_scaler_continues_its_statistics(make_events: Events) -> None:
    first, second = make_events(100, seed=7, as_text=False), make_events(100, seed=8, as_text=False)
    s = spec("StandardScaler", target=None)
    trained = train(first, s)
    continued = continue_training(second, s, trained.pipeline, trained.meta, 1)
    scaler = continued.pipeline.named_steps["model"]
    both = pd.concat([first, second])
    np.testing.assert_allclose(scaler.mean_, numbers(both).mean(axis=0))


def test_new_class_is_refused(make_events: Events) -> None:
    s = spec("SGDClassifier")
    trained = train(make_events(100, as_text=False), s)
    more = make_events(100, seed=9, as_text=False).assign(label="maybe")
    with pytest.raises(DataError, match="new classes \\(maybe\\)"):
        continue_training(more, s, trained.pipeline, trained.meta, 1)


def test_other_algorithm_is_refused(make_events: Events) -> None:
    trained = train(make_events(100, as_text=False), spec("GaussianNB"))
    with pytest.raises(InvalidSpec, match="m@1, a GaussianNB model"):
        continue_training(make_events(50), spec("SGDClassifier"), trained.pipeline, trained.meta, 1)


def test_other_fields_are_refused(make_events: Events) -> None:
    trained = train(make_events(100, as_text=False), spec("GaussianNB"))
    other = spec("GaussianNB", features=("x",))
    with pytest.raises(DataError, match="missing z"):
        continue_training(make_events(50), other, trained.pipeline, trained.meta, 1)


def test_new_parameters_are_refused(make_events: Events) -> None:
    trained = train(make_events(100, as_text=False), spec("GaussianNB"))
    other = spec("GaussianNB", params={"var_smoothing": 0.1})
    with pytest.raises(BadParameter, match="its own parameters"):
        continue_training(make_events(50), other, trained.pipeline, trained.meta, 1)


def test_unsupported_algorithm_is_refused_listing_those_that_support_it() -> None:
    with pytest.raises(BadParameter) as err:
        spec("RandomForestClassifier")
    assert "not supported by RandomForestClassifier" in str(err.value)
    assert all(name in str(err.value) for name in PARTIAL_FIT)


def test_partial_fit_needs_into() -> None:
    with pytest.raises(InvalidSpec, match="into <model>"):
        spec("GaussianNB", into=None)


def test_every_partial_fit_algorithm_has_partial_fit() -> None:
    import importlib

    for name in PARTIAL_FIT:
        module, cls = find_algorithm(name).estimator.split(":")
        assert hasattr(getattr(importlib.import_module(module), cls), "partial_fit"), name


def test_lineage_tags_name_the_version_continued() -> None:
    assert lineage_tags({"continued_from": 3})["kepler.partial_fit.from"] == "3"
    assert "kepler.partial_fit.from" not in lineage_tags({})


def test_fields_listed_out_of_the_data_order_continue(make_events: Events) -> None:
    s = spec("GaussianNB", features=("z", "x"))
    trained = train(make_events(100), s)
    continued = continue_training(make_events(100, seed=3), s, trained.pipeline, trained.meta, 1)
    assert continued.meta.features == ["z", "x"] and continued.meta.n_train == 200
