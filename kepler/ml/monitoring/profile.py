"""Bounded-size profiles of a table, built streaming: a version's baseline and a window.

A **profile** describes each field of a table in a fixed amount of JSON, however many rows
it has seen:

- a numeric field: count, nulls, mean, std (population, ``ddof=0`` as Evidently divides
  by), min, max, and counts over at most ``bins`` bins whose edges are quantiles of a
  uniform sample (bottom-k of random keys, ``sample`` values at most); where the field
  holds few distinct values (``EXACT_VALUES`` or fewer) also the exact count of each;
- a categorical field: count, nulls, the ``top_k`` most frequent values with their counts
  and the count of all others (``other``). Values are counted exactly up to
  ``MAX_TRACKED`` distinct ones; later newcomers only add to ``other``.

:func:`profile_batches` reads its batches twice (once for moments, the sample and the
categories, once to count the bins on the sample's edges), so it takes a function that
opens them: Parquet parts, Arrow record batches or DataFrame slices. Its state is a few
arrays of fixed size per field, never the rows (``tests/ml/monitoring`` holds it to that).

A **window** (:class:`WindowCounter`) is counted on a baseline's own edges and categories
(plus what falls outside them: below the minimum, above the maximum, unseen categories),
so that drift compares histograms, never copies of the data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from kepler.ml import frames

NUMERIC = frames.NUMERIC
CATEGORICAL = frames.CATEGORICAL

BINS = 64  # quantile bins per numeric field
TOP_K = 50  # categories kept per categorical field
SAMPLE = 16_384  # values sampled per numeric field to place the edges
EXACT_VALUES = 20  # a numeric field with this many distinct values or fewer keeps each
MAX_TRACKED = 10_000  # distinct categories counted exactly while profiling
WINDOW_NEW = 32  # distinct unseen values a window keeps per field (numeric, exact fields)
SLICE_ROWS = 262_144  # rows per slice when a DataFrame is profiled

Batch = Any  # a pandas DataFrame, a pyarrow RecordBatch or Table
OpenBatches = Callable[[], Iterable[Batch]]


def column(batch: Batch, name: str) -> pd.Series | None:
    """Field ``name`` of ``batch`` as a pandas Series, or None when the batch lacks it."""
    if isinstance(batch, pd.DataFrame):
        return batch[name] if name in batch.columns else None
    names = list(batch.schema.names)
    if name not in names:
        return None
    out: pd.Series = batch.column(names.index(name)).to_pandas()
    return out


def numbers(col: pd.Series | None, n_rows: int) -> np.ndarray:
    if col is None:
        return np.full(n_rows, np.nan)
    return frames.numeric_values(col)


def labels(col: pd.Series | None, n_rows: int) -> np.ndarray:
    if col is None:
        return np.full(n_rows, np.nan, dtype=object)
    return frames.categorical_values(col)


def _rows(batch: Batch) -> int:
    return len(batch) if isinstance(batch, pd.DataFrame) else int(batch.num_rows)


def value_key(value: float) -> str:
    """A numeric value as a JSON object key (``repr`` round-trips a float exactly)."""
    return repr(float(value))


class _Numeric:
    """Pass 1: moments (Chan's parallel update), min/max, a bounded sample and up to
    ``EXACT_VALUES`` distinct values; pass 2: bin counts on the sample's edges."""

    def __init__(self, rng: np.random.Generator, sample: int) -> None:
        self.rng, self.size = rng, sample
        self.n = self.nulls = 0
        self.mean = self.m2 = 0.0
        self.lo, self.hi = math.inf, -math.inf
        self.keys = np.empty(0)  # random priorities of the sampled values
        self.sample = np.empty(0)
        self.exact: dict[float, int] | None = {}
        self.edges: np.ndarray | None = None
        self.counts: np.ndarray | None = None
        self.sums: np.ndarray | None = None

    def first(self, values: np.ndarray) -> None:
        present = values[~np.isnan(values)]
        self.nulls += len(values) - len(present)
        m = len(present)
        if m == 0:
            return
        mean, m2 = float(present.mean()), float(((present - present.mean()) ** 2).sum())
        n = self.n + m
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.n * m / n
        self.mean += delta * m / n
        self.n = n
        self.lo, self.hi = min(self.lo, float(present.min())), max(self.hi, float(present.max()))
        keys = self.rng.random(m)
        if m > self.size:
            keep = np.argpartition(keys, self.size)[: self.size]
            keys, present_kept = keys[keep], present[keep]
        else:
            present_kept = present
        keys = np.concatenate([self.keys, keys])
        sample = np.concatenate([self.sample, present_kept])
        if len(keys) > self.size:
            keep = np.argpartition(keys, self.size)[: self.size]
            keys, sample = keys[keep], sample[keep]
        self.keys, self.sample = keys, sample
        if self.exact is not None:
            distinct, counts = np.unique(present, return_counts=True)
            if len(distinct) > EXACT_VALUES:
                self.exact = None
            else:
                for v, c in zip(distinct.tolist(), counts.tolist(), strict=True):
                    self.exact[v] = self.exact.get(v, 0) + c
                if len(self.exact) > EXACT_VALUES:
                    self.exact = None

    def place_edges(self, bins: int) -> None:
        if self.n == 0:
            self.edges = np.empty(0)
            self.counts = np.empty(0, dtype=np.int64)
            self.sums = np.empty(0)
            return
        levels = np.linspace(0, 1, bins + 1)[1:-1]
        inner = np.quantile(self.sample, levels) if len(levels) else np.empty(0)
        edges = np.unique(np.concatenate([[self.lo], inner, [self.hi]]))
        if len(edges) == 1:  # a constant: one bin of width zero
            edges = np.array([self.lo, self.hi])
        self.edges = edges
        self.counts = np.zeros(len(edges) - 1, dtype=np.int64)
        self.sums = np.zeros(len(edges) - 1)
        self.keys = self.sample = np.empty(0)  # the sample's work is done

    def second(self, values: np.ndarray) -> None:
        assert self.edges is not None and self.counts is not None and self.sums is not None
        present = values[~np.isnan(values)]
        if len(present) and len(self.counts):
            counts, sums = bin_counts(present, self.edges)
            self.counts += counts
            self.sums += sums

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": NUMERIC,
            "count": self.n,
            "nulls": self.nulls,
            "mean": self.mean if self.n else None,
            "std": math.sqrt(self.m2 / self.n) if self.n else None,
            "min": self.lo if self.n else None,
            "max": self.hi if self.n else None,
            "edges": [] if self.edges is None else self.edges.tolist(),
            "counts": [] if self.counts is None else self.counts.tolist(),
            "means": bin_means(self.counts, self.sums),
        }
        if self.exact is not None and self.n:
            out["values"] = {value_key(v): c for v, c in sorted(self.exact.items())}
        return out


