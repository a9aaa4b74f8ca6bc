"""Text fields as numbers, as Splunk MLTK's ``TFIDF`` and ``HashingVectorizer`` make them.

Both read one text field, raw (the pipeline hands it over untouched: see
``kepler_raw_input`` in :mod:`kepler.ml.pipeline`), with MLTK's options and defaults:

* :class:`TFIDF` is scikit-learn's ``TfidfVectorizer`` keeping at most ``max_features``
  terms (100 unless told, as MLTK does); each term is a field
  ``<field>_tfidf_<n>_<term>``, ``n`` counting the terms in vocabulary order from 0.
* :class:`HashingVectorizer` is scikit-learn's ``HashingVectorizer`` (``max_features``
  hashes, 10,000 by default) reduced by ``TruncatedSVD`` to ``k`` fields (100), or with
  ``reduce=false`` every hash a field; named ``<field>_hashed_<n>`` from 0. Unlike MLTK,
  whose HashingVectorizer only transforms the events it is fitted on, the fitted SVD is
  kept, so ``apply`` projects new events the same way.

``as <out>`` replaces the ``<field>_tfidf`` / ``<field>_hashed`` prefix. A field that is
not text (numbers only) is refused: TF-IDF of numbers is nearly always a wrong field.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from kepler.core.algorithms import MAX_TEXT_FIELDS
from kepler.core.errors import BadParameter, DataError

# scikit-learn's own: words of two or more characters.
WORD_PATTERN = r"(?u)\b\w\w+\b"


def ngram_pair(text: str) -> tuple[int, int]:
    """MLTK's ``ngram_range=1-2`` as scikit-learn's ``(1, 2)``."""
    low, high = (int(p) for p in str(text).split("-"))
    return low, high


def _documents(X: Any, algorithm: str) -> tuple[str, np.ndarray]:
    """The one text field's name and its values as strings (missing: empty)."""
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=object))
    if frame.shape[1] != 1:
        names = ", ".join(str(c) for c in frame.columns)
        raise DataError(
            f"{algorithm} reads exactly one text field (got {frame.shape[1]}: {names}); "
            "fit one model per field",
            detail={"algorithm": algorithm},
        )
    name = str(frame.columns[0])
    column = frame.iloc[:, 0]
    if not (pd.api.types.is_object_dtype(column) or pd.api.types.is_string_dtype(column)):
        raise DataError(
            f"{algorithm} reads text; field {name!r} holds numbers only. Name a text field "
            f"(a message, a URL, a user agent), or convert it with `eval {name}=tostring({name})`",
            detail={"field": name, "algorithm": algorithm},
        )
    return name, column.fillna("").astype(str).to_numpy()


def document_frequency(value: Any, default: float) -> float:
    """``max_df``/``min_df`` as MLTK's TFIDF reads them (its algos/TFIDF.py): 1 or 1.0 is
    the default (every document for max_df, one for min_df), another whole number a count
    of documents, anything else a share of them."""
    number = float(value)
    if number == 1.0:
        return default
    return int(number) if number.is_integer() else number


def _text_kwargs(est: Any) -> dict[str, Any]:
    return {
        "ngram_range": ngram_pair(est.ngram_range),
        "analyzer": est.analyzer,
        "norm": est.norm,
        "token_pattern": est.token_pattern,
        "stop_words": est.stop_words,
    }


