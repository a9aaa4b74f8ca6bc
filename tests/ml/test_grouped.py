"""Per-group models (`by`): each group's model is what scikit-learn fits on that group's
rows alone; bounds, skipped groups and per-event statuses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression

from kepler.core.errors import DataError, InvalidSpec
from kepler.core.spec import FitSpec, parse
from kepler.ml.grouped import STATUS_FIELD, GroupedEstimator, group_keys
from kepler.ml.outputs import predict_frame
from kepler.ml.training import TrainedModel, train


def _sites(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Three sites whose target depends on the features differently: one global model
    cannot fit them, one per site can."""
    rng = np.random.default_rng(seed)
    site = rng.choice(["north", "south", "west"], size=n)
    x, z = rng.normal(size=n), rng.normal(size=n)
    slope = pd.Series(site).map({"north": 3.0, "south": -2.0, "west": 0.5}).to_numpy()
    amount = slope * x + z + rng.normal(scale=0.1, size=n)
    label = np.where(slope * x + 0.3 * z > 0, "yes", "no")
    return pd.DataFrame({"x": x, "z": z, "site": site, "amount": amount, "label": label})


def _fit(line: str, frame: pd.DataFrame, **kw: object) -> TrainedModel:
    spec = parse(line)
    assert isinstance(spec, FitSpec)
    return train(frame, spec, **kw)  # type: ignore[arg-type]


def test_group_regression_equals_sklearn_fitted_on_the_groups_rows() -> None:
    frame = _sites()
    trained = _fit("fit LinearRegression amount from x z by site holdout=0", frame)
    new = _sites(60, seed=1)
    out = predict_frame(trained.pipeline, trained.meta, new)
    for site in ("north", "south", "west"):
        rows = frame[frame["site"] == site]
        direct = LinearRegression().fit(rows[["x", "z"]], rows["amount"])
        mine = new["site"] == site
        np.testing.assert_allclose(
            out.loc[mine, "predicted(amount)"], direct.predict(new.loc[mine, ["x", "z"]])
        )
    assert (out[STATUS_FIELD] == "ok").all()


def test_group_classifier_equals_sklearn_fitted_on_the_groups_rows() -> None:
    frame = _sites()
    trained = _fit(
        "fit RandomForestClassifier label from x z by site n_estimators=10 random_state=0 "
        "holdout=0",
        frame,
    )
    new = _sites(60, seed=2)
    out = predict_frame(trained.pipeline, trained.meta, new, probabilities=True)
    rows = frame[frame["site"] == "south"]
    codes = (rows["label"] == "yes").astype(int)  # Kepler fits on sorted label codes
    direct = RandomForestClassifier(n_estimators=10, random_state=0).fit(rows[["x", "z"]], codes)
    mine = new["site"] == "south"
    expected = np.where(direct.predict(new.loc[mine, ["x", "z"]]) == 1, "yes", "no")
    assert list(out.loc[mine, "predicted(label)"]) == list(expected)
    np.testing.assert_allclose(
        out.loc[mine, "probability(label=yes)"],
        direct.predict_proba(new.loc[mine, ["x", "z"]])[:, 1],
    )


def test_per_group_models_beat_one_global_model() -> None:
    frame = _sites(600)
    grouped = _fit("fit LinearRegression amount from x z by site", frame)
    flat = _fit("fit LinearRegression amount from x z", frame)
    assert grouped.metrics["r2"] > 0.95 > flat.metrics["r2"]
    groups = {g["group"]: g for g in grouped.groups or ()}
    assert set(groups) == {"north", "south", "west"}
    assert sum(g["rows"] + g["holdout_rows"] for g in groups.values()) == len(frame)
    assert all(g["metric.r2"] > 0.95 for g in groups.values())


def test_too_many_groups_names_the_count_and_the_setting() -> None:
    frame = _sites().assign(id=[str(i % 40) for i in range(300)])
    with pytest.raises(
        DataError, match=r"makes 40 groups, more than the 30 allowed.*KEPLER_MAX_GROUPS"
    ):
        _fit("fit LinearRegression amount from x z by id", frame, max_groups=30)


