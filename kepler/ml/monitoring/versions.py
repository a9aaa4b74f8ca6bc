"""Drift between two versions' baselines: the second version's training profile read as a
window on the first's bins, then tested as :func:`~kepler.ml.monitoring.drift.drift` tests
any window (``compare`` shows it).

Numbers: the second profile's histogram, taken as uniform within each of its bins, is
re-counted on the first's edges (values beyond the first's range go to ``below`` and
``above``); fields with exact values on both sides compare value by value, exactly.
Categories: the second's top categories on the first's, the rest as "other".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from kepler.ml.monitoring.drift import drift
from kepler.ml.monitoring.profile import NUMERIC


def baseline_drift(first: Mapping[str, Any], second: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One drift row per field of ``first`` (features, then outputs): ``second``'s
    training data against ``first``'s, method chosen as ``drift`` chooses it."""
    theirs = {**(second.get("fields") or {}), **(second.get("outputs") or {})}
    ours = {**(first.get("fields") or {}), **(first.get("outputs") or {})}
    window = {
        "rows": int(second.get("rows") or 0),
        "fields": {n: as_window(p, theirs[n]) for n, p in ours.items() if n in theirs},
        "absent": [n for n in ours if n not in theirs],
    }
    return drift(first, window)


def as_window(ref: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    """``other`` (a baseline's field profile) as a window counted on ``ref``'s bins."""
    if ref.get("type") != NUMERIC or other.get("type") != NUMERIC:
        return _categories(ref, other)
    return _numbers(ref, other)


def _numbers(ref: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    n = int(other.get("count") or 0)
    edges = np.asarray(ref.get("edges") or [], dtype=float)
    out: dict[str, Any] = {
        "type": NUMERIC,
        "count": n,
        "nulls": int(other.get("nulls") or 0),
        "counts": [0.0] * max(len(edges) - 1, 0),
        "means": [None] * max(len(edges) - 1, 0),
        "below": 0.0,
        "above": 0.0,
        "below_mean": None,
        "above_mean": None,
    }
    if isinstance(other.get("values"), dict):
        out["values"] = dict(other["values"])
    theirs = np.asarray(other.get("edges") or [], dtype=float)
    if not n or len(edges) < 2 or len(theirs) < 2:
        return out
    cum = np.concatenate([[0.0], np.cumsum(np.asarray(other["counts"], dtype=float))])
    share = np.interp(edges, theirs, cum / cum[-1]) if cum[-1] else np.zeros(len(edges))
    out["counts"] = (np.diff(share) * n).tolist()
    out["below"], out["above"] = float(share[0] * n), float((1.0 - share[-1]) * n)
    if out["below"]:
        out["below_mean"] = (float(theirs[0]) + float(min(edges[0], theirs[-1]))) / 2
    if out["above"]:
        out["above_mean"] = (float(max(edges[-1], theirs[0])) + float(theirs[-1])) / 2
    return out


def _categories(ref: Mapping[str, Any], other: Mapping[str, Any]) -> dict[str, Any]:
    theirs = {str(k): int(c) for k, c in other.get("top") or []}
    keys = [str(k) for k, _ in ref.get("top") or []]
    top = [(k, theirs.get(k, 0)) for k in keys]
    n = int(other.get("count") or 0)
    return {
        "type": other.get("type"),
        "count": n,
        "nulls": int(other.get("nulls") or 0),
        "top": [[k, c] for k, c in top],
        "other": n - sum(c for _, c in top),
        "unseen": {k: c for k, c in theirs.items() if k not in keys},
    }
