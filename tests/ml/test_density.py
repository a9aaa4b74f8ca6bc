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
    assert list(out.columns) == ["IsOutlier(v)", "BoundaryRanges"]
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


# --- MLTK's options and outputs (its bin/algos/DensityFunction.py and
# bin/algos_support/density_function/*.py) ---------------------------------------------


def _normal(n: int = 4000, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"v": rng.normal(50, 5, n), "h": ["a", "b"] * (n // 2)})


def test_several_thresholds_give_one_output_each_named_as_mltk() -> None:
    # MLTK column_name.py: IsOutlier_th=0.01(<field>), BoundaryRanges_th=0.01, ...
    trained = _fit('fit DensityFunction v dist=norm threshold="0.01,0.005" into m', _normal())
    out = predict_frame(trained.pipeline, trained.meta, _normal(seed=8))
    assert list(out.columns) == [
        "IsOutlier_th=0.01(v)",
        "IsOutlier_th=0.005(v)",
        "BoundaryRanges_th=0.01",
        "BoundaryRanges_th=0.005",
    ]
    wide, narrow = out["IsOutlier_th=0.01(v)"], out["IsOutlier_th=0.005(v)"]
    assert (narrow <= wide).all() and int(wide.sum()) > int(narrow.sum()) > 0
    renamed = predict_frame(trained.pipeline, trained.meta, _normal(seed=8), output_name="out")
    assert list(renamed.columns)[:2] == ["out_th=0.01", "out_th=0.005"]
    # the drift baseline profiles the verdicts, not the BoundaryRanges text
    assert set(trained.baseline["outputs"]) == {"IsOutlier_th=0.01(v)", "IsOutlier_th=0.005(v)"}


def test_threshold_text_in_names_is_pythons_float_text() -> None:
    from kepler.core.density import column_name

    assert column_name("IsOutlier", None, 1, "v") == "IsOutlier_th=1.0(v)"
    assert column_name("IsOutlier", None, 0.00001, "v") == "IsOutlier_th=1e-05(v)"
    assert column_name("SampledValue", None, 0.05) == "SampledValue_th=0.05"
    assert column_name("IsOutlier", "out", None, "v") == "out"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"threshold": "0.01", "lower_threshold": "0.02"}, "Thresholds are ambiguous"),
        ({"threshold": "0.1,0.2,0.3,0.4,0.5,0.6"}, "maximum number of allowed thresholds are 5"),
        ({"lower_threshold": "0.6", "upper_threshold": "0.5"}, "can not be larger than 1"),
        ({"lower_threshold": "0.1,0.2", "upper_threshold": "0.05"}, "only one of"),
        ({"threshold": "0"}, "between 0.000000001 and 1"),
        ({"upper_threshold": "1.5"}, "between 0.000000001 and 1"),
        ({"threshold": "0.01,abc"}, "expected a number"),
    ],
    ids=[
        "ambiguous",
        "six",
        "sum-over-one",
        "several-lower-with-upper",
        "zero",
        "above-one",
        "nan",
    ],
)
def test_mltk_threshold_rules_refuse_at_apply_and_fit(options: dict, message: str) -> None:
    # MLTK outlier_threshold.py (OutlierThreshold) and DensityFunction._check_threshold
    trained = _fit("fit DensityFunction v dist=norm", _normal(400))
    with pytest.raises(BadParameter, match=message):
        predict_frame(trained.pipeline, trained.meta, _normal(10), options=options)
    line = " ".join(f'{k}="{v}"' for k, v in options.items())
    if message != "between 0.000000001 and 1" and message != "expected a number":
        with pytest.raises(BadParameter, match=message):
            _fit(f"fit DensityFunction v {line}", _normal(400))
    else:
        with pytest.raises(BadParameter):
            _fit(f"fit DensityFunction v {line}", _normal(400))


def test_apply_threshold_one_is_allowed_and_flags_nearly_all() -> None:
    trained = _fit("fit DensityFunction v dist=norm", _normal(400))
    out = predict_frame(trained.pipeline, trained.meta, _normal(200), options={"threshold": 1})
    assert out["IsOutlier(v)"].mean() > 0.95


def _rng_text(lo: float, hi: float, area: float) -> str:
    def bound(x: float) -> str:
        return "Infinity" if x == np.inf else "-Infinity" if x == -np.inf else str(round(x, 4))

    return f"{bound(lo)}:{bound(hi)}:{area}"


