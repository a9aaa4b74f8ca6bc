"""The online path's scorer over a real MLflow registry on SQLite: each body form, the
checks, the single-threaded copy and the cached resolution."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)

from kepler.core.errors import DataError, InvalidSpec, NotFound, PayloadTooLarge
from kepler.core.refs import ModelRef
from kepler.core.spec import FitSpec
from kepler.ml.outputs import predict_frame
from kepler.ml.pipeline import final_estimator
from kepler.ml.store import ModelStore
from kepler.ml.training import TrainedModel, train
from kepler.server.model_cache import ModelCache
from kepler.server.scoring.online import OnlineScorer, PredictOptions
from kepler.server.scoring.threads import single_threaded

FEATURES = ("pressure", "temp", "site")


def pump_frame(n: int = 120, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "pressure": rng.normal(size=n),
            "temp": rng.normal(size=n),
            "site": rng.choice(["north", "south"], size=n).astype(object),
        }
    )
    frame["failure"] = np.where(frame["pressure"] + 0.5 * frame["temp"] > 0, "yes", "no")
    return frame


def forest(n_jobs: int = -1) -> TrainedModel:
    spec = FitSpec(
        "RandomForestClassifier",
        target="failure",
        features=FEATURES,
        params={"n_estimators": 10, "n_jobs": n_jobs},
        probabilities=True,
    )
    return train(pump_frame(), spec)


def line(slope: float) -> TrainedModel:
    frame = pd.DataFrame({"x": [float(i) for i in range(30)]})
    frame["y"] = slope * frame["x"]
    return train(frame, FitSpec("LinearRegression", target="y", features=("x",)))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    home = tmp_path / "home"
    return ModelStore(f"sqlite:///{home}.db", (home / "artifacts").as_uri())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(store: ModelStore, clock: Clock) -> ModelCache:
    return ModelCache(4, store.load_version, store.resolve, resolve_ttl=5.0, clock=clock)


@pytest.fixture
def scorer(cache: ModelCache) -> OnlineScorer:
    return OnlineScorer(cache, max_rows=50, parallel_rows=10)


ROWS = [
    {"pressure": 2.0, "temp": 1.0, "site": "north"},
    {"pressure": -2.0, "temp": -1.0, "site": "south"},
    {"pressure": None, "temp": "0.5", "site": None, "extra": "ignored"},
]


def answer(scorer: OnlineScorer, ref: str, fmt: str, body: bytes, **kw: object) -> dict:
    return json.loads(scorer.predict_body(ModelRef.parse(ref), fmt, body, PredictOptions(**kw)))


def expected(store: ModelStore, ref: str, rows: list[dict]) -> pd.DataFrame:
    pipeline, meta = store.load_version(store.resolve(ModelRef.parse(ref)))
    return predict_frame(pipeline, meta, pd.DataFrame(rows))


def test_predict_each_json_form_matches_apply(store: ModelStore, scorer: OnlineScorer) -> None:
    store.register(forest(), "pump")
    want = expected(store, "pump", ROWS)
    split = {
        "columns": ["site", "temp", "pressure", "extra"],
        "data": [[r["site"], r["temp"], r["pressure"], r.get("extra")] for r in ROWS],
    }
    for body in ({"rows": ROWS}, {"dataframe_records": ROWS}, {"dataframe_split": split}):
        got = answer(scorer, "pump", "json", json.dumps(body).encode())
        assert (got["model"], got["version"], got["rows"]) == ("pump", 1, 3)
        assert got["fields"] == list(want.columns)
        assert got["predictions"] == want["predicted(failure)"].tolist()
        for name in ("probability(failure=no)", "probability(failure=yes)"):
            assert got["outputs"][name] == pytest.approx(want[name].tolist())


def test_predict_csv_and_arrow_bodies(store: ModelStore, scorer: OnlineScorer) -> None:
    store.register(forest(), "pump")
    rows = ROWS[:2]
    want = expected(store, "pump", rows)["predicted(failure)"].tolist()
    frame = pd.DataFrame(rows)
    csv = frame.to_csv(index=False).encode()
    sink = io.BytesIO()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    assert answer(scorer, "pump", "csv", csv)["predictions"] == want
    assert answer(scorer, "pump", "arrow", sink.getvalue())["predictions"] == want


def test_predict_options_as_apply_takes_them(store: ModelStore, scorer: OnlineScorer) -> None:
    store.register(forest(), "pump")
    got = answer(
        scorer,
        "pump",
        "json",
        json.dumps({"rows": ROWS}).encode(),
        probabilities=False,
        output_name="risk",
    )
    assert got["fields"] == ["risk"] and got["outputs"] == {}


def test_predict_missing_fields_is_422_naming_them(store: ModelStore, scorer: OnlineScorer) -> None:
    store.register(forest(), "pump")
    rows = [{"pressure": 1.0, "temp": 1.0, "site": "north"}, {"pressure": 1.0}]
    with pytest.raises(DataError) as err:
        answer(scorer, "pump", "json", json.dumps({"rows": rows}).encode())
    assert err.value.status == 422
    assert err.value.detail["missing_fields"] == ["temp", "site"]
    assert "temp, site" in err.value.message and "every row" in err.value.message
    csv = b"pressure\n1.0\n"
    with pytest.raises(DataError, match="temp, site"):
        answer(scorer, "pump", "csv", csv)


def test_predict_too_many_rows_names_the_limit(store: ModelStore, scorer: OnlineScorer) -> None:
    store.register(forest(), "pump")
    body = json.dumps({"rows": ROWS * 20}).encode()
    with pytest.raises(PayloadTooLarge, match="KEPLER_PREDICT_MAX_ROWS") as err:
        answer(scorer, "pump", "json", body)
    assert err.value.detail["limit_rows"] == 50


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"instances": []}', b'{"rows": [1, 2]}', b'{"dataframe_split": 3}'],
)
def test_predict_unreadable_body_says_what_to_send(
    store: ModelStore, scorer: OnlineScorer, body: bytes
) -> None:
    store.register(forest(), "pump")
    with pytest.raises(InvalidSpec, match="dataframe_split"):
        answer(scorer, "pump", "json", body)


def test_predict_odd_values_become_missing_as_apply_does(
    store: ModelStore, scorer: OnlineScorer
) -> None:
    store.register(forest(), "pump")
    rows = [
        {"pressure": "n/a", "temp": float("inf"), "site": ""},
        {"pressure": [1], "temp": None, "site": 3},
    ]
    want = expected(store, "pump", rows)
    got = answer(scorer, "pump", "json", json.dumps({"rows": rows}).encode())
    assert got["predictions"] == want["predicted(failure)"].tolist()


def test_single_threaded_copy_shares_the_trees(store: ModelStore) -> None:
    trained = forest(n_jobs=-1)
    pipeline = trained.pipeline
    one = single_threaded(pipeline)
    inner, inner_one = final_estimator(pipeline), final_estimator(one)
    assert inner.n_jobs == -1 and inner_one.n_jobs == 1
    assert inner_one.estimators_ is inner.estimators_  # shared, not copied
    X = pd.DataFrame(ROWS[:2])[list(FEATURES)]
    from kepler.ml import frames

    X = frames.conform(X, trained.meta.feature_types)
    assert (one.predict_proba(X) == pipeline.predict_proba(X)).all()
    assert isinstance(inner_one, type(inner)) and type(inner_one) is not type(inner)
    assert type(inner) is RandomForestClassifier  # the cached model keeps its class
    plain = line(2.0).pipeline  # nothing in it starts threads: no copy
    assert single_threaded(plain) is plain


@pytest.mark.parametrize(
    "make", [RandomForestClassifier, ExtraTreesClassifier], ids=["forest", "extra-trees"]
)
def test_serial_forest_classifier_answers_bit_for_bit(make: type) -> None:
    """The serial copy's loop over the trees gives exactly scikit-learn's numbers, for
    one row and many, two classes and three, from models trained with n_jobs=1 and -1."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 6))
    for classes in (2, 3):
        y = np.digitize(X[:, 0] + rng.normal(scale=0.5, size=300), [-0.5, 0.5][: classes - 1])
        for n_jobs in (1, -1):
            model = make(n_estimators=15, random_state=0, n_jobs=n_jobs).fit(X, y)
            serial = single_threaded(model)
            assert serial is not model and serial.estimators_ is model.estimators_
            model.set_params(n_jobs=1)  # scikit-learn's order: the same sums, bit for bit
            for rows in (X[:1], X[:7], X):
                assert np.array_equal(serial.predict_proba(rows), model.predict_proba(rows))
                assert np.array_equal(serial.predict(rows), model.predict(rows))