def bin_counts(present: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts and sums of ``present`` (no NaN, all within the edges) in ``[e_i, e_i+1)``
    bins, the last bin closed: one binary search per value, no copy of the data kept."""
    where = np.searchsorted(edges[1:-1], present, side="right")
    size = len(edges) - 1
    return np.bincount(where, minlength=size), np.bincount(where, present, minlength=size)


def bin_means(counts: np.ndarray | None, sums: np.ndarray | None) -> list[float | None]:
    """The mean of each bin's values (None where empty): with it the area under a CDF
    within a bin is exact, which Wasserstein's distance is made of."""
    if counts is None or sums is None:
        return []
    return [
        float(s / c) if c else None for c, s in zip(counts.tolist(), sums.tolist(), strict=True)
    ]


class _Categorical:
    def __init__(self) -> None:
        self.n = self.nulls = self.overflow = 0
        self.counts: dict[str, int] = {}

    def first(self, values: np.ndarray) -> None:
        series = pd.Series(values, dtype=object)
        counted = series.value_counts(dropna=True)
        self.nulls += len(values) - int(counted.sum())
        self.n += int(counted.sum())
        counts = self.counts
        for key, c in zip(counted.index.tolist(), counted.tolist(), strict=True):
            key = str(key)
            if key in counts:
                counts[key] += c
            elif len(counts) < MAX_TRACKED:
                counts[key] = c
            else:
                self.overflow += c

    def result(self, top_k: int) -> dict[str, Any]:
        ranked = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        top = ranked[:top_k]
        other = self.n - sum(c for _, c in top)
        return {
            "type": CATEGORICAL,
            "count": self.n,
            "nulls": self.nulls,
            "distinct": len(self.counts) + (1 if self.overflow else 0),
            "distinct_capped": bool(self.overflow),
            "top": [[k, c] for k, c in top],
            "other": other,
        }


def profile_batches(
    open_batches: OpenBatches,
    field_types: Mapping[str, str],
    *,
    bins: int = BINS,
    top_k: int = TOP_K,
    sample: int = SAMPLE,
    seed: int = 0,
) -> dict[str, Any]:
    """``{"rows": n, "fields": {name: profile}}`` of the batches ``open_batches()`` yields
    (called twice), each field read as ``field_types`` says (``numeric``/``categorical``).
    A field absent from a batch counts as missing in its rows."""
    rng = np.random.default_rng(seed)
    numeric = {n: _Numeric(rng, sample) for n, t in field_types.items() if t == NUMERIC}
    categorical = {n: _Categorical() for n, t in field_types.items() if t != NUMERIC}
    rows = 0
    for batch in open_batches():
        n_rows = _rows(batch)
        rows += n_rows
        for name, state in numeric.items():
            state.first(numbers(column(batch, name), n_rows))
        for name, cat in categorical.items():
            cat.first(labels(column(batch, name), n_rows))
    for state in numeric.values():
        state.place_edges(bins)
    if numeric:
        for batch in open_batches():
            n_rows = _rows(batch)
            for name, state in numeric.items():
                state.second(numbers(column(batch, name), n_rows))
    fields: dict[str, Any] = {}
    for name in field_types:
        fields[name] = (
            numeric[name].result() if name in numeric else categorical[name].result(top_k)
        )
    return {"rows": rows, "fields": fields}


def frame_slices(frame: pd.DataFrame, rows: int = SLICE_ROWS) -> OpenBatches:
    """A DataFrame as :func:`profile_batches` reads it: slices of ``rows`` rows (views)."""

    def open_batches() -> Iterable[pd.DataFrame]:
        for start in range(0, max(len(frame), 1), rows):
            yield frame.iloc[start : start + rows]

    return open_batches


def profile_frame(frame: pd.DataFrame, field_types: Mapping[str, str], **kw: Any) -> dict[str, Any]:
    return profile_batches(frame_slices(frame), field_types, **kw)


# -- a window, counted on a baseline's bins -------------------------------------------------


class _WindowNumeric:
    def __init__(self, profile: Mapping[str, Any]) -> None:
        self.edges = np.asarray(profile.get("edges") or [], dtype=float)
        self.counts = np.zeros(max(len(self.edges) - 1, 0), dtype=np.int64)
        self.sums = np.zeros(len(self.counts))
        self.n = self.nulls = self.below = self.above = 0
        self.below_sum = self.above_sum = 0.0
        known = profile.get("values")
        self.exact: dict[float, int] | None = (
            {float(k): 0 for k in known} if isinstance(known, dict) else None
        )
        self.new = 0  # distinct values seen that the baseline's exact values lack

    def add(self, values: np.ndarray) -> None:
        present = values[~np.isnan(values)]
        self.nulls += len(values) - len(present)
        self.n += len(present)
        if not len(present) or not len(self.edges):
            return
        lo, hi = self.edges[0], self.edges[-1]
        below, above = present < lo, present > hi
        if below.any():
            self.below += int(below.sum())
            self.below_sum += float(present[below].sum())
        if above.any():
            self.above += int(above.sum())
            self.above_sum += float(present[above].sum())
        inside = present[~(below | above)] if (below.any() or above.any()) else present
        counts, sums = bin_counts(inside, self.edges)
        self.counts += counts
        self.sums += sums
        if self.exact is not None:
            distinct, counts = np.unique(present, return_counts=True)
            for v, c in zip(distinct.tolist(), counts.tolist(), strict=True):
                if v in self.exact:
                    self.exact[v] += c
                elif self.new < WINDOW_NEW:
                    self.exact[v] = c
                    self.new += 1
                else:  # too many unseen values to count each: drop the exact counts
                    self.exact = None
                    break

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": NUMERIC,
            "count": self.n,
            "nulls": self.nulls,
            "counts": self.counts.tolist(),
            "means": bin_means(self.counts, self.sums),
            "below": self.below,
            "above": self.above,
            "below_mean": self.below_sum / self.below if self.below else None,
            "above_mean": self.above_sum / self.above if self.above else None,
        }
        if self.exact is not None:
            out["values"] = {value_key(v): c for v, c in sorted(self.exact.items())}
        return out


