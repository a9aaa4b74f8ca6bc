"""MLTK's TFIDF, HashingVectorizer, FieldSelector, Imputer and partial_fit lines as splunkd
runs them, against a real bridge and worker, with outputs checked against scikit-learn
called directly on the same events."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kepler._stack import LocalStack
from tests.splunk.harness import chunks
from tests.splunk.kepler_command import run_fit, splunkd

pytestmark = pytest.mark.system

WORDS = ["great", "service", "slow", "delivery", "friendly", "staff", "broken", "item", "fast"]
REVIEW_FIELDS = ["_time", "Reviews", "rating"]
SLA_FIELDS = ["_time", "bytes_in", "latency", "errors", "app", "SLA_violation"]


def reviews(n: int, seed: int) -> list[dict[str, Any]]:
    """Short customer reviews, as MLTK's TFIDF examples feed it, with a numeric rating."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 8))]
        if rng.random() < 0.5:
            words.insert(0, "the")  # an English stop word
        rows.append(
            {"_time": 1700000000 + 60 * i, "Reviews": " ".join(words), "rating": str(i % 5)}
        )
    return rows


def sla(n: int, seed: int) -> list[dict[str, Any]]:
    """Server events shaped like MLTK's SLA examples: a violation driven by latency and
    the app, two fields of noise."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        latency = rng.gauss(200, 60)
        app = rng.choice(["web", "db", "cache"])
        violated = latency + (80 if app == "db" else 0) + rng.gauss(0, 20) > 260
        rows.append(
            {
                "_time": 1700000000 + 60 * i,
                "bytes_in": f"{rng.gauss(5000, 800):.1f}",
                "latency": f"{latency:.2f}",
                "errors": str(rng.randint(0, 3)),
                "app": app,
                "SLA_violation": "yes" if violated else "no",
            }
        )
    return rows


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("catalog-stack")) as s:
        yield s


def fit_line(
    stack: LocalStack, script: Path, args: list[str], events: list[dict], fields: list[str]
) -> dict:
    cmd = splunkd(script, stack.url, stack.token)
    _, replies = run_fit(cmd, args, chunks(events, 500, fields))
    records = replies[-1].records()
    assert len(records) == 1, replies[-1].messages
    assert cmd.close() == 0, replies[-1].messages
    row: dict = records[0]
    return row


def apply_rows(stack: LocalStack, script: Path, args: list[str], events: list[dict]) -> list:
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["apply", *args])
    assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
    _, rows = cmd.send(events, finished=True)
    assert cmd.close() == 0
    return rows


def fit_error(
    stack: LocalStack, script: Path, args: list[str], events: list[dict], fields: list[str]
) -> str:
    """The one ERROR a failing fit ends with (at getinfo or from the job)."""
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(args, earliest_time="1700000000", latest_time="now")
    errors = [text for level, text in info.messages if level == "ERROR"]
    if not errors:
        answers = []
        for i, body in enumerate(chunks(events, 500, fields)):
            answers = cmd.execute_all(body, finished=i == 0)
        errors = [text for a in answers for level, text in a.messages if level == "ERROR"]
    assert len(errors) == 1, errors
    assert cmd.close() == 1
    assert "Traceback" not in errors[0] and "Traceback" not in cmd.stderr
    return errors[0]


# -- TFIDF ----------------------------------------------------------------------------------


def test_tfidf_matches_scikit_learn(stack: LocalStack, script: Path) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    # MLTK: | fit TFIDF Reviews max_df=0.6 min_df=0.2 ngram_range=1-2 stop_words=english
    train = reviews(300, seed=1)
    args = ["fit", "TFIDF", "Reviews", "max_df=0.6", "min_df=0.2", "ngram_range=1-2"]
    row = fit_line(
        stack, script, [*args, "stop_words=english", "into", "reviews_tfidf"], train, REVIEW_FIELDS
    )
    assert row["version"] == "1", row
    new = reviews(40, seed=2)
    rows = apply_rows(stack, script, ["reviews_tfidf"], new)

    direct = TfidfVectorizer(
        max_df=0.6, min_df=0.2, ngram_range=(1, 2), stop_words="english", max_features=100
    ).fit([r["Reviews"] for r in train])
    terms = list(direct.get_feature_names_out())
    expected = direct.transform([r["Reviews"] for r in new]).toarray()
    names = [f"Reviews_tfidf_{i}_{t}" for i, t in enumerate(terms)]
    assert "the" not in terms and names
    got = np.array([[float(r[n]) for n in names] for r in rows])
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_tfidf_as_name_and_max_features(stack: LocalStack, script: Path) -> None:
    # MLTK: | fit TFIDF Reviews max_features=5 analyzer=char ngram_range=2-3 as chars
    args = ["fit", "TFIDF", "Reviews", "max_features=5", "analyzer=char", "ngram_range=2-3"]
    row = fit_line(
        stack,
        script,
        [*args, "into", "reviews_chars", "as", "chars"],
        reviews(100, 3),
        REVIEW_FIELDS,
    )
    assert row["version"] == "1", row
    (out,) = apply_rows(stack, script, ["reviews_chars"], reviews(1, seed=4))
    added = [k for k in out if k.startswith("chars_")]
    assert len(added) == 5 and all(k.split("_")[1].isdigit() for k in added), added


def test_tfidf_quick_reference_line(stack: LocalStack, script: Path) -> None:
    # MLTK's quick reference guide: `... | fit TFIDF Reviews into user_feedback_model`
    # (the guide's line goes on past the model name, cut in the copy read)
    # https://www.splunk.com/content/dam/splunk2/pdfs/solution-guides/machine-learning-quick-ref-guide.pdf
    line = ["fit", "TFIDF", "Reviews", "into", "user_feedback_model"]
    assert fit_line(stack, script, line, reviews(120, 44), REVIEW_FIELDS)["version"] == "1"
    (out,) = apply_rows(stack, script, ["user_feedback_model"], reviews(1, seed=45))
    terms = [k for k in out if k.startswith("Reviews_tfidf_")]
    assert terms and all(float(out[k]) >= 0 for k in terms)


def test_tfidf_numeric_field_is_refused(stack: LocalStack, script: Path) -> None:
    text = fit_error(
        stack,
        script,
        ["fit", "TFIDF", "rating", "into", "bad_tfidf"],
        reviews(50, 5),
        REVIEW_FIELDS,
    )
    assert "holds numbers only" in text and "rating" in text


# -- HashingVectorizer ------------------------------------------------------------------------


def test_hashing_vectorizer_matches_scikit_learn(stack: LocalStack, script: Path) -> None:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import HashingVectorizer

    # MLTK: | fit HashingVectorizer Reviews ngram_range=1-2 k=10 max_features=200
    train = reviews(200, seed=6)
    args = ["fit", "HashingVectorizer", "Reviews", "ngram_range=1-2", "k=10", "max_features=200"]
    row = fit_line(
        stack, script, [*args, "random_state=0", "into", "reviews_hashed"], train, REVIEW_FIELDS
    )
    assert row["version"] == "1", row
    new = reviews(30, seed=7)
    rows = apply_rows(stack, script, ["reviews_hashed"], new)

    hasher = HashingVectorizer(n_features=200, ngram_range=(1, 2))
    svd = TruncatedSVD(n_components=10, n_iter=5, random_state=0)
    svd.fit(hasher.transform([r["Reviews"] for r in train]))
    expected = svd.transform(hasher.transform([r["Reviews"] for r in new]))
    got = np.array([[float(r[f"Reviews_hashed_{i}"]) for i in range(10)] for r in rows])
    np.testing.assert_allclose(got, expected, atol=1e-8)


def test_hashing_vectorizer_without_reduce(stack: LocalStack, script: Path) -> None:
    # MLTK: | fit HashingVectorizer Reviews reduce=false max_features=16
    args = ["fit", "HashingVectorizer", "Reviews", "reduce=false", "max_features=16"]
    fit_line(stack, script, [*args, "into", "reviews_raw_hash"], reviews(60, 8), REVIEW_FIELDS)
    (out,) = apply_rows(stack, script, ["reviews_raw_hash"], reviews(1, seed=9))
    assert [k for k in out if k.startswith("Reviews_hashed_")] == [
        f"Reviews_hashed_{i}" for i in range(16)
    ]


def test_hashing_vectorizer_k_not_below_max_features_is_refused(
    stack: LocalStack, script: Path
) -> None:
    args = ["fit", "HashingVectorizer", "Reviews", "k=50", "max_features=20", "into", "bad_hash"]
    text = fit_error(stack, script, args, reviews(60, 10), REVIEW_FIELDS)
    assert "k=50" in text and "max_features=20" in text


# -- FieldSelector ----------------------------------------------------------------------------


def test_field_selector_k_best_matches_scikit_learn(stack: LocalStack, script: Path) -> None:
    from sklearn.feature_selection import GenericUnivariateSelect, f_classif

    # MLTK: | fit FieldSelector type=categorical mode=k_best param=2 SLA_violation from *
    train = sla(400, seed=11)
    args = ["fit", "FieldSelector", "type=categorical", "mode=k_best", "param=2"]
    fields = ["bytes_in", "latency", "errors", "app"]
    row = fit_line(
        stack,
        script,
        [*args, "SLA_violation", "from", *fields, "into", "sla_fs"],
        train,
        SLA_FIELDS,
    )
    assert row["version"] == "1", row
    (out,) = apply_rows(stack, script, ["sla_fs"], sla(1, seed=12))
    selected = sorted(k for k in out if k.startswith("fs_"))

    frame = pd.DataFrame(train)
    X = pd.concat(
        [
            frame[["bytes_in", "latency", "errors"]].astype(float),
            pd.get_dummies(frame["app"], prefix="app", prefix_sep="=", dtype=float),
        ],
        axis=1,
    )
    direct = GenericUnivariateSelect(f_classif, mode="k_best", param=2).fit(
        X, frame["SLA_violation"]
    )
    assert selected == sorted(f"fs_{c}" for c in X.columns[direct.get_support()])
    assert "fs_latency" in selected


def summary_of(stack: LocalStack, script: Path, name: str) -> list[dict]:
    cmd = splunkd(script, stack.url, stack.token)
    info = cmd.getinfo(["summary", name])
    assert not [m for m in info.messages if m[0] == "ERROR"], info.messages
    rows = cmd.execute(b"", finished=True).records()
    assert cmd.close() == 0
    return rows


def test_field_selector_quick_reference_line_and_its_summary(
    stack: LocalStack, script: Path
) -> None:
    from sklearn.feature_selection import GenericUnivariateSelect, f_classif

    # MLTK's quick reference guide, verbatim:
    #   ... | fit FieldSelector type=categorical SLA_violation from *
    # https://www.splunk.com/content/dam/splunk2/pdfs/solution-guides/machine-learning-quick-ref-guide.pdf
    train = sla(300, seed=43)
    line = ["fit", "FieldSelector", "type=categorical", "SLA_violation", "from", "*"]
    assert fit_line(stack, script, [*line, "into", "sla_fs_all"], train, SLA_FIELDS)["version"]
    rows = summary_of(stack, script, "sla_fs_all")

    # MLTK's summary: one row per field with its score and p-value (its FieldSelector's
    # summary(), algos/FieldSelector.py), and here whether it was kept
    features = [r["feature"] for r in rows]
    frame = pd.DataFrame(train)
    numeric = [f for f in ("_time", "bytes_in", "latency", "errors") if f in features]
    X = pd.concat(
        [
            frame[numeric].astype(float),
            pd.get_dummies(frame["app"], prefix="app", prefix_sep="=", dtype=float),
        ],
        axis=1,
    )
    assert sorted(features) == sorted(X.columns)
    direct = GenericUnivariateSelect(f_classif).fit(X, frame["SLA_violation"])
    want = dict(zip(X.columns, direct.scores_, strict=True))
    kept = dict(zip(X.columns, direct.get_support(), strict=True))
    for row in rows:
        # Splunk's rows carry 6 significant digits of a summary's numbers
        assert float(row["score"]) == pytest.approx(want[row["feature"]], rel=1e-5)
        assert 0 <= float(row["p-value"]) <= 1
        assert row["selected"] == ("true" if kept[row["feature"]] else "false")
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)  # the strongest field first


def test_field_selector_numeric_percentile(stack: LocalStack, script: Path) -> None:
    # MLTK: | fit FieldSelector type=numeric mode=percentile param=50 latency from *
    args = [
        "fit",
        "FieldSelector",
        "type=numeric",
        "mode=percentile",
        "param=50",
        "latency",
        "from",
    ]
    fit_line(
        stack,
        script,
        [*args, "bytes_in", "errors", "app", "into", "sla_fs_num"],
        sla(300, 13),
        SLA_FIELDS,
    )
    (out,) = apply_rows(stack, script, ["sla_fs_num"], sla(1, seed=14))
    assert [k for k in out if k.startswith("fs_")], out


def test_field_selector_bad_alpha_is_refused(stack: LocalStack, script: Path) -> None:
    args = [
        "fit",
        "FieldSelector",
        "mode=fpr",
        "param=2",
        "SLA_violation",
        "from",
        "latency",
        "into",
        "bad_fs",
    ]
    text = fit_error(stack, script, args, sla(60, 15), SLA_FIELDS)
    assert "between 0 and 1" in text


# -- Imputer ----------------------------------------------------------------------------------


def with_gaps(rows: list[dict], seed: int) -> list[dict]:
    rng = random.Random(seed)
    for r in rows:
        for f in ("bytes_in", "latency"):
            if rng.random() < 0.2:
                r[f] = ""
    return rows


def test_imputer_median_matches_scikit_learn(stack: LocalStack, script: Path) -> None:
    from sklearn.impute import SimpleImputer

    # MLTK: | fit Imputer bytes_in latency strategy=median
    train = with_gaps(sla(200, seed=16), seed=1)
    args = ["fit", "Imputer", "bytes_in", "latency", "strategy=median", "into", "sla_imp"]
    fit_line(stack, script, args, train, SLA_FIELDS)
    new = with_gaps(sla(30, seed=17), seed=2)
    rows = apply_rows(stack, script, ["sla_imp"], new)

    def matrix(events: list[dict]) -> np.ndarray:
        return (
            pd.DataFrame(events)[["bytes_in", "latency"]]
            .replace("", np.nan)
            .astype(float)
            .to_numpy()
        )

    expected = SimpleImputer(strategy="median").fit(matrix(train)).transform(matrix(new))
    got = np.array([[float(r["Imputed_bytes_in"]), float(r["Imputed_latency"])] for r in rows])
    np.testing.assert_allclose(got, expected)


def test_imputer_missing_values_and_most_frequent(stack: LocalStack, script: Path) -> None:
    # MLTK: | fit Imputer errors missing_values=0 strategy=most_frequent
    train = sla(200, seed=18)
    args = ["fit", "Imputer", "errors", "missing_values=0", "strategy=most_frequent"]
    fit_line(stack, script, [*args, "into", "sla_imp_mf"], train, SLA_FIELDS)
    counts = pd.Series([int(r["errors"]) for r in train if r["errors"] != "0"]).value_counts()
    mode = min(counts[counts == counts.max()].index)
    rows = apply_rows(stack, script, ["sla_imp_mf"], [{"errors": "0"}, {"errors": "3"}])
    assert [float(r["Imputed_errors"]) for r in rows] == [float(mode), 3.0]


def test_imputer_strategy_field(stack: LocalStack, script: Path) -> None:
    args = [
        "fit",
        "Imputer",
        "bytes_in",
        "latency",
        "strategy=field",
        "field=latency",
        "into",
        "sla_imp_f",
    ]
    fit_line(stack, script, args, with_gaps(sla(50, seed=19), seed=3), SLA_FIELDS)
    rows = apply_rows(
        stack,
        script,
        ["sla_imp_f"],
        [{"bytes_in": "", "latency": "7"}, {"bytes_in": "5", "latency": "7"}],
    )
    assert [float(r["Imputed_bytes_in"]) for r in rows] == [7.0, 5.0]
    # Listed, the filling field is imputed too, as MLTK's Imputer does (a copy of itself)
    assert [float(r["Imputed_latency"]) for r in rows] == [7.0, 7.0]


# MLTK's Imputer reads field= from the event whether or not it is listed, and names each
# listed field's output Imputed_<field> (`as` replaces the prefix): its algos/Imputer.py,
# https://github.com/multimodal-uol/multimodal-datagen/blob/291c5e9dfc971e6335df492844f511e2c6c41f64/bin/algos/Imputer.py


def test_imputer_strategy_field_from_an_unlisted_field(stack: LocalStack, script: Path) -> None:
    args = ["fit", "Imputer", "bytes_in", "strategy=field", "field=latency", "as", "filled"]
    fit_line(stack, script, [*args, "into", "sla_imp_src"], sla(40, seed=40), SLA_FIELDS)
    rows = apply_rows(
        stack,
        script,
        ["sla_imp_src"],
        [{"bytes_in": "", "latency": "7"}, {"bytes_in": "5", "latency": ""}],
    )
    assert [float(r["filled_bytes_in"]) for r in rows] == [7.0, 5.0]
    assert not [k for k in rows[0] if k.endswith("_latency")]  # read, not imputed


def test_imputer_field_without_strategy_field_is_refused(stack: LocalStack, script: Path) -> None:
    args = ["fit", "Imputer", "bytes_in", "strategy=median", "field=latency", "into", "bad_imp2"]
    text = fit_error(stack, script, args, sla(40, seed=41), SLA_FIELDS)
    assert "field=latency goes with strategy=field" in text


def test_imputer_strategy_field_on_a_field_not_in_the_data(stack: LocalStack, script: Path) -> None:
    args = ["fit", "Imputer", "bytes_in", "strategy=field", "field=lat", "into", "bad_imp3"]
    text = fit_error(stack, script, args, sla(40, seed=42), SLA_FIELDS)
    assert "'lat'" in text and "not" in text


def test_imputer_all_missing_field_is_refused(stack: LocalStack, script: Path) -> None:
    events = [{**r, "latency": ""} for r in sla(40, seed=20)]
    text = fit_error(
        stack,
        script,
        ["fit", "Imputer", "bytes_in", "latency", "into", "bad_imp"],
        events,
        SLA_FIELDS,
    )
    assert "latency" in text and "no value" in text


# -- partial_fit ------------------------------------------------------------------------------


def test_partial_fit_continues_as_a_new_version(stack: LocalStack, script: Path) -> None:
    from sklearn.linear_model import SGDClassifier

    # MLTK: | fit SGDClassifier SLA_violation from bytes_in latency partial_fit=true into m
    line = ["fit", "SGDClassifier", "SLA_violation", "from", "latency", "errors"]
    opts = ["random_state=0", "holdout=0", "partial_fit=true", "into", "sla_sgd"]
    first, second = sla(300, seed=21), sla(300, seed=22)
    assert fit_line(stack, script, [*line, *opts], first, SLA_FIELDS)["version"] == "1"
    row = fit_line(stack, script, [*line, *opts], second, SLA_FIELDS)
    assert row["version"] == "2", row

    new = sla(100, seed=23)
    rows = apply_rows(stack, script, ["sla_sgd"], new)

    def xy(events: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        frame = pd.DataFrame(events)
        codes = (frame["SLA_violation"] == "yes").astype(int).to_numpy()  # no < yes
        return frame[["latency", "errors"]].astype(float).to_numpy(), codes

    direct = SGDClassifier(random_state=0).fit(*xy(first))
    direct.partial_fit(*xy(second))
    expected = np.where(direct.predict(xy(new)[0]) == 1, "yes", "no")
    assert [r["predicted(SLA_violation)"] for r in rows] == list(expected)


def test_partial_fit_new_model_is_a_first_fit(stack: LocalStack, script: Path) -> None:
    args = [
        "fit",
        "GaussianNB",
        "SLA_violation",
        "from",
        "latency",
        "partial_fit=true",
        "into",
        "sla_nb_new",
    ]
    assert fit_line(stack, script, args, sla(100, seed=24), SLA_FIELDS)["version"] == "1"


def test_partial_fit_unsupported_algorithm_is_refused(stack: LocalStack, script: Path) -> None:
    args = [
        "fit",
        "RandomForestClassifier",
        "SLA_violation",
        "from",
        "latency",
        "partial_fit=true",
        "into",
        "m",
    ]
    text = fit_error(stack, script, args, sla(50, seed=25), SLA_FIELDS)
    assert "not supported by RandomForestClassifier" in text and "SGDClassifier" in text


def test_partial_fit_other_algorithm_is_refused(stack: LocalStack, script: Path) -> None:
    base = ["SLA_violation", "from", "latency"]
    fit_line(
        stack, script, ["fit", "GaussianNB", *base, "into", "sla_nb"], sla(100, seed=26), SLA_FIELDS
    )
    args = ["fit", "SGDClassifier", *base, "partial_fit=true", "into", "sla_nb"]
    text = fit_error(stack, script, args, sla(100, seed=27), SLA_FIELDS)
    assert "GaussianNB" in text and "SGDClassifier" in text


def test_sdk_partial_fit_tags_the_version_it_continued(stack: LocalStack) -> None:
    client = stack.client()
    frame = pd.DataFrame(sla(200, seed=28))
    kwargs: dict[str, Any] = {
        "target": "SLA_violation",
        "features": ["latency", "errors"],
        "into": "sdk_nb",
    }
    first = client.fit(frame, "BernoulliNB", progress=False, **kwargs)
    second = client.fit(
        pd.DataFrame(sla(200, seed=29)), "BernoulliNB", partial_fit=True, progress=False, **kwargs
    )
    assert (first.version, second.version) == (1, 2)
    from mlflow import MlflowClient

    tracking = f"sqlite:///{Path(stack.home) / 'mlflow.db'}"
    run = MlflowClient(tracking, tracking).get_run(str(second.run_id))
    assert run.data.tags["kepler.partial_fit.from"] == "1"


def test_sdk_tfidf_equals_the_command(stack: LocalStack, script: Path) -> None:
    client = stack.client()
    train = reviews(120, seed=30)
    client.fit(
        pd.DataFrame(train),
        "TFIDF",
        features=["Reviews"],
        into="sdk_tfidf",
        max_features=8,
        progress=False,
    )
    fit_line(
        stack,
        script,
        ["fit", "TFIDF", "Reviews", "max_features=8", "into", "spl_tfidf"],
        train,
        REVIEW_FIELDS,
    )
    new = reviews(10, seed=31)
    sdk = client.apply(pd.DataFrame(new), "sdk_tfidf")
    rows = apply_rows(stack, script, ["spl_tfidf"], new)
    names = [c for c in sdk.columns if c.startswith("Reviews_tfidf_")]
    assert len(names) == 8
    got = np.array([[float(r[n]) for n in names] for r in rows])
    np.testing.assert_allclose(sdk[names].to_numpy(), got, atol=1e-9)