def test_serial_forest_reads_frames_as_the_forest_validates_them() -> None:
    """Frames of the fitted columns take the quick conversion; missing values, other
    column orders and text take scikit-learn's own checks, answers and errors alike."""
    rng = np.random.default_rng(5)
    X = pd.DataFrame(rng.normal(size=(200, 4)), columns=["a", "b", "c", "d"])
    y = (X["a"] > 0).astype(int)
    model = RandomForestClassifier(n_estimators=10, random_state=0, n_jobs=1).fit(X, y)
    serial = single_threaded(model)
    assert np.array_equal(serial.predict_proba(X.iloc[:3]), model.predict_proba(X.iloc[:3]))
    holes = X.iloc[:5].copy()
    holes.iloc[0, 1] = np.nan  # scikit-learn's forests route missing values: same answer
    assert np.array_equal(serial.predict_proba(holes), model.predict_proba(holes))
    for bad in (X[["b", "a", "c", "d"]].iloc[:2], X.iloc[:2].assign(a="text")):
        with pytest.raises(ValueError) as theirs:
            model.predict_proba(bad)
        with pytest.raises(ValueError) as ours:
            serial.predict_proba(bad)
        assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize(
    "make", [RandomForestRegressor, ExtraTreesRegressor], ids=["forest", "extra-trees"]
)
def test_serial_forest_regressor_answers_bit_for_bit(make: type) -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 5))
    y = X[:, 0] * 2 + rng.normal(size=200)
    model = make(n_estimators=12, random_state=0, n_jobs=-1).fit(X, y)
    serial = single_threaded(model)
    assert not hasattr(serial, "predict_proba")  # a regressor stays a regressor
    for rows in (X[:1], X):  # threads sum the trees in any order: equal to rounding
        np.testing.assert_allclose(serial.predict(rows), model.predict(rows), rtol=1e-12)
    model.set_params(n_jobs=1)  # in scikit-learn's order: bit for bit
    assert np.array_equal(serial.predict(X), model.predict(X))
    two = make(n_estimators=5, random_state=0).fit(X, np.c_[y, -y])  # multi-output
    assert type(single_threaded(two)) is make  # left to scikit-learn's own predict