def test_boundary_ranges_are_scipys_quantiles_as_mltk_writes_them() -> None:
    # MLTK normal_distribution.py / exponential_distribution.py _make_boundary_ranges and
    # DensityFunction._get_multivalue_of_boundary_ranges: <lower>:<upper>:<area> lines.
    frame = _normal()
    trained = _fit('fit DensityFunction v dist=norm threshold="0.02,0.01"', frame)
    loc, scale = stats.norm.fit(frame["v"].to_numpy())
    dist = stats.norm(loc, scale)
    out = predict_frame(trained.pipeline, trained.meta, frame.head(3))
    for t in (0.02, 0.01):
        want = "\n".join(
            [
                _rng_text(-np.inf, dist.ppf(t / 2), t / 2),
                _rng_text(dist.ppf(1 - t / 2), np.inf, t / 2),
            ]
        )
        assert set(out[f"BoundaryRanges_th={t}"]) == {want}
    lower = predict_frame(
        trained.pipeline, trained.meta, frame.head(2), options={"lower_threshold": "0.03"}
    )
    assert lower["BoundaryRanges"].iloc[0] == _rng_text(-np.inf, dist.ppf(0.03), 0.03)
    rng = np.random.default_rng(3)
    expo = pd.DataFrame({"v": rng.exponential(4, 3000)})
    exp_fit = _fit("fit DensityFunction v dist=expon threshold=0.05", expo)
    e = stats.expon(*stats.expon.fit(expo["v"].to_numpy()))
    got = predict_frame(exp_fit.pipeline, exp_fit.meta, expo.head(1))["BoundaryRanges"].iloc[0]
    assert got == _rng_text(e.ppf(0.95), np.inf, 0.05)  # expon: all of it above


def test_boundary_ranges_kde_area_is_rounded_and_unseen_group_is_empty() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {"v": np.r_[rng.normal(0, 1, 1000), rng.normal(12, 1, 1000)], "h": ["a"] * 2000}
    )
    trained = _fit("fit DensityFunction v by h dist=gaussian_kde threshold=0.01", frame)
    new = pd.DataFrame({"v": [1.0, 2.0, None], "h": ["a", "zz", "a"]})
    ranges = predict_frame(trained.pipeline, trained.meta, new)["BoundaryRanges"]
    lines = ranges.iloc[0].split("\n")
    # MLTK's KDE outlier region is a level set (kde_distribution.py, _find_anomaly_ranges):
    # both tails and the valley between the two modes, their areas rounded to 4 decimals.
    areas = [float(ln.split(":")[2]) for ln in lines]
    assert len(lines) == 3 and all(a == round(a, 4) for a in areas), lines
    assert lines[0].startswith("-Infinity:") and ":Infinity:" in lines[2]
    assert sum(areas) == pytest.approx(0.01, abs=5e-4)
    assert pd.isna(ranges.iloc[1]) and pd.isna(ranges.iloc[2])  # unseen group, missing value


def test_kde_threshold_flags_the_valley_between_modes_as_mltk_does() -> None:
    # MLTK kde_distribution.py: with threshold=, the outlier region is where the KDE's
    # density is below the level whose area is the threshold; lower/upper are tails.
    from scipy import stats

    rng = np.random.default_rng(2)
    values = np.r_[rng.normal(0, 1, 1500), rng.normal(10, 1, 1500)]
    trained = _fit(
        "fit DensityFunction v dist=gaussian_kde threshold=0.02", pd.DataFrame({"v": values})
    )
    probe = pd.DataFrame({"v": [0.0, 5.0, 10.0, -6.0, 16.0]})
    out = predict_frame(trained.pipeline, trained.meta, probe)
    assert out["IsOutlier(v)"].tolist() == [0, 1, 0, 1, 1]  # modes in, valley and tails out
    kde = stats.gaussian_kde(values)
    lines = out["BoundaryRanges"].iloc[0].split("\n")
    (start, end, area) = (float(x) for x in lines[1].split(":"))  # the valley
    assert start < 5.0 < end
    assert kde.integrate_box_1d(start, end) == pytest.approx(area, abs=5e-4)  # scipy's area
    assert kde.pdf([start])[0] == pytest.approx(kde.pdf([end])[0], rel=0.1)  # one level
    assert kde.pdf([5.0])[0] < kde.pdf([start])[0]
    tails = predict_frame(
        trained.pipeline,
        trained.meta,
        probe,
        options={"lower_threshold": "0.01", "upper_threshold": "0.01"},
    )
    assert tails["IsOutlier(v)"].tolist() == [0, 0, 0, 1, 1]  # tails only: the valley is in
    sampled = _fit(
        "fit DensityFunction v dist=gaussian_kde threshold=0.02 sample=t random_state=4",
        pd.DataFrame({"v": values}),
    )
    draws = predict_frame(sampled.pipeline, sampled.meta, pd.DataFrame({"v": values}))
    drawn = draws["SampledValue"].to_numpy()
    assert not ((drawn > start) & (drawn < end)).any()  # SampledValue avoids the valley


