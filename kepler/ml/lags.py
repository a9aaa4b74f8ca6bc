"""``lags=`` and ``rolling=``: features from each field's own past, as a pipeline step.

:class:`LagFeatures` orders the rows by time (within each ``by`` group), adds
``<field>_lag<k>`` (the value ``k`` rows earlier) and ``<field>_rolling_<stat><w>`` (the
statistic over the ``w`` rows up to and including this one) for every field it is given,
and hands the rows back in their original order. It learns nothing, so ``apply``
repeats exactly what ``fit`` did on the raw events it receives: the past it can see is
the events of one call, ordered by time, whatever order they came in.

A row without enough history gets NaN, which the pipeline imputes as any missing value.
How far back a lag or window may reach is bounded where the spec is read
(``kepler.core.spec.MAX_LAG``, ``MAX_LAG_STEPS``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin


class LagFeatures(TransformerMixin, BaseEstimator):
    """Add lagged and rolling-window copies of ``fields``, computed in ``time_field``
    order within each ``by`` group; ``keep_time`` keeps the time field as a feature."""

    def __init__(
        self,
        fields: tuple[str, ...] = (),
        lags: tuple[int, ...] = (),
        rolling: tuple[str, ...] = (),
        time_field: str = "_time",
        by: tuple[str, ...] = (),
        keep_time: bool = True,
    ) -> None:
        self.fields = fields
        self.lags = lags
        self.rolling = rolling
        self.time_field = time_field
        self.by = by
        self.keep_time = keep_time

    def fit(self, X: Any, y: Any = None) -> LagFeatures:
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        # Group codes, then time: np.lexsort sorts by its last key first.
        keys: list[np.ndarray] = [np.asarray(X[self.time_field], dtype=np.float64)]
        keys += [pd.factorize(X[k])[0] for k in reversed(self.by)]
        order = np.lexsort(keys)
        ordered = X.iloc[order].reset_index(drop=True)  # positions in time order
        # dropna=False: rows with an empty `by` value are a group of their own here (the
        # model leaves them out), so every row keeps its place in the output.
        grouped: Any = ordered.groupby(list(self.by), sort=False, dropna=False) if self.by else None
        added: dict[str, np.ndarray] = {}
        for f in self.fields:
            column = ordered[f] if grouped is None else grouped[f]
            for k in self.lags:
                added[f"{f}_lag{k}"] = column.shift(k).sort_index().to_numpy()
            for item in self.rolling:
                stat, window = item.split(":")
                values = getattr(column.rolling(int(window), min_periods=1), stat)()
                if grouped is not None:  # groupby().rolling() puts the keys in the index
                    values = values.reset_index(level=list(range(len(self.by))), drop=True)
                added[f"{f}_rolling_{stat}{window}"] = values.sort_index().to_numpy()
        out = pd.concat([ordered, pd.DataFrame(added, index=ordered.index)], axis=1)
        out = out.iloc[np.argsort(order, kind="stable")]  # back in the caller's order
        out.index = X.index
        if not self.keep_time:
            out = out.drop(columns=[self.time_field])
        return out