def test_predict_below_parallel_rows_uses_one_thread(
    store: ModelStore, scorer: OnlineScorer, cache: ModelCache
) -> None:
    store.register(forest(), "pump")
    body = json.dumps({"rows": ROWS}).encode()
    small = scorer.prepare(ModelRef.parse("pump"), "json", body, PredictOptions())
    big = scorer.prepare(
        ModelRef.parse("pump"), "json", json.dumps({"rows": ROWS * 4}).encode(), PredictOptions()
    )
    scorer.predict([small])
    scorer.predict([big])
    (copy,) = scorer._single.values()
    assert final_estimator(copy).n_jobs == 1
    assert final_estimator(small.model[0]).n_jobs == -1  # the cached model is untouched


def test_predict_many_gives_each_its_own_rows(store: ModelStore, scorer: OnlineScorer) -> None:
    store.register(forest(), "pump")
    ref, opts = ModelRef.parse("pump"), PredictOptions()
    items = [
        scorer.prepare(ref, "json", json.dumps({"rows": [r]}).encode(), opts) for r in ROWS
    ] + [scorer.prepare(ref, "json", json.dumps({"rows": ROWS[:2]}).encode(), opts)]
    answers = scorer.predict(items)
    want = expected(store, "pump", ROWS)["predicted(failure)"].tolist()
    assert [a.values["predicted(failure)"] for a in answers] == [
        [want[0]],
        [want[1]],
        [want[2]],
        want[:2],
    ]


def test_resolution_is_cached_until_forget_or_ttl(
    store: ModelStore, scorer: OnlineScorer, cache: ModelCache, clock: Clock
) -> None:
    store.register(line(2.0), "line")
    body = json.dumps({"rows": [{"x": 1.0}]}).encode()
    assert answer(scorer, "line", "json", body)["version"] == 1
    resolves = cache.resolves
    for _ in range(3):
        assert answer(scorer, "line", "json", body)["predictions"] == [pytest.approx(2.0)]
    assert cache.resolves == resolves  # no registry query per request

    store.register(line(3.0), "line")  # as another process would
    assert answer(scorer, "line", "json", body)["version"] == 1  # within the TTL
    clock.now += 5.1
    got = answer(scorer, "line", "json", body)
    assert (got["version"], got["predictions"]) == (2, [pytest.approx(3.0)])

    store.set_alias("line", "production", 1)
    assert answer(scorer, "line:production", "json", body)["version"] == 1
    store.set_alias("line", "production", 2)
    cache.forget("line")  # what the bridge does after it moves an alias
    assert answer(scorer, "line:production", "json", body)["version"] == 2
    assert answer(scorer, "line@1", "json", body)["predictions"] == [pytest.approx(2.0)]


def test_unknown_model_is_not_found(scorer: OnlineScorer) -> None:
    with pytest.raises(NotFound) as err:
        answer(scorer, "ghost", "json", b'{"rows": []}')
    assert err.value.status == 404 and "ghost" in err.value.message


def test_predict_numeric_model_reads_rows_as_one_matrix(
    store: ModelStore, scorer: OnlineScorer
) -> None:
    store.register(line(2.0), "line")
    clean = scorer.prepare(
        ModelRef.parse("line"), "json", b'{"rows": [{"x": 1}, {"x": null}]}', PredictOptions()
    )
    assert clean.matrix is not None and clean.matrix.shape == (2, 1)
    rows = [{"x": "abc"}, {"x": None}, {"x": "1.5"}, {"x": 2}, {"x": float("-inf")}]
    want = expected(store, "line", rows)["predicted(y)"].tolist()
    got = answer(scorer, "line", "json", json.dumps({"rows": rows}).encode())
    assert got["predictions"] == pytest.approx(want)