def test_expon_ignores_lower_threshold_with_mltks_warning() -> None:
    # MLTK DensityFunction.py _warn_on_dist_name_mismatches_threshold
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"v": rng.exponential(3, 2000)})
    trained = _fit(
        "fit DensityFunction v dist=expon lower_threshold=0.2 upper_threshold=0.01", frame
    )
    assert any("only at the right tail" in w for w in trained.warnings), trained.warnings
    out = predict_frame(trained.pipeline, trained.meta, pd.DataFrame({"v": [0.01, 1.0, 60.0]}))
    assert out["IsOutlier(v)"].tolist() == [0, 0, 1]
    assert out["BoundaryRanges"].iloc[0].count("\n") == 0  # the upper range only


def test_sample_draws_inside_each_thresholds_inlier_range_full_sample_anywhere() -> None:
    # MLTK probability_distribution.py: SampledValue within boundaries, FullSampledValue
    frame = _normal()
    line = 'fit DensityFunction v dist=norm threshold="0.2,0.01" sample=t full_sample=t'
    trained = _fit(f"{line} random_state=3", frame)
    out = predict_frame(trained.pipeline, trained.meta, _normal(4000, seed=9))
    assert list(out.columns)[4:] == [
        "FullSampledValue",
        "SampledValue_th=0.2",
        "SampledValue_th=0.01",
    ]
    est = trained.pipeline.named_steps["model"]
    lo, hi, _, _ = est.boundaries("", 0.2)
    inner = out["SampledValue_th=0.2"]
    assert inner.between(lo, hi).all()
    assert not out["FullSampledValue"].between(lo, hi).all()
    again = predict_frame(trained.pipeline, trained.meta, _normal(4000, seed=9))
    pd.testing.assert_frame_equal(out, again)  # random_state: the same draws


def test_show_options_is_mltks_json_in_the_given_order() -> None:
    # MLTK DensityFunction._get_show_options_value: json.dumps of the named options
    trained = _fit(
        'fit DensityFunction v by h threshold=0.05 show_options="split_by,feature_variables,'
        'params,algo_name,model_name" into m',
        _normal(400),
    )
    out = predict_frame(trained.pipeline, trained.meta, _normal(4), model_name="m")
    import json

    shown = json.loads(out["_Options"].iloc[0])
    assert list(shown) == ["split_by", "feature_variables", "params", "algo_name", "model_name"]
    assert shown["split_by"] == ["h"] and shown["feature_variables"] == ["v"]
    assert shown["params"]["threshold"] == "0.05" and shown["algo_name"] == "DensityFunction"
    assert shown["model_name"] == "m"
    at_apply = predict_frame(
        trained.pipeline,
        trained.meta,
        _normal(4),
        options={"threshold": "0.01,0.02", "show_options": "params"},
    )
    assert json.loads(at_apply["_Options"].iloc[0]) == {
        "params": {"threshold": "0.01,0.02", "show_options": "params"}
    }
    with pytest.raises(BadParameter, match="feature_variables, split_by, params"):
        _fit('fit DensityFunction v show_options="params,colour"', _normal(400))