def test_single_class_group_is_skipped_with_a_warning_and_scored_as_skipped() -> None:
    frame = _sites()
    frame.loc[frame["site"] == "west", "label"] = "no"
    trained = _fit("fit LogisticRegression label from x z by site", frame)
    (warning,) = [w for w in trained.warnings if "GroupSkipped" in w]
    assert "1 of 3 groups" in warning and "west: only one class ('no')" in warning
    west = next(g for g in trained.groups or () if g["group"] == "west")
    assert west["status"] == "skipped" and "one class" in west["reason"]
    out = predict_frame(trained.pipeline, trained.meta, _sites(30, seed=3))
    sites = _sites(30, seed=3)["site"].to_numpy()
    assert list(out[STATUS_FIELD]) == ["skipped" if s == "west" else "ok" for s in sites]
    assert out.loc[sites == "west", "predicted(label)"].isna().all()
    assert out.loc[sites != "west", "predicted(label)"].notna().all()


def test_no_trainable_group_fails_naming_why() -> None:
    frame = _sites().assign(label="no")
    frame.loc[0, "label"] = "yes"
    frame.loc[0, "site"] = "lonely"
    with pytest.raises(DataError, match="no group of `by site` could be trained"):
        _fit("fit LogisticRegression label from x z by site", frame)


def test_empty_group_field_is_left_out_at_fit_and_missing_at_apply() -> None:
    frame = _sites().astype(str)
    frame.loc[:9, "site"] = ""  # as Splunk writes a field an event lacks
    trained = _fit("fit LinearRegression amount from x z by site holdout=0", frame)
    assert sum(g["rows"] for g in trained.groups or ()) == len(frame) - 10
    new = _sites(5, seed=4).drop(columns="site")  # the field absent altogether
    out = predict_frame(trained.pipeline, trained.meta, new)
    assert list(out[STATUS_FIELD]) == ["missing"] * 5
    assert out["predicted(amount)"].isna().all()


def test_two_by_fields_make_one_group_per_combination() -> None:
    frame = _sites().assign(shift=lambda f: np.where(f["x"] > 0, 1.0, 2.0))
    trained = _fit('fit LinearRegression amount from x z by "site,shift"', frame)
    keys = [g["group"] for g in trained.groups or ()]
    assert keys == [f"{s},{h}" for s in ("north", "south", "west") for h in ("1", "2")]
    assert trained.groups and trained.groups[0]["shift"] == "1"


def test_target_as_a_by_field_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="target and a `by` field"):
        _fit("fit LinearRegression amount from x z by amount", _sites())


def test_every_feature_a_by_field_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="every feature is a `by` field"):
        _fit("fit LinearRegression amount from site by site", _sites())


def test_groups_fit_in_parallel_as_they_fit_one_by_one() -> None:
    frame = _sites()
    X, y = frame[["x", "z", "site"]], frame["amount"].to_numpy()
    one = GroupedEstimator(LinearRegression(), by=["site"], n_jobs=1).fit(X, y)
    many = GroupedEstimator(LinearRegression(), by=["site"], n_jobs=3).fit(X, y)
    np.testing.assert_allclose(one.predict(X), many.predict(X))
    assert one.counts_ == many.counts_


def test_estimator_follows_sklearn_contract() -> None:
    est = GroupedEstimator(LinearRegression(), by=["site"], max_groups=5)
    assert est.get_params()["max_groups"] == 5 and not hasattr(est, "groups_")
    frame = _sites()
    assert est.fit(frame[["x", "z", "site"]], frame["amount"]) is est
    assert set(est.groups_) == {"north", "south", "west"} and est.features_ == ["x", "z"]


def test_group_keys_spell_numbers_as_splunk_does() -> None:
    frame = pd.DataFrame({"hour": [9.0, 14.0, np.nan], "site": ["a", "b", "c"]})
    assert list(group_keys(frame, ["hour", "site"])) == ["9,a", "14,b", None]
