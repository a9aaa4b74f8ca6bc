"""Splunk MLTK's ``Imputer``: fill the gaps of numeric fields, learnt at fit.

``fit Imputer <fields> [strategy=mean|median|most_frequent|field] [missing_values=NaN|<n>]
[field=<field>]``: ``mean`` (the default), ``median`` and ``most_frequent`` are
scikit-learn's ``SimpleImputer`` statistics of each field's training values; ``field``
fills each gap with the same event's value of the field named by ``field=``, which need
not be listed (MLTK reads it from the event; Kepler adds it to the model's inputs).
``missing_values`` names the value that means missing (an empty field always does).
Outputs are ``Imputed_<field>`` for every field listed, as MLTK's ``Imputer`` names them
(``algos/Imputer.py``: ``output_name`` defaults to ``Imputed``); ``as <out>`` gives
``<out>_<field>``. As in MLTK, ``field=`` goes with ``strategy=field`` only.

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
        self,
        strategy: str = "mean",
        missing_values: Any = "NaN",
        field: str | None = None,
        field_listed: bool = True,
    ) -> None:
        self.strategy = strategy
        self.missing_values = missing_values
        self.field = field
        # False: field= was not among the fields listed, only read to fill their gaps.
        self.field_listed = field_listed

    def kepler_inputs(self, features: list[str]) -> list[str]:
        """The fields the model reads: those listed, and with strategy=field the field that
        fills their gaps when it is not one of them (it then gets no output of its own)."""
        self._check_field()
        if self.strategy != "field" or self.field in features:
            return features
        self.set_params(field_listed=False)
        return [*features, str(self.field)]

    def _check_field(self) -> None:
        if self.strategy == "field" and not self.field:
            raise BadParameter(
                "Imputer with strategy=field fills each gap from another field of the same "
                "event: name it with field=<name>",
                detail={"parameter": "field"},
            )
        if self.field and self.strategy != "field":
            raise BadParameter(
                f"field={self.field} goes with strategy=field (fill gaps from that field); "
                f"with strategy={self.strategy} drop field=",
                detail={"parameter": "field"},
            )

    def fit(self, X: Any, y: Any = None) -> Imputer:
        self._check_field()
        frame = self._numbers(X)
        self.fields_ = [str(c) for c in frame.columns]
        if self.strategy == "field":
            if self.field not in self.fields_:
                raise DataError(
                    f"Imputer cannot fill from {self.field!r}: the field is not in the data "
                    "(check its name, or that the search extracts it)",
                    detail={"field": self.field},
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
                if f in self._outputs()
            ]
            return np.column_stack(out) if out else np.empty((len(values), 0))
        rows, cols = np.nonzero(np.isnan(values))
        values[rows, cols] = self.statistics_[cols]
        return values

    def kepler_output_fields(self, inputs: list[str], out: str | None) -> list[str]:
        prefix = out or "Imputed"
        return [f"{prefix}_{f}" for f in self._outputs()]

    def _outputs(self) -> list[str]:
        """The fields imputed: every field listed (with strategy=field, the filling field
        too when it was listed, as MLTK does; its own gaps stay)."""
        # getattr: a model saved before field_listed existed had its field listed
        if self.strategy == "field" and not getattr(self, "field_listed", True):
            return [f for f in self.fields_ if f != self.field]
        return list(self.fields_)

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
