"""Splunk MLTK's ``Imputer``: fill the gaps of numeric fields, learnt at fit.

``fit Imputer <fields> [strategy=mean|median|most_frequent|field] [missing_values=NaN|<n>]
[field=<field>]``: ``mean`` (the default), ``median`` and ``most_frequent`` are
scikit-learn's ``SimpleImputer`` statistics of each field's training values; ``field``
fills each gap with the same event's value of the field named by ``field=`` (one of the
fields listed). ``missing_values`` names the value that means missing (an empty field
always does). Outputs are ``Imputed_<field>``; ``as <out>`` gives ``<out>_<field>``.

The pipeline hands the fields over as they are (``kepler_raw_input``): its own median
imputation would otherwise fill every gap before this model saw one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from kepler.core.errors import BadParameter, DataError

STRATEGIES = ("mean", "median", "most_frequent", "field")


class Imputer(TransformerMixin, BaseEstimator):
    """Fill missing values of numeric fields; see the module docstring."""

    kepler_raw_input = True

    def __init__(
        self, strategy: str = "mean", missing_values: Any = "NaN", field: str | None = None
    ) -> None:
        self.strategy = strategy
        self.missing_values = missing_values
        self.field = field

    def fit(self, X: Any, y: Any = None) -> Imputer:
        frame = self._numbers(X)
        self.fields_ = [str(c) for c in frame.columns]
        if self.strategy == "field":
            if not self.field or self.field not in self.fields_:
                raise BadParameter(
                    "Imputer with strategy=field fills gaps from another field: name it with "
                    "field=<name> and list it among the fields "
                    f"(listed: {', '.join(self.fields_)})",
                    detail={"parameter": "field"},
                )
            self.statistics_ = np.full(len(self.fields_), np.nan)
            return self
        values = frame.to_numpy(dtype=np.float64)
        empty = [
            f for f, none in zip(self.fields_, np.isnan(values).all(axis=0), strict=True) if none
        ]
        if empty:
            raise DataError(
                f"Imputer cannot fill {', '.join(map(repr, empty))}: no event has a value "
                "there to learn from; drop the field or check the search extracts it",
                detail={"fields": empty},
            )
        from sklearn.impute import SimpleImputer

        self.statistics_ = SimpleImputer(strategy=self.strategy).fit(values).statistics_
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        frame = self._numbers(X)
        values = frame.to_numpy(dtype=np.float64, copy=True)
        if self.strategy == "field":
            source = values[:, self.fields_.index(str(self.field))]
            out = [
                np.where(np.isnan(values[:, i]), source, values[:, i])
                for i, f in enumerate(self.fields_)
                if f != self.field
            ]
            return np.column_stack(out) if out else np.empty((len(values), 0))
        rows, cols = np.nonzero(np.isnan(values))
        values[rows, cols] = self.statistics_[cols]
        return values

    def kepler_output_fields(self, inputs: list[str], out: str | None) -> list[str]:
        prefix = out or "Imputed"
        kept = [f for f in self.fields_ if self.strategy != "field" or f != self.field]
        return [f"{prefix}_{f}" for f in kept]

    def _numbers(self, X: Any) -> pd.DataFrame:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X))
        text = [str(c) for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
        if text:
            raise DataError(
                f"Imputer fills numeric fields; {', '.join(map(repr, text))} holds text. "
                "Fill text fields in SPL (`fillnull value=unknown <field>`)",
                detail={"fields": text},
            )
        frame = frame.astype(np.float64)
        marker = self.missing_values
        if marker is not None and str(marker).lower() != "nan":
            frame = frame.mask(frame == float(marker))
        return frame
