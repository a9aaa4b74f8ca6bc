"""DensityFunction: distributions as scipy fits them, MLTK's thresholds, groups from `by`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kepler.core.errors import BadParameter, DataError, InvalidSpec
from kepler.core.spec import FitSpec, parse
from kepler.ml.density import DensityFunction
from kepler.ml.outputs import predict_frame
from kepler.ml.training import TrainedModel, train


def _frame(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "bytes": np.r_[rng.normal(100, 10, n), rng.exponential(5, n)],
            "host": ["web"] * n + ["db"] * n,
            "hour": np.r_[np.zeros(n), np.ones(n)],
        }
    )


def _fit(line: str, frame: pd.DataFrame) -> TrainedModel:
    spec = parse(line)
    assert isinstance(spec, FitSpec)
    return train(frame, spec)


def _groups(trained: TrainedModel) -> dict[str, dict]:
    return {r["group"]: r for r in trained.pipeline.named_steps["model"].summary()}


def test_fit_auto_picks_norm_for_normal_and_expon_for_exponential_groups() -> None:
    trained = _fit("fit DensityFunction bytes by host into m", _frame())
    groups = _groups(trained)
    assert groups["web"]["type"] == "norm" and groups["db"]["type"] == "expon"
    assert groups["web"]["cardinality"] == 4000 and groups["db"]["cardinality"] == 4000


def test_fit_auto_picks_kde_for_bimodal_data() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"v": np.r_[rng.normal(0, 1, 2000), rng.normal(12, 1, 2000)]})
    trained = _fit("fit DensityFunction v", frame)
    assert _groups(trained)[""]["type"] == "gaussian_kde"


def test_metric_kolmogorov_smirnov_picks_by_scipys_ks_statistic() -> None:
    # MLTK's DensityFunction takes metric=kolmogorov_smirnov|wasserstein (its own code:
    # acceptable_metrics = [KOLMOGOROV_SMIRNOV, WASSERSTEIN])
    trained = _fit("fit DensityFunction bytes by host metric=kolmogorov_smirnov", _frame())
    groups = _groups(trained)
    assert groups["web"]["type"] == "norm" and groups["db"]["type"] == "expon"
    est = trained.pipeline.named_steps["model"]
    web = _frame().query("host == 'web'")["bytes"].to_numpy()
    fitted = est.groups_["web"]
    want = stats.kstest(web, "norm", args=(fitted.params["loc"], fitted.params["scale"]))
    assert fitted.distance["norm"] == pytest.approx(want.statistic, rel=1e-9)


@pytest.mark.parametrize("dist", ["norm", "expon", "beta"])
def test_fit_named_dist_matches_scipy(dist: str) -> None:
    frame = _frame()
    values = frame.loc[frame.host == "web", "bytes"].to_numpy()
    web = frame[frame.host == "web"]
    trained = _fit(f"fit DensityFunction bytes dist={dist} threshold=0.02", web)
    est = trained.pipeline.named_steps["model"]
    fitted = est.groups_[""]
    if dist == "norm":
        loc, scale = stats.norm.fit(values)
        expected = stats.norm(loc, scale)
    elif dist == "expon":
        loc, scale = stats.expon.fit(values)
        expected = stats.expon(loc, scale)
    else:
        p = fitted.params
        a, b, _, _ = stats.beta.fit(values, floc=p["loc"], fscale=p["scale"])
        expected = stats.beta(a, b, p["loc"], p["scale"])
    lo, hi, _, _ = est.boundaries("")
    if dist == "expon":
        assert lo == -np.inf
        assert hi == pytest.approx(expected.ppf(0.98), rel=1e-6)
    else:
        assert lo == pytest.approx(expected.ppf(0.01), rel=1e-4)
        assert hi == pytest.approx(expected.ppf(0.99), rel=1e-4)
    probe = np.array([80.0, 100.0, 120.0])
    out = predict_frame(
        trained.pipeline,
        trained.meta,
        pd.DataFrame({"bytes": probe}),
        options={"show_density": True},
    )
    np.testing.assert_allclose(out["ProbabilityDensity(bytes)"], expected.pdf(probe), rtol=1e-4)


def test_fit_kde_matches_scipy_gaussian_kde() -> None:
    frame = _frame()
    values = frame.loc[frame.host == "db", "bytes"].to_numpy()
    trained = _fit(
        "fit DensityFunction bytes dist=gaussian_kde show_density=true", frame[frame.host == "db"]
    )
    probe = pd.DataFrame({"bytes": [0.5, 5.0, 20.0]})
    out = predict_frame(trained.pipeline, trained.meta, probe)
    expected = stats.gaussian_kde(values)(probe["bytes"].to_numpy())
    np.testing.assert_allclose(out["ProbabilityDensity(bytes)"], expected, rtol=1e-9)


@pytest.mark.parametrize("threshold", [0.01, 0.05])
def test_apply_outlier_share_on_normal_data_is_near_threshold(threshold: float) -> None:
    rng = np.random.default_rng(2)
    train_frame = pd.DataFrame({"v": rng.normal(50, 5, 20000)})
    trained = _fit(f"fit DensityFunction v dist=norm threshold={threshold}", train_frame)
    fresh = pd.DataFrame({"v": rng.normal(50, 5, 20000)})
    out = predict_frame(trained.pipeline, trained.meta, fresh)
    assert list(out.columns) == ["IsOutlier(v)"]
    share = out["IsOutlier(v)"].astype(float).mean()
    assert share == pytest.approx(threshold, abs=threshold * 0.3)


def test_apply_new_threshold_changes_outcome_without_refitting() -> None:
    trained = _fit("fit DensityFunction bytes by host", _frame())
    fresh = _frame(seed=5)
    default = predict_frame(trained.pipeline, trained.meta, fresh)["IsOutlier(bytes)"]
    wider = predict_frame(trained.pipeline, trained.meta, fresh, options={"threshold": 0.2})
    flagged_default = int(default.sum())
    flagged_wider = int(wider["IsOutlier(bytes)"].sum())
    assert flagged_wider > 5 * flagged_default > 0
    assert flagged_wider / len(fresh) == pytest.approx(0.2, abs=0.03)
    upper_only = predict_frame(
        trained.pipeline, trained.meta, fresh, options={"upper_threshold": 0.1}
    )["IsOutlier(bytes)"]
    web = (fresh["host"] == "web").to_numpy()
    web_flagged = fresh.loc[web & (upper_only == 1).to_numpy(), "bytes"]
    assert (web_flagged > 100).all() and len(web_flagged) > 0


def test_apply_unseen_group_leaves_isoutlier_empty() -> None:
    trained = _fit("fit DensityFunction bytes by host,hour show_density=true", _frame())
    new = pd.DataFrame({"bytes": [100.0, 400.0, 3.0, None], "host": ["web", "web", "mail", "web"]})
    new["hour"] = [0.0, 0.0, 0.0, 0.0]
    out = predict_frame(trained.pipeline, trained.meta, new)
    flags = out["IsOutlier(bytes)"]
    assert flags.iloc[0] == 0 and flags.iloc[1] == 1
    assert flags.iloc[2] is pd.NA and flags.iloc[3] is pd.NA  # unseen group, missing value
    assert np.isnan(out["ProbabilityDensity(bytes)"].iloc[2])
    assert set(_groups(trained)) == {"web,0", "db,1"}


def test_fit_mltk_quoted_by_list_parses_as_fields() -> None:
    spec = parse('fit DensityFunction bytes by "host,hour" threshold=0.05 into m')
    assert isinstance(spec, FitSpec)
    assert spec.features == ("bytes",) and spec.by == ("host", "hour") and spec.into == "m"
    assert FitSpec.from_dict(spec.to_dict()) == spec


def test_fit_too_many_groups_is_refused_clearly() -> None:
    frame = pd.DataFrame({"v": np.arange(60.0), "id": [str(i % 30) for i in range(60)]})
    with pytest.raises(DataError, match="max_groups=10"):
        _fit("fit DensityFunction v by id max_groups=10", frame)


def test_fit_two_value_fields_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="one numeric field"):
        _fit("fit DensityFunction bytes hour", _frame())


def test_fit_by_on_other_algorithm_trains_one_model_per_group() -> None:
    trained = _fit("fit IsolationForest bytes n_estimators=5 by host", _frame(200))
    assert [(g["group"], g["rows"]) for g in trained.groups or ()] == [("db", 200), ("web", 200)]
    assert trained.pipeline.named_steps["model"].skipped_ == {}


def test_apply_threshold_on_other_model_is_refused() -> None:
    trained = _fit("fit IsolationForest bytes n_estimators=5", _frame(200))
    with pytest.raises(BadParameter, match="DensityFunction"):
        predict_frame(trained.pipeline, trained.meta, _frame(10), options={"threshold": 0.1})


def test_estimator_follows_sklearn_contract() -> None:
    est = DensityFunction(dist="norm", threshold=0.1)
    assert est.get_params()["threshold"] == 0.1 and not hasattr(est, "groups_")
    X = np.random.default_rng(0).normal(size=(500, 1))
    assert est.fit(X) is est
    labels = est.predict(X)
    assert set(np.unique(labels)) == {-1, 1}
    assert (labels == -1).mean() == pytest.approx(0.1, abs=0.03)