class TFIDF(TransformerMixin, BaseEstimator):
    """TF-IDF weights of one text field's terms; see the module docstring."""

    kepler_raw_input = True

    def __init__(
        self,
        max_features: int = 100,
        max_df: float = 1.0,
        min_df: float = 1,
        ngram_range: str = "1-1",
        analyzer: str = "word",
        norm: str | None = "l2",
        token_pattern: str = WORD_PATTERN,
        stop_words: str | None = None,
    ) -> None:
        self.max_features = max_features
        self.max_df = max_df
        self.min_df = min_df
        self.ngram_range = ngram_range
        self.analyzer = analyzer
        self.norm = norm
        self.token_pattern = token_pattern
        self.stop_words = stop_words

    def fit(self, X: Any, y: Any = None) -> TFIDF:
        from sklearn.feature_extraction.text import TfidfVectorizer

        if not 1 <= int(self.max_features) <= MAX_TEXT_FIELDS:
            raise BadParameter(
                f"TFIDF: max_features={self.max_features} must be between 1 and "
                f"{MAX_TEXT_FIELDS:,} (one field per term)",
                detail={"parameter": "max_features"},
            )
        self.field_, docs = _documents(X, "TFIDF")
        self.vectorizer_ = TfidfVectorizer(
            max_features=int(self.max_features),
            max_df=document_frequency(self.max_df, 1.0),
            min_df=document_frequency(self.min_df, 1),
            **_text_kwargs(self),
        )
        try:
            self.vectorizer_.fit(docs)
        except ValueError as exc:  # "empty vocabulary", max_df below min_df, ...
            raise DataError(
                f"TFIDF found no terms to keep in {self.field_!r}: {exc}; check the field "
                "and the max_df, min_df, stop_words and token_pattern options",
                detail={"field": self.field_},
            ) from exc
        self.terms_ = [str(t) for t in self.vectorizer_.get_feature_names_out()]
        self.n_features_out_ = len(self.terms_)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        _, docs = _documents(X, "TFIDF")
        return np.asarray(self.vectorizer_.transform(docs).toarray(), dtype=np.float64)

    def kepler_output_fields(self, inputs: list[str], out: str | None) -> list[str]:
        prefix = out or f"{self.field_}_tfidf"
        return [f"{prefix}_{i}_{term}" for i, term in enumerate(self.terms_)]


class HashingVectorizer(TransformerMixin, BaseEstimator):
    """Hashed term counts of one text field, reduced by SVD; see the module docstring."""

    kepler_raw_input = True

    def __init__(
        self,
        n_features: int = 10_000,
        n_components: int = 100,
        reduce: bool = True,
        n_iter: int = 5,
        ngram_range: str = "1-1",
        analyzer: str = "word",
        norm: str | None = "l2",
        token_pattern: str = WORD_PATTERN,
        stop_words: str | None = None,
        random_state: int | None = None,
    ) -> None:
        self.n_features = n_features
        self.n_components = n_components
        self.reduce = reduce
        self.n_iter = n_iter
        self.ngram_range = ngram_range
        self.analyzer = analyzer
        self.norm = norm
        self.token_pattern = token_pattern
        self.stop_words = stop_words
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> HashingVectorizer:
        self._check()
        self.field_, docs = _documents(X, "HashingVectorizer")
        hashed = self._hasher().transform(docs)
        if self.reduce:
            from sklearn.decomposition import TruncatedSVD

            # MLTK's rule: fewer events than k reduce to as many fields as events.
            k = min(int(self.n_components), hashed.shape[0])
            self.svd_: Any = TruncatedSVD(
                n_components=k, n_iter=int(self.n_iter), random_state=self.random_state
            ).fit(hashed)
            self.n_features_out_ = k
        else:
            self.svd_ = None
            self.n_features_out_ = int(self.n_features)
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        _, docs = _documents(X, "HashingVectorizer")
        hashed = self._hasher().transform(docs)
        if self.svd_ is None:
            return np.asarray(hashed.toarray(), dtype=np.float64)
        return np.asarray(self.svd_.transform(hashed), dtype=np.float64)

    def kepler_output_fields(self, inputs: list[str], out: str | None) -> list[str]:
        prefix = out or f"{self.field_}_hashed"
        return [f"{prefix}_{i}" for i in range(self.n_features_out_)]

    def _hasher(self) -> Any:
        from sklearn.feature_extraction.text import HashingVectorizer as Hasher

        return Hasher(n_features=int(self.n_features), **_text_kwargs(self))

    def _check(self) -> None:
        if self.reduce and self.n_components >= self.n_features:
            raise BadParameter(
                f"HashingVectorizer: the number of reduced fields (k={self.n_components}) "
                f"must be less than the number of features (max_features={self.n_features})",
                detail={"parameter": "k"},
            )
        if not self.reduce and self.n_features > MAX_TEXT_FIELDS:
            raise BadParameter(
                f"HashingVectorizer with reduce=false adds one field per hash: "
                f"max_features={self.n_features:,} is more than {MAX_TEXT_FIELDS:,}; lower "
                "max_features, or keep reduce=true and choose k",
                detail={"parameter": "max_features"},
            )
