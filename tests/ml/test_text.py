"""TFIDF and HashingVectorizer against scikit-learn called directly, through train/apply."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kepler.core.errors import BadParameter, DataError
from kepler.core.spec import FitSpec
from kepler.ml.outputs import predict_frame
from kepler.ml.training import train

DOCS = [
    "disk full on host alpha",
    "login failed for user bob",
    "disk almost full on host beta",
    "user bob logged out",
    "the backup finished on host alpha",
    "login failed for user carol",
]


def frame(docs: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"message": docs, "code": [str(i) for i in range(len(docs))]})


def test_tfidf_names_and_values_follow_scikit_learn() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    spec = FitSpec("TFIDF", features=("message",), params={"ngram_range": "1-2", "max_df": 0.5})
    trained = train(frame(DOCS), spec)
    new = frame(["disk full for carol", ""])
    out = predict_frame(trained.pipeline, trained.meta, new)
    direct = TfidfVectorizer(ngram_range=(1, 2), max_df=0.5, max_features=100).fit(DOCS)
    terms = direct.get_feature_names_out()
    assert list(out.columns) == [f"message_tfidf_{i}_{t}" for i, t in enumerate(terms)]
    expected = direct.transform(["disk full for carol", ""]).toarray()
    np.testing.assert_allclose(out.to_numpy(), expected)


def test_tfidf_reads_max_df_and_min_df_as_mltk_does() -> None:
    # MLTK's algos/TFIDF.py: 1 (or 1.0) is the default, another whole number a count
    from kepler.ml.text import document_frequency

    assert document_frequency(1, 1.0) == 1.0 and document_frequency("1.0", 1) == 1
    assert document_frequency(2.0, 1) == 2 and isinstance(document_frequency(2.0, 1), int)
    assert document_frequency(0.6, 1.0) == 0.6
    one = train(frame(DOCS), FitSpec("TFIDF", features=("message",), params={"max_df": 1}))
    every = train(frame(DOCS), FitSpec("TFIDF", features=("message",)))
    assert one.meta.params["max_df"] == 1
    assert list(predict_frame(one.pipeline, one.meta, frame(DOCS)).columns) == list(
        predict_frame(every.pipeline, every.meta, frame(DOCS)).columns
    )


def test_tfidf_max_features_bounds_the_fields_and_as_renames() -> None:
    spec = FitSpec("TFIDF", features=("message",), params={"max_features": 3}, output_name="t")
    trained = train(frame(DOCS), spec)
    out = predict_frame(trained.pipeline, trained.meta, frame(DOCS[:1]))
    assert len(out.columns) == 3 and all(c.startswith("t_") for c in out.columns)


def test_tfidf_refuses_a_numeric_field() -> None:
    with pytest.raises(DataError, match="holds numbers only"):
        train(frame(DOCS), FitSpec("TFIDF", features=("code",)))


def test_tfidf_refuses_two_fields() -> None:
    with pytest.raises(DataError, match="exactly one text field"):
        train(frame(DOCS).assign(other="x y"), FitSpec("TFIDF", features=("message", "other")))


def test_tfidf_without_terms_says_which_options_to_check() -> None:
    spec = FitSpec("TFIDF", features=("message",), params={"stop_words": "english"})
    with pytest.raises(DataError, match="no terms"):
        train(frame(["the a an", "of the"]), spec)


def test_hashing_vectorizer_reduces_to_k_fields() -> None:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import HashingVectorizer

    params = {"k": 3, "max_features": 128, "random_state": 0}
    trained = train(frame(DOCS), FitSpec("HashingVectorizer", features=("message",), params=params))
    out = predict_frame(trained.pipeline, trained.meta, frame(DOCS))
    assert list(out.columns) == ["message_hashed_0", "message_hashed_1", "message_hashed_2"]
    hashed = HashingVectorizer(n_features=128).transform(DOCS)
    expected = TruncatedSVD(3, n_iter=5, random_state=0).fit_transform(hashed)
    np.testing.assert_allclose(out.to_numpy(), expected, atol=1e-9)


def test_hashing_vectorizer_k_above_rows_is_the_row_count() -> None:
    trained = train(frame(DOCS), FitSpec("HashingVectorizer", features=("message",)))
    assert trained.meta.algorithm == "HashingVectorizer"
    out = predict_frame(trained.pipeline, trained.meta, frame(DOCS))
    assert out.shape == (len(DOCS), len(DOCS))


def test_hashing_vectorizer_refuses_k_at_or_above_max_features() -> None:
    spec = FitSpec("HashingVectorizer", features=("message",), params={"k": 8, "max_features": 8})
    with pytest.raises(BadParameter, match="k=8"):
        train(frame(DOCS), spec)


def test_hashing_vectorizer_without_reduce_is_bounded() -> None:
    spec = FitSpec("HashingVectorizer", features=("message",), params={"reduce": False})
    with pytest.raises(BadParameter, match="one field per hash"):
        train(frame(DOCS), spec)
