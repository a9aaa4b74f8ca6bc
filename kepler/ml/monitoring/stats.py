"""Drift statistics computed from counts, never from the rows: Evidently's formulas on
histograms.

Each function takes a baseline's field profile and a window's (see
:mod:`kepler.ml.monitoring.profile`) and answers ``(statistic, drifted)`` as Evidently's
stat test of the same name does (its ``legacy.calculations.stattests``):

=============  ============================================  =================  ==========
method         statistic                                     drifted when       default
=============  ============================================  =================  ==========
ks             two-sample Kolmogorov-Smirnov p-value          p <= threshold     0.05
chi2           chi-squared p-value (expected: the baseline's  p < threshold      0.05
               shares times the window's count)
z              two-proportion z-test p-value (two values)     p < threshold      0.05
wasserstein    Wasserstein-1 distance / max(std then, 0.001)  d >= threshold     0.1
jensenshannon  Jensen-Shannon distance (natural log)          d >= threshold     0.1
psi            population stability index, empty bins         d >= threshold     0.1
               filled as Evidently fills them
=============  ============================================  =================  ==========

Where they are exact and where approximate:

- On categories (and numeric fields with at most ``EXACT_VALUES`` distinct values, held as
  exact counts) every statistic is exact: the same counts Evidently takes from the rows.
  A categorical baseline with more than ``TOP_K`` categories lumps the rest as "other".
- ``wasserstein`` on a many-valued numeric field: both distributions' CDFs at the
  baseline's quantile edges and each bin's mean give the area under each CDF within
  every bin exactly, hence the area between them wherever they do not cross inside a
  bin (in a crossing bin, the smaller side's area is taken from both CDFs as linear).
  The window's values beyond the baseline's
  [min, max] are exact too (their count and mean). Tolerance: 2% of the statistic or
  0.002, whichever is larger (``tests/ml/monitoring``).
- ``ks`` on such a field reads both CDFs at the edges only, so its D lies within one
  bin's share (baseline plus window: about 2/BINS for a window shaped like the
  baseline) below the rows' D; its
  p-value comes from ``scipy.stats.kstwo`` as ``ks_2samp``'s asymptotic method does.
- ``jensenshannon`` and ``psi`` on such a field compare shares in bins of equal baseline
  share (quantile bins merged to Sturges' count for both samples together; plus one bin
  each side for values beyond the baseline's range), where Evidently cuts the range of
  both samples into Sturges' count of equal widths: the same statistic on other bins, so
  the values differ (the decisions on clear drift agree).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

Profile = Mapping[str, Any]

OTHER = "(other)"


def _fill_zeros(p: np.ndarray) -> np.ndarray:
    """Evidently's ``get_binned_data(..., feel_zeroes=True)``: an empty bin gets 0.0001,
    or a millionth of the smallest share when that is 0.0001 or below."""
    nonzero = p[p != 0]
    if not len(nonzero):
        return p
    smallest = float(nonzero.min())
    return np.where(p == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001, p)


# -- categorical counts -----------------------------------------------------------------------


def category_counts(ref: Profile, cur: Profile) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The keys both sides have, with the baseline's and the window's counts on each.

    Numeric fields with exact values count by value. Categories: the baseline's top ones;
    values of the window the baseline never had count one by one when the baseline kept
    all its categories, else they join the baseline's "other".
    """
    if "values" in ref and "values" in cur:
        values = sorted(set(ref["values"]) | set(cur["values"]), key=float)
        return (
            values,
            np.array([ref["values"].get(k, 0) for k in values], dtype=float),
            np.array([cur["values"].get(k, 0) for k in values], dtype=float),
        )
    ref_top = {str(k): n for k, n in ref.get("top") or []}
    cur_top = {str(k): n for k, n in cur.get("top") or []}
    keys = list(ref_top)
    r = [float(ref_top[k]) for k in keys]
    c = [float(cur_top.get(k, 0)) for k in keys]
    ref_other, cur_other = int(ref.get("other") or 0), int(cur.get("other") or 0)
    if ref_other == 0:
        unseen = {str(k): n for k, n in (cur.get("unseen") or {}).items() if str(k) not in ref_top}
        for k, n in unseen.items():
            keys.append(k)
            r.append(0.0)
            c.append(float(n))
        cur_other -= sum(unseen.values())
    if ref_other or cur_other:
        keys.append(OTHER)
        r.append(float(ref_other))
        c.append(float(cur_other))
    r_arr, c_arr = np.array(r), np.array(c)
    seen = (r_arr > 0) | (c_arr > 0)  # Evidently's keys: values present on either side
    return [k for k, s in zip(keys, seen, strict=True) if s], r_arr[seen], c_arr[seen]