class _WindowCategorical:
    def __init__(self, profile: Mapping[str, Any]) -> None:
        self.top = {str(k): 0 for k, _ in profile.get("top") or []}
        self.n = self.nulls = self.other = 0
        self.unseen: dict[str, int] = {}  # the first WINDOW_NEW values outside the top

    def add(self, values: np.ndarray) -> None:
        counted = pd.Series(values, dtype=object).value_counts(dropna=True)
        total = int(counted.sum())
        self.nulls += len(values) - total
        self.n += total
        for key, c in zip(counted.index.tolist(), counted.tolist(), strict=True):
            key = str(key)
            if key in self.top:
                self.top[key] += c
            else:
                self.other += c
                if key in self.unseen or len(self.unseen) < WINDOW_NEW:
                    self.unseen[key] = self.unseen.get(key, 0) + c

    def result(self) -> dict[str, Any]:
        return {
            "type": CATEGORICAL,
            "count": self.n,
            "nulls": self.nulls,
            "top": [[k, c] for k, c in self.top.items()],
            "other": self.other,
            "unseen": dict(self.unseen),
        }


class WindowCounter:
    """Counts a window's batches on the bins and categories of ``fields`` (a baseline's
    field profiles): fixed-size state, one pass. Fields absent from every batch are
    reported as such by :meth:`result`."""

    def __init__(self, fields: Mapping[str, Mapping[str, Any]]) -> None:
        self.fields = fields
        self.states: dict[str, _WindowNumeric | _WindowCategorical] = {
            name: _WindowNumeric(p) if p.get("type") == NUMERIC else _WindowCategorical(p)
            for name, p in fields.items()
        }
        self.seen: set[str] = set()
        self.rows = 0

    def add(self, batch: Batch) -> None:
        n_rows = _rows(batch)
        self.rows += n_rows
        for name, state in self.states.items():
            col = column(batch, name)
            if col is not None:
                self.seen.add(name)
            if isinstance(state, _WindowNumeric):
                state.add(numbers(col, n_rows))
            else:
                state.add(labels(col, n_rows))

    def result(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "fields": {n: s.result() for n, s in self.states.items()},
            "absent": sorted(set(self.states) - self.seen),
        }
