"""The spec language: MLTK's documented lines parse to the same meaning, and bad lines
are refused with messages that say what to change."""

from __future__ import annotations

import pytest

from kepler.core.errors import BadParameter, DataError, InvalidSpec, UnknownAlgorithm
from kepler.core.refs import ModelRef
from kepler.core.spec import (
    ApplySpec,
    DeleteModelSpec,
    FitSpec,
    ModelsSpec,
    SummarySpec,
    expand_features,
    parse,
    tokenize,
)

# (line as printed in MLTK's documentation, what it means)
MLTK_FIT_LINES = [
    (
        "| fit LinearRegression petal_length from petal_width into example_iris_model",
        dict(
            algorithm="LinearRegression",
            target="petal_length",
            features=("petal_width",),
            into="example_iris_model",
            params={},
        ),
    ),
    (
        '| fit LogisticRegression fit_intercept=true "vehicleType" from "batteryVoltage" '
        '"engineCoolantTemperature" "engineSpeed" "lateralGForce" "speed" '
        'into "example_vehicle_type"',
        dict(
            algorithm="LogisticRegression",
            target="vehicleType",
            features=(
                "batteryVoltage",
                "engineCoolantTemperature",
                "engineSpeed",
                "lateralGForce",
                "speed",
            ),
            into="example_vehicle_type",
            params={"fit_intercept": True},
        ),
    ),
    (
        "| fit KMeans k=3 petal*",
        dict(algorithm="KMeans", target=None, features=("petal*",), into=None, params={"k": 3}),
    ),
    (
        '| fit PCA "SS_*" k=3',
        dict(algorithm="PCA", target=None, features=("SS_*",), params={"k": 3}),
    ),
    (
        "| fit StandardScaler petal_length sepal_length with_mean=true with_std=true",
        dict(
            algorithm="StandardScaler",
            features=("petal_length", "sepal_length"),
            params={"with_mean": True, "with_std": True},
        ),
    ),
    (
        "| fit RandomForestClassifier species from petal_length petal_width sepal_length "
        "sepal_width max_features=0.1 into example_iris_rf",
        dict(
            algorithm="RandomForestClassifier",
            target="species",
            features=("petal_length", "petal_width", "sepal_length", "sepal_width"),
            into="example_iris_rf",
            params={"max_features": 0.1},
        ),
    ),
    (
        "| fit SVM vehicleType from * C=10 gamma=0.1 into svm_model",
        dict(
            algorithm="SVM",
            target="vehicleType",
            features=("*",),
            into="svm_model",
            params={"C": 10.0, "gamma": 0.1},
        ),
    ),
    (
        "| fit DBSCAN eps=0.5 min_samples=5 petal_length sepal_length",
        dict(
            algorithm="DBSCAN",
            features=("petal_length", "sepal_length"),
            params={"eps": 0.5, "min_samples": 5},
        ),
    ),
    (
        "| fit Birch k=3 petal_length petal_width",
        dict(algorithm="Birch", features=("petal_length", "petal_width"), params={"k": 3}),
    ),
    (
        "| fit GaussianNB species from * into example_iris_gnb",
        dict(
            algorithm="GaussianNB",
            target="species",
            features=("*",),
            into="example_iris_gnb",
            params={},
        ),
    ),
    (
        "| fit DecisionTreeRegressor temperature from date_month date_hour "
        "into example_temperature",
        dict(
            algorithm="DecisionTreeRegressor",
            target="temperature",
            features=("date_month", "date_hour"),
            into="example_temperature",
        ),
    ),
    (
        "| fit ElasticNet target from * alpha=0.5 l1_ratio=0.5",
        dict(
            algorithm="ElasticNet",
            target="target",
            features=("*",),
            params={"alpha": 0.5, "l1_ratio": 0.5},
        ),
    ),
    (
        "| fit Lasso target from * alpha=0.5",
        dict(algorithm="Lasso", target="target", params={"alpha": 0.5}),
    ),
    (
        "| fit Ridge target from * alpha=0.5 into ridge_model",
        dict(algorithm="Ridge", target="target", params={"alpha": 0.5}, into="ridge_model"),
    ),
    (
        "| fit GradientBoostingClassifier target from * n_estimators=100 max_depth=3",
        dict(
            algorithm="GradientBoostingClassifier",
            target="target",
            params={"n_estimators": 100, "max_depth": 3},
        ),
    ),
    (
        "| fit IsolationForest n_estimators=100 contamination=0.01 bytes_in bytes_out",
        dict(
            algorithm="IsolationForest",
            features=("bytes_in", "bytes_out"),
            params={"n_estimators": 100, "contamination": 0.01},
        ),
    ),
    (
        "| fit SpectralClustering k=3 gamma=0.01 petal_length petal_width",
        dict(algorithm="SpectralClustering", params={"k": 3, "gamma": 0.01}),
    ),
    (
        "| fit KernelPCA k=2 gamma=0.001 petal_length petal_width sepal_length",
        dict(algorithm="KernelPCA", params={"k": 2, "gamma": 0.001}),
    ),
    (
        "| fit LogisticRegression fit_intercept=t species from * into logreg probabilities=true",
        dict(algorithm="LogisticRegression", probabilities=True, params={"fit_intercept": True}),
    ),
]