def test_summary_has_mltks_columns_and_one_per_by_field() -> None:
    # MLTK ProbabilityDistribution.summary and DensityFunction.summary (by fields first)
    from kepler.ml.explain import explain

    frame = _frame()
    trained = _fit("fit DensityFunction bytes by host,hour", frame)
    rows = {r["group"]: r for r in explain(trained.pipeline)}
    web = rows["web,0"]
    assert web["host"] == "web" and web["hour"] == "0"
    values = frame.loc[frame.host == "web", "bytes"].to_numpy()
    assert web["min"] == pytest.approx(values.min()) and web["max"] == pytest.approx(values.max())
    assert web["mean"] == pytest.approx(values.mean()) and web["std"] == pytest.approx(values.std())
    assert web["distance"].startswith("metric: wasserstein, distance: 0.")
    assert web["other"] == "N/A" and web["cardinality"] == 4000
    db = rows["db,1"]  # expon: MLTK's mean/std are scipy's expon.fit loc and scale
    loc, scale = stats.expon.fit(frame.loc[frame.host == "db", "bytes"].to_numpy())
    assert db["mean"] == pytest.approx(loc) and db["std"] == pytest.approx(scale)


def test_estimator_keeps_several_thresholds_through_clone() -> None:
    from sklearn.base import clone

    est = DensityFunction(dist="norm", threshold=(0.01, 0.005))
    twin = clone(est)
    assert twin.get_params()["threshold"] == (0.01, 0.005)
    X = np.random.default_rng(0).normal(size=(500, 1))
    scored = twin.fit(X).score_events(X)
    assert {"is_outlier_0", "is_outlier_1", "ranges_0", "ranges_1"} <= set(scored.columns)
    assert DensityFunction(threshold="0.01,0.02").fit(X).fitted_rule().labels() == [0.01, 0.02]


def test_floats_param_kind_keeps_one_value_a_float() -> None:
    from kepler.core.params import Param, coerce

    p = Param("threshold", "floats", minimum=1e-9, maximum=1)
    assert coerce(p, "0.01") == 0.01 and coerce(p, 0.5) == 0.5
    assert coerce(p, "0.01, 0.005") == (0.01, 0.005) and coerce(p, [0.1, 0.2]) == (0.1, 0.2)
    with pytest.raises(BadParameter, match="<= 1"):
        coerce(p, "0.1,2")


def test_apply_parses_mltk_options_and_discards_dist_and_metric() -> None:
    from kepler.core.spec import ApplySpec

    spec = parse(
        'apply m threshold="0.01,0.005" sample=t full_sample=f show_density=t '
        'show_options="params,split_by" dist=norm metric=kolmogorov_smirnov'
    )
    assert isinstance(spec, ApplySpec)
    assert spec.options == {
        "threshold": "0.01,0.005",
        "sample": True,
        "full_sample": False,
        "show_density": True,
        "show_options": "params,split_by",
    }
    assert spec.discarded == {"dist": "norm", "metric": "kolmogorov_smirnov"}
    with pytest.raises(InvalidSpec, match="no option 'colour'"):
        parse("apply m colour=red")
    with pytest.raises(BadParameter, match="ambiguous"):
        parse("apply m threshold=0.1 upper_threshold=0.2")


def test_csv_for_splunkd_adds_mv_boundary_ranges_and_arrow_does_not() -> None:
    # splunkd's CSV body: the plain column holds the lines, __mv_ holds $v1$;$v2$
    import pyarrow as pa

    from kepler.server.scoring._score import score_table
    from kepler.server.scoring._tables import read_body, write_body

    trained = _fit("fit DensityFunction v by h dist=norm into m", _normal())
    table = pa.table(
        {"v": ["50", "", "49"], "h": ["a", "a", "zz"], "_chunked_idx": ["0", "1", "2"]}
    )
    scored = score_table(
        trained.pipeline, trained.meta, table, include_input=False, echo=["_chunked_idx"]
    )
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(write_body("csv", scored).decode())))
    assert list(rows[0])[-1] == "__mv_BoundaryRanges"
    lines = rows[0]["BoundaryRanges"].split("\n")
    assert len(lines) == 2 and rows[0]["__mv_BoundaryRanges"] == f"${lines[0]}$;${lines[1]}$"
    assert rows[1]["BoundaryRanges"] == rows[1]["__mv_BoundaryRanges"] == ""  # no value
    assert rows[2]["__mv_BoundaryRanges"] == ""  # unseen group
    arrow = read_body("arrow", write_body("arrow", scored))
    assert "__mv_BoundaryRanges" not in arrow.column_names
    assert arrow.column("BoundaryRanges")[0].as_py() == rows[0]["BoundaryRanges"]
