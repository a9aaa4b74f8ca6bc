"""Live evaluation: MLTK's ``score`` metrics over events read batch by batch.

:func:`score_frames` takes a checked :class:`~kepler.core.score.ScoreSpec` and the events as
an iterable of DataFrames (a dataset's Parquet parts, read one batch at a time) and answers
MLTK's output table. What it keeps between batches is bounded:

- classification metrics: the count of each (label, prediction) pair, at most
  ``max_classes`` classes per field; the metrics are scikit-learn's own, computed on the
  distinct pairs weighted by their counts (the same numbers as on every row);
- regression metrics: sums and running moments (Chan's merge), never the values;
- ``roc_auc_score``, ``roc_curve``, ``ks_2samp`` and the t-tests need every value: they keep
  them up to ``max_rows`` rows and refuse more, saying how to narrow the search.

Rows missing a value in any of the command's fields are left out, as MLTK does, and counted.
Labels compare as MLTK's: numbers that are whole compare as integers (``1``, ``1.0``), the
rest as text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from kepler.core.errors import DataError
from kepler.core.score import CLASSIFICATION, REGRESSION, ScoreSpec
from kepler.ml import live_tables as tables

__all__ = ["Accumulator", "check_columns", "score_frames"]


def check_columns(spec: ScoreSpec, names: Iterable[str]) -> None:
    """Refuse a field the events do not have, naming the ones they do."""
    have = list(names)
    for name in spec.columns:
        if name not in have:
            role = _role(spec, name)
            shown = ", ".join(have[:20]) + (" ..." if len(have) > 20 else "")
            raise DataError(
                f"{role} {name!r} is not in the events (they have: {shown or 'no fields'}); "
                "check its spelling, and that the search keeps it",
                detail={"field": name, "fields": have[:100]},
            )


def score_frames(
    spec: ScoreSpec, frames: Iterable[pd.DataFrame], *, max_rows: int, max_classes: int
) -> dict[str, Any]:
    """MLTK's output table for ``spec`` over ``frames``: ``columns``, ``rows`` (one dict per
    row), the rows read, scored and left out for a missing value, and ``notes``."""
    acc = Accumulator(spec, max_rows=max_rows, max_classes=max_classes)
    for frame in frames:
        acc.add(frame)
    return acc.answer()


class Accumulator:
    """What the batches leave behind: counts, moments or values, per the metric's family.
    :meth:`add` each batch as it comes, :meth:`answer` once at the end (what
    :func:`score_frames` does over an iterable)."""

    def __init__(self, spec: ScoreSpec, *, max_rows: int, max_classes: int) -> None:
        self.spec = spec
        self.max_rows = max_rows
        self.max_classes = max_classes
        self.read = 0
        self.scored = 0
        self.notes: list[str] = []
        self.text: dict[str, str] = {}  # a field -> one of its values that is not a number
        self.numeric: dict[str, bool] = {c: True for c in spec.columns}
        self.classes: dict[str, set[str]] = {c: set() for c in spec.columns}
        self.counts: list[dict[tuple[str, str], int]] = [{} for _ in spec.pairs]
        self.moments = [_Moments() for _ in spec.pairs]
        self.labels: dict[str, list[np.ndarray]] = {c: [] for c in spec.columns}
        self.numbers: dict[str, list[np.ndarray]] = {c: [] for c in spec.columns}

    def add(self, frame: pd.DataFrame) -> None:
        self.read += len(frame)
        frame = frame[self.spec.columns]
        present = ~pd.concat([_missing(frame[c]) for c in self.spec.columns], axis=1).any(axis=1)
        frame = frame[present.to_numpy()]
        if not len(frame):
            return
        self.scored += len(frame)
        info = self.spec.info
        if info.needs_values and self.scored > self.max_rows:
            raise DataError(
                f"{info.name} keeps every value in memory and the events hold more than "
                f"{self.max_rows:,} rows with values (the bridge's KEPLER_SCORE_MAX_ROWS); "
                f"narrow the search's time range, sample it (| sample {self.max_rows}), or "
                "raise KEPLER_SCORE_MAX_ROWS",
                detail={"metric": info.name, "max_rows": self.max_rows},
            )
        numbers, labels = {}, {}
        for c in self.spec.columns:
            numbers[c], labels[c], is_number = _parse(frame[c])
            if not is_number.all():
                self.numeric[c] = False
                self.text.setdefault(c, str(labels[c][~is_number][0]))
        if info.family == CLASSIFICATION and not info.needs_values:
            self._count(labels)
        elif info.family == REGRESSION:
            self._require_numbers(self.spec.columns)
            for (a, b), m in zip(self.spec.pairs, self.moments, strict=True):
                m.add(numbers[a], numbers[b])
        else:
            for c in self.spec.columns:
                self.labels[c].append(labels[c])
                self.numbers[c].append(numbers[c])

    def answer(self) -> dict[str, Any]:
        """MLTK's output table for the batches added (see :func:`score_frames`)."""
        spec = self.spec
        self.check_kinds()
        if self.scored < max(1, spec.info.min_rows):
            raise _too_few(spec, self)
        columns, rows = tables.build(spec, self)
        return {
            "metric": spec.metric,
            "columns": columns,
            "rows": [{c: _plain(row.get(c)) for c in columns} for row in rows],
            "rows_read": self.read,
            "rows_scored": self.scored,
            "rows_dropped": self.read - self.scored,
            "notes": self.notes,
        }

    def _count(self, labels: dict[str, np.ndarray]) -> None:
        for c in self.spec.columns:
            self.classes[c].update(pd.unique(labels[c]))
            if len(self.classes[c]) > self.max_classes:
                raise DataError(
                    f"{_role(self.spec, c)} {c!r} holds more than {self.max_classes} distinct "
                    "values (the bridge's KEPLER_SCORE_MAX_CLASSES); classification metrics "
                    "compare classes: check that it is a label, not a number or an id",
                    detail={"field": c, "max_classes": self.max_classes},
                )
        for (a, b), counts in zip(self.spec.pairs, self.counts, strict=True):
            pairs = pd.DataFrame({"a": labels[a], "b": labels[b]}).value_counts(sort=False)
            for pair, n in pairs.items():
                entry: Any = pair  # a MultiIndex entry: (label, prediction)
                key = (str(entry[0]), str(entry[1]))
                counts[key] = counts.get(key, 0) + int(n)

    def _require_numbers(self, names: Iterable[str]) -> None:
        for c in names:
            if not self.numeric[c]:
                raise DataError(
                    f"{self.spec.metric} needs numbers, but {_role(self.spec, c)} {c!r} holds "
                    f"text such as {self.text[c]!r}; compare numeric fields (or use a "
                    "classification metric such as accuracy_score for labels)",
                    detail={"field": c, "example": self.text[c]},
                )

    def check_kinds(self) -> None:
        """After the last batch: the fields' types suit the metric."""
        info, spec = self.spec.info, self.spec
        if info.family == CLASSIFICATION and info.needs_values:
            self._require_numbers(b for _, b in spec.pairs)  # scores, not labels
        elif info.family == CLASSIFICATION:
            for a, b in spec.pairs:
                if self.numeric[a] != self.numeric[b] and self.classes[a] and self.classes[b]:
                    num, txt = (a, b) if self.numeric[a] else (b, a)
                    raise DataError(
                        f"{_role(spec, num)} {num!r} holds numbers but {_role(spec, txt)} "
                        f"{txt!r} holds text such as {self.text[txt]!r}; a label and its "
                        "prediction must be of one type: compare the label with the model's "
                        "own output field",
                        detail={"numbers": num, "text": txt},
                    )
        elif info.family != REGRESSION:
            self._require_numbers(spec.columns)

    def values(self, name: str) -> np.ndarray:
        return np.concatenate(self.numbers[name]) if self.numbers[name] else np.empty(0)

    def label_values(self, name: str) -> np.ndarray:
        parts = self.labels[name]
        return np.concatenate(parts) if parts else np.empty(0, dtype=object)