@pytest.mark.parametrize(("line", "meaning"), MLTK_FIT_LINES, ids=lambda v: str(v)[:40])
def test_parse_mltk_fit_line_same_meaning(line: str, meaning: dict) -> None:
    spec = parse(line)
    assert isinstance(spec, FitSpec)
    for key, value in meaning.items():
        assert getattr(spec, key) == value, key


def test_parse_kepler_prefix_and_sdk_spelling_agree() -> None:
    a = parse("| kepler fit RandomForestClassifier failure from temp vibration into pump")
    b = parse("fit RandomForestClassifier failure from temp vibration into pump")
    assert a == b


def test_parse_mltk_apply_lines() -> None:
    assert parse("| apply example_iris_model") == ApplySpec(ModelRef("example_iris_model"))
    spec = parse("| apply example_iris_model as predicted_petal")
    assert isinstance(spec, ApplySpec)
    assert spec.output_name == "predicted_petal"
    assert parse("apply pump@3").model == ModelRef("pump", version=3)  # type: ignore[union-attr]
    assert parse("apply pump:production").model == ModelRef("pump", alias="production")  # type: ignore[union-attr]
    assert parse("apply pump probabilities=f").probabilities is False  # type: ignore[union-attr]


def test_parse_mltk_model_management_lines() -> None:
    assert parse("| summary example_iris_model") == SummarySpec(ModelRef("example_iris_model"))
    assert parse("| listmodels") == ModelsSpec()
    assert parse("| models") == ModelsSpec()
    assert parse("| deletemodel example_iris_model") == DeleteModelSpec("example_iris_model")
    # MLTK's app: namespace prefix is accepted; Kepler has one registry.
    assert parse("| apply app:example_iris_model").model == ModelRef("example_iris_model")  # type: ignore[union-attr]


def test_parse_sklearn_names_and_spellings_are_accepted() -> None:
    mltk = parse("fit KMeans k=4 a b")
    sk = parse("fit kmeans n_clusters=4 a b")
    assert mltk == sk
    assert parse("fit SVC y from a").algorithm == "SVM"  # type: ignore[union-attr]


def test_parse_bad_parameter_names_parameter_and_allowed() -> None:
    with pytest.raises(BadParameter) as err:
        parse("fit KMeans kk=3 a b")
    assert "'kk'" in err.value.message
    assert "k" in err.value.detail["allowed"]
    assert "allowed parameters:" in err.value.message


def test_parse_bad_parameter_value_is_refused() -> None:
    with pytest.raises(BadParameter, match="k='zero'"):
        parse("fit KMeans k=zero a")
    with pytest.raises(BadParameter, match="true or false"):
        parse("fit LinearRegression fit_intercept=maybe y from x")


def test_parse_unknown_algorithm_suggests_closest() -> None:
    with pytest.raises(UnknownAlgorithm) as err:
        parse("fit RandomForestClasifier y from x")
    assert "RandomForestClassifier" in err.value.detail["suggestions"]


def test_parse_unknown_algorithm_allowed_for_splunk_side() -> None:
    spec = parse("fit MyPluginModel y from x depth=3", allow_unknown=True)
    assert isinstance(spec, FitSpec)
    assert spec.params == {"depth": "3"}


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("", "empty command"),
        ("frobnicate x", "unknown command"),
        ("fit", "needs an algorithm"),
        ("fit LinearRegression a b from c", "exactly one target"),
        ("fit LinearRegression y from", "after `from`"),
        ("fit LinearRegression x y", "predicts a field"),
        ("fit KMeans y from x", "learns without a target"),
        ("fit KMeans k=3 a into", "followed by a name"),
        ('fit KMeans "a', "unclosed double quote"),
        ("apply", "needs a model"),
        ("apply m@0", "positive whole number"),
        ("apply m extra", "unexpected"),
        ("apply m colour=red", "no option"),
        ("deletemodel m@2", "versions are never deleted"),
        ("fit KMeans k=3 k=4 a", "given twice"),
        ("fit LinearRegression y from x holdout=2", "holdout"),
    ],
)
def test_parse_invalid_line_says_what_is_wrong(line: str, fragment: str) -> None:
    with pytest.raises(InvalidSpec) as err:
        parse(line)
    assert fragment in err.value.message