def chi2(r: np.ndarray, c: np.ndarray, threshold: float) -> tuple[float, bool]:
    from scipy.stats import chi2 as chi2_dist

    if len(r) <= 1:
        return 1.0, False
    expected = r * (c.sum() / r.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(expected > 0, (c - expected) ** 2 / expected, np.where(c > 0, np.inf, 0))
    p = float(chi2_dist.sf(float(terms.sum()), len(r) - 1))
    return p, p < threshold


def z_test(r: np.ndarray, c: np.ndarray, threshold: float) -> tuple[float, bool]:
    """Evidently's z-test of two proportions (``keys``: at most two, sorted)."""
    from scipy.stats import norm

    n1, n2 = r.sum(), c.sum()
    if len(r) <= 1:
        return 1.0, False
    p1, p2 = 1 - r[0] / n1, 1 - c[0] / n2  # share of the second value
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p = float(2 * (1 - norm.cdf(abs(z))))
    return p, p < threshold


def jensenshannon(r: np.ndarray, c: np.ndarray, threshold: float) -> tuple[float, bool]:
    from scipy.spatial import distance

    d = float(distance.jensenshannon(r / r.sum(), c / c.sum()))
    return d, d >= threshold


def psi(r: np.ndarray, c: np.ndarray, threshold: float) -> tuple[float, bool]:
    pr, pc = _fill_zeros(r / r.sum()), _fill_zeros(c / c.sum())
    d = float(np.sum((pr - pc) * np.log(pr / pc)))
    return d, d >= threshold


# -- numeric histograms ---------------------------------------------------------------------


def binned_counts(ref: Profile, cur: Profile) -> tuple[np.ndarray, np.ndarray]:
    """Counts on the baseline's bins merged into as many groups of equal baseline share
    as Sturges' rule gives both samples together (Evidently's bin count), with one bin
    below and one above the baseline's range."""
    r_fine = np.asarray(ref["counts"], float)
    c_fine = np.asarray(cur["counts"], float)
    n = float(ref["count"]) + float(cur["count"])
    groups = min(len(r_fine), math.ceil(math.log2(max(n, 2.0))) + 1)
    cuts = np.searchsorted(np.cumsum(r_fine) / r_fine.sum(), np.arange(1, groups) / groups)
    label = np.searchsorted(np.unique(cuts), np.arange(len(r_fine)), side="left")
    r = np.bincount(label, r_fine)
    c = np.bincount(label, c_fine, minlength=len(r))
    return (
        np.concatenate([[0.0], r, [0.0]]),
        np.concatenate([[cur["below"]], c, [cur["above"]]]),
    )


def _cdfs_at_edges(ref: Profile, cur: Profile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both CDFs at the baseline's edges (just before each; after the last)."""
    edges = np.asarray(ref["edges"], float)
    r = np.asarray(ref["counts"], float)
    c = np.asarray(cur["counts"], float)
    n_r, n_c = r.sum(), float(cur["count"])
    f_r = np.concatenate([[0.0], np.cumsum(r)]) / n_r
    f_c = (cur["below"] + np.concatenate([[0.0], np.cumsum(c)])) / n_c
    return edges, f_r, f_c


def _exact_cdfs(ref: Profile, cur: Profile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    keys, r, c = category_counts(ref, cur)
    points = np.array([float(k) for k in keys])
    return points, np.cumsum(r) / r.sum(), np.cumsum(c) / c.sum()


def _tail_area(profile: Profile, edges: np.ndarray, n: float) -> np.ndarray:
    """Per bin, share × (bin end - bin mean): the part of ∫F over the bin that the
    bin's own values add (its midpoint where a bin has no mean)."""
    counts = np.asarray(profile["counts"], float)
    means = profile.get("means") or [None] * len(counts)
    middle = (edges[:-1] + edges[1:]) / 2
    m = np.array([middle[i] if v is None else v for i, v in enumerate(means)], dtype=float)
    out: np.ndarray = counts / n * (edges[1:] - m)
    return out


def _minority_area(d0: np.ndarray, d1: np.ndarray) -> np.ndarray:
    """Between two lines that cross, the smaller of the two triangles' areas (per unit
    width): ``min(d0², d1²) / (2 (|d0| + |d1|))``."""
    total = np.abs(d0) + np.abs(d1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out: np.ndarray = np.where(total > 0, np.minimum(d0 * d0, d1 * d1) / (2 * total), 0.0)
    return out


def wasserstein(ref: Profile, cur: Profile, threshold: float) -> tuple[float, bool]:
    norm = max(float(ref.get("std") or 0.0), 0.001)
    if "values" in ref and "values" in cur:
        points, f_r, f_c = _exact_cdfs(ref, cur)
        area = float(np.sum(np.abs(f_r - f_c)[:-1] * np.diff(points)))
    else:
        edges, f_r, f_c = _cdfs_at_edges(ref, cur)
        d = f_r - f_c
        width = np.diff(edges)
        # Within a bin, ∫F = F(start)·width + share·(end - the bin's mean): exact, so
        # where F_r - F_c keeps its sign the area between them is exact too.
        signed = (
            d[:-1] * width
            + _tail_area(ref, edges, float(ref["count"]))
            - _tail_area(cur, edges, float(cur["count"]))
        )
        # Where the CDFs cross inside a bin, the area is the signed integral plus twice the
        # smaller side's, which is taken from both CDFs as linear there: a crossing just
        # inside a wide tail bin (one window value below the baseline's minimum) then adds
        # next to nothing, as it should.
        crossing = np.sign(d[:-1]) * np.sign(d[1:]) < 0
        minority = width * _minority_area(d[:-1], d[1:])
        area = float(np.sum(np.abs(signed) + np.where(crossing, 2 * minority, 0.0)))
        n_c = float(cur["count"])
        if cur["below"]:
            area += cur["below"] / n_c * (edges[0] - cur["below_mean"])
        if cur["above"]:
            area += cur["above"] / n_c * (cur["above_mean"] - edges[-1])
    d_norm = area / norm
    return d_norm, d_norm >= threshold


def ks_statistic(ref: Profile, cur: Profile) -> float:
    if "values" in ref and "values" in cur:
        _, f_r, f_c = _exact_cdfs(ref, cur)
        return float(np.max(np.abs(f_r - f_c)))
    _, f_r, f_c = _cdfs_at_edges(ref, cur)
    return float(np.max(np.abs(f_r - f_c)))


def ks(ref: Profile, cur: Profile, threshold: float) -> tuple[float, bool]:
    from scipy.stats import kstwo

    d = ks_statistic(ref, cur)
    n, m = float(ref["count"]), float(cur["count"])
    p = float(kstwo.sf(d, round(n * m / (n + m))))
    p = min(max(p, 0.0), 1.0)
    return p, p <= threshold