class _Moments:
    """Running sums for one (actual, predicted) pair: count, mean and squared deviations of
    the actual values and of the errors, the sums of absolute and squared errors."""

    def __init__(self) -> None:
        self.n = 0
        self.mean_y = self.m2_y = self.mean_d = self.m2_d = 0.0
        self.sae = self.sse = 0.0

    def add(self, y: np.ndarray, p: np.ndarray) -> None:
        d = y - p
        self.mean_y, self.m2_y = self._merge(self.mean_y, self.m2_y, y)
        self.mean_d, self.m2_d = self._merge(self.mean_d, self.m2_d, d)
        self.n += len(y)
        self.sae += float(np.abs(d).sum())
        self.sse += float(np.square(d).sum())

    def _merge(self, mean: float, m2: float, x: np.ndarray) -> tuple[float, float]:
        n_b = len(x)
        mean_b = float(x.mean())
        m2_b = float(np.square(x - mean_b).sum())
        total = self.n + n_b
        delta = mean_b - mean
        return mean + delta * n_b / total, m2 + m2_b + delta * delta * self.n * n_b / total


def _missing(series: pd.Series) -> pd.Series:
    if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        text = series.astype(str).str.strip()
        return series.isna() | (text == "")
    return series.isna()


def _parse(series: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A column as numbers (NaN where not one), as MLTK's labels, and where it is a number."""
    if pd.api.types.is_bool_dtype(series.dtype):
        labels = series.map({True: "True", False: "False"}).to_numpy(dtype=object)
        return np.full(len(series), np.nan), labels, np.zeros(len(series), dtype=bool)
    if pd.api.types.is_numeric_dtype(series.dtype):
        nums = series.to_numpy(dtype=np.float64)
        text = np.full(len(series), "", dtype=object)
    else:
        text = series.astype(str).str.strip().to_numpy(dtype=object)
        nums = pd.to_numeric(pd.Series(text), errors="coerce").to_numpy(dtype=np.float64)
    is_number = np.isfinite(nums)
    labels = text.copy()
    whole = is_number & (nums == np.floor(np.where(is_number, nums, 0))) & (np.abs(nums) < 2**53)
    labels[whole] = nums[whole].astype(np.int64).astype(str)
    fraction = is_number & ~whole
    labels[fraction] = nums[fraction].astype(str)
    return nums, labels, is_number


def _role(spec: ScoreSpec, name: str) -> str:
    if spec.info.family in (CLASSIFICATION, REGRESSION):
        return "label field" if name in spec.fields else "predicted field"
    return "field"


def _too_few(spec: ScoreSpec, acc: Accumulator) -> DataError:
    fields = ", ".join(repr(c) for c in spec.columns)
    need = max(1, spec.info.min_rows)
    return DataError(
        f"{spec.metric} needs at least {need} row{'s' if need > 1 else ''} with a value in "
        f"every one of {fields}; found {acc.scored} (of {acc.read} read)"
        + ("; too few for the test" if acc.scored else "; check the field names"),
        detail={"metric": spec.metric, "rows": acc.scored, "minimum": need},
    )


def _plain(value: Any) -> Any:
    """JSON-safe: numpy scalars as Python's, non-finite numbers as null."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