def test_tokenize_quotes_and_key_values() -> None:
    toks = tokenize('fit X a="b c" "my field" d="say \\"hi\\""')
    assert [(t.key, t.text) for t in toks] == [
        (None, "fit"),
        (None, "X"),
        ("a", "b c"),
        (None, "my field"),
        ("d", 'say "hi"'),
    ]


def test_expand_features_wildcards_keep_order_and_skip_internal() -> None:
    cols = ["_time", "sensor_b", "temp", "sensor_a", "failure", "_raw"]
    assert expand_features(["sensor_*"], cols) == ["sensor_b", "sensor_a"]
    assert expand_features(["*"], cols, exclude=("failure",)) == ["sensor_b", "temp", "sensor_a"]
    assert expand_features(["temp", "sensor_*", "temp"], cols) == ["temp", "sensor_b", "sensor_a"]


def test_expand_features_missing_field_names_it() -> None:
    with pytest.raises(DataError, match="'humidity' is not in the data"):
        expand_features(["humidity"], ["temp"])
    with pytest.raises(DataError, match="no field matches 'x_\\*'"):
        expand_features(["x_*"], ["temp"])


def test_apply_index_and_sourcetype_options() -> None:
    spec = parse("apply pump@2 as risk index=scores sourcetype=pump:score probabilities=t")
    assert isinstance(spec, ApplySpec)
    assert (spec.index, spec.sourcetype, spec.output_name, spec.probabilities) == (
        "scores",
        "pump:score",
        "risk",
        True,
    )
    assert parse("apply pump").index is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("apply pump index=Scores", "not a Splunk index name"),
        ('apply pump index="a b"', "not a Splunk index name"),
        ("apply pump sourcetype=x", "give index=<index> too"),
        ("apply pump host=x", "allowed: probabilities, index, sourcetype"),
    ],
)
def test_apply_bad_hec_options_say_how_to_fix(line: str, needle: str) -> None:
    with pytest.raises(InvalidSpec, match=needle):
        parse(line)


@pytest.mark.parametrize(
    "line",
    [
        "fit RandomForestClassifier failure from temp vibration by site,zone into pump",
        'fit RandomForestClassifier failure from temp vibration by "site,zone" into pump',
        "fit RandomForestClassifier failure from temp vibration by site, zone into pump",
    ],
)
def test_parse_fit_by_for_any_algorithm(line: str) -> None:
    spec = parse(line)
    assert isinstance(spec, FitSpec)
    assert spec.by == ("site", "zone") and spec.target == "failure"
    assert spec.features == ("temp", "vibration") and spec.into == "pump"
    assert FitSpec.from_dict(spec.to_dict()) == spec


def test_parse_fit_by_without_fields_is_refused() -> None:
    with pytest.raises(InvalidSpec, match="`by` must be followed by field names"):
        parse("fit KMeans temp vibration by into clusters")


def test_fit_partial_fit_is_an_option() -> None:
    spec = parse("fit SGDClassifier y from a b partial_fit=true into m")
    assert isinstance(spec, FitSpec) and spec.partial_fit and spec.params == {}
    assert FitSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("line", "error", "fragment"),
    [
        ("fit SGDClassifier y from a partial_fit=true", InvalidSpec, "into <model>"),
        ("fit RandomForestClassifier y from a partial_fit=t into m", BadParameter, "BernoulliNB"),
        ("fit GaussianNB y from a partial_fit=maybe into m", BadParameter, "true or false"),
        # MLTK's FitPartialProcessor: "kfold_cv cannot be used with partial_fit"
        ("fit SGDClassifier y from a partial_fit=t kfold_cv=3 into m", InvalidSpec, "kfold_cv"),
    ],
)
def test_fit_partial_fit_refusals(line: str, error: type, fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        parse(line)


def test_fit_text_and_selection_lines_parse() -> None:
    tfidf = parse("fit TFIDF Reviews max_df=0.6 min_df=0.2 ngram_range=1-2 stop_words=english")
    assert isinstance(tfidf, FitSpec) and tfidf.params["ngram_range"] == "1-2"
    selector = parse("fit FieldSelector type=categorical mode=k_best param=3 y from *")
    assert isinstance(selector, FitSpec) and selector.target == "y"
    with pytest.raises(InvalidSpec, match="predicts a field"):
        parse("fit FieldSelector a b")
