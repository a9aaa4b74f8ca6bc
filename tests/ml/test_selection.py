"""FieldSelector against scikit-learn's GenericUnivariateSelect, through train/apply."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from kepler.core.errors import BadParameter
from kepler.core.spec import FitSpec
from kepler.ml.outputs import predict_frame
from kepler.ml.training import train


def design(frame: pd.DataFrame) -> pd.DataFrame:
    numbers = frame[["x", "z"]].replace("", np.nan).astype(float)
    numbers = numbers.fillna(numbers.median())
    colors = pd.get_dummies(frame["color"], prefix="color", prefix_sep="=", dtype=float)
    return pd.concat([numbers, colors], axis=1)


@pytest.mark.parametrize(
    ("params", "score"),
    [
        ({"type": "categorical", "mode": "k_best", "param": 1}, "f_classif"),
        ({"type": "numeric", "mode": "percentile", "param": 40}, "f_regression"),
        ({"type": "categorical", "mode": "fpr", "param": 0.01}, "f_classif"),
        ({}, "f_classif"),  # MLTK's defaults: categorical, percentile, scikit-learn's param
    ],
)
def test_selected_fields_follow_scikit_learn(
    make_events: Callable[..., pd.DataFrame], params: dict, score: str
) -> None:
    from sklearn import feature_selection as fs

    events = make_events(200)
    target = "amount" if params.get("type") == "numeric" else "label"
    spec = FitSpec("FieldSelector", target=target, features=("x", "z", "color"), params=params)
    trained = train(events, spec)
    out = predict_frame(trained.pipeline, trained.meta, events)

    X = design(events)
    y = events[target].astype(float) if target == "amount" else events[target]
    kwargs = {k: params[k] for k in ("mode", "param") if k in params}
    direct = fs.GenericUnivariateSelect(getattr(fs, score), **kwargs).fit(X, y)
    kept = list(X.columns[direct.get_support()])
    assert list(out.columns) == [f"fs_{c}" for c in kept]
    np.testing.assert_allclose(out.to_numpy(), X[kept].to_numpy())


def test_non_integer_param_for_k_best_is_refused(make_events: Callable[..., pd.DataFrame]) -> None:
    spec = FitSpec(
        "FieldSelector", target="label", features=("x",), params={"mode": "k_best", "param": 1.5}
    )
    with pytest.raises(BadParameter, match="requires an integer"):
        train(make_events(60), spec)


def test_field_selector_keeps_every_row(make_events: Callable[..., pd.DataFrame]) -> None:
    spec = FitSpec("FieldSelector", target="label", features=("x", "z"))
    trained = train(make_events(100), spec)
    assert trained.meta.n_train == 100 and trained.meta.n_holdout == 0
    assert trained.meta.target == "label"


def test_summary_lists_each_fields_score_p_value_and_selection(
    make_events: Callable[..., pd.DataFrame],
) -> None:
    from sklearn.feature_selection import GenericUnivariateSelect, f_classif

    events = make_events(200)
    params = {"mode": "k_best", "param": 2}
    spec = FitSpec("FieldSelector", target="label", features=("x", "z", "color"), params=params)
    trained = train(events, spec)
    X = design(events)
    direct = GenericUnivariateSelect(f_classif, mode="k_best", param=2).fit(X, events["label"])
    got = {e["feature"]: e for e in trained.importances}
    assert set(got) == set(X.columns)
    for name, score, p, kept in zip(
        X.columns, direct.scores_, direct.pvalues_, direct.get_support(), strict=True
    ):
        assert got[name]["score"] == pytest.approx(score)
        assert got[name]["p-value"] == pytest.approx(p)
        assert got[name]["selected"] is bool(kept)
    scores = [e["score"] for e in trained.importances]
    assert scores == sorted(scores, reverse=True)
