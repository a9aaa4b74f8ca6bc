"""MLTK's ``DensityFunction``: one fitted distribution per group, events in its tails are outliers.

The estimator sees the raw fields (its pipeline has no one-hot step): column 0 holds the
value, any further columns the ``by`` fields, whose values joined with ``,`` name the group.
Each group gets its own distribution, chosen as MLTK's ``dist=`` says:

* ``norm``, ``expon``, ``beta`` (scipy.stats, fitted by maximum likelihood; beta on the
  group's range), ``gaussian_kde`` (scipy.stats.gaussian_kde, Scott's bandwidth);
* ``auto``: ``norm``, ``expon`` and ``gaussian_kde`` are fitted and the one nearest to the
  data in Wasserstein-1 distance wins (``metric=kolmogorov_smirnov``: in the
  Kolmogorov-Smirnov statistic, MLTK's other metric). The KDE follows every sample
  wiggle, so it must beat the best parametric fit by :data:`KDE_MARGIN` times to be
  chosen: a normal sample keeps ``norm``. ``beta`` is used only when named.

``threshold`` is the share of the distribution's area called outlying: split evenly between
both tails, except ``expon`` whose lower tail starts at its minimum, so all of it goes to the
upper tail, and ``gaussian_kde``, whose outlier region is MLTK's level set (the values of
least density, :func:`kde_level_set`: a valley between two modes as well as the ends).
``lower_threshold`` / ``upper_threshold`` set each tail's area on their own (``expon``
ignores its lower one, as MLTK does, with MLTK's warning at fit).
Each takes several values (MLTK's ``threshold="0.01,0.005"``; its rules are
:func:`kepler.core.density.outlier_thresholds`), one verdict per value. The parameter holds
a float for one value and a tuple of floats for several: both are plain values, so
``get_params``/``clone`` and the catalog's ``floats`` kind keep them as given, and a model
fitted before several were possible reads the same. The boundaries are quantiles (the
KDE's level from its grid), so ``apply`` can move them (:meth:`score_events` with a new
rule) without refitting. An event whose group was not seen at fit, or whose value is
missing, gets no verdict: its outputs are empty.

``BoundaryRanges`` is MLTK's text of the outlier ranges, one ``<lower>:<upper>:<area>`` line
per range, bounds rounded to :data:`NUMERIC_PRECISION` decimals and ``-Infinity`` /
``Infinity`` for the open ends; the area is each tail's share (``threshold/2`` per tail of
``norm``, all of it above ``expon``), rounded like the bounds for ``gaussian_kde`` as MLTK
rounds its integrated areas.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted

from kepler.core.density import (
    Thresholds,
    outlier_thresholds,
    show_option_names,
)
from kepler.core.errors import BadParameter, DataError

DISTS = ("auto", "norm", "expon", "gaussian_kde", "beta")
# How auto compares the candidates with the data, MLTK's two (its DensityFunction.py).
METRICS = ("wasserstein", "kolmogorov_smirnov")
AUTO_CANDIDATES = ("norm", "expon", "gaussian_kde")
KDE_MARGIN = 2.0
MAX_GROUPS = 10_000
MIN_GROUP_ROWS = 2
_KDE_GRID = 2048
_OTHER_KEY = ""  # the one group when there is no `by`
NUMERIC_PRECISION = 4  # MLTK's, for BoundaryRanges


@dataclass
class FittedDist:
    """One group's distribution: its name, parameters and a quantile function."""

    name: str
    params: dict[str, float]
    n: int
    distance: dict[str, float] = field(default_factory=dict)  # auto's candidates
    kde: Any = None  # scipy gaussian_kde, for gaussian_kde
    grid: Any = None  # (x, cdf) on a grid, gaussian_kde's quantile function
    # MLTK's summary: the data's min and max, the fit's distance to the data by `metric`.
    low: float | None = None
    high: float | None = None
    metric: str = "wasserstein"
    fit_distance: float | None = None

    def pdf(self, x: np.ndarray) -> np.ndarray:
        if self.name == "gaussian_kde":
            return np.asarray(self.kde(x), dtype=np.float64)
        return np.asarray(_frozen(self).pdf(x), dtype=np.float64)

    def ppf(self, q: np.ndarray | float) -> np.ndarray:
        q = np.asarray(q, dtype=np.float64)
        if self.name == "gaussian_kde":
            xs, cdf = self.grid
            out = np.interp(q, cdf, xs)
            return np.where(q <= 0, -np.inf, np.where(q >= 1, np.inf, out))
        return np.asarray(_frozen(self).ppf(q), dtype=np.float64)

    def cdf(self, x: float) -> float:
        if self.name == "gaussian_kde":
            xs, cdf = self.grid
            return float(np.interp(x, xs, cdf))
        return float(_frozen(self).cdf(x))


def _frozen(d: FittedDist) -> Any:
    from scipy import stats

    return getattr(stats, d.name)(**d.params)


def tails(
    dist: str, threshold: float, lower: float | None, upper: float | None
) -> tuple[float, float]:
    """The (lower, upper) tail areas called outlying for ``dist``. ``expon`` has an
    upper tail only: its ``lower_threshold`` is ignored, as MLTK ignores it (with the
    warning :data:`EXPON_LOWER` at fit)."""
    if lower is not None or upper is not None:
        return (0.0 if dist == "expon" else float(lower or 0.0)), float(upper or 0.0)
    if dist == "expon":
        return 0.0, float(threshold)
    return threshold / 2.0, threshold / 2.0


# MLTK's DensityFunction warns so (its _warn_on_dist_name_mismatches_threshold).
EXPON_LOWER = (
    "Exponential Distribution type can have an outlier region only at the right tail. "
    'Ignoring "lower_threshold" value for Exponential distribution.'
)


def kde_level_set(d: FittedDist, threshold: float) -> np.ndarray:
    """MLTK's outlier region of a Gaussian KDE for ``threshold`` (its
    ``KDEDistribution._find_anomaly_ranges``): the values whose density lies below the
    level at which the area under those densities is ``threshold``, so a valley between
    two modes is outlying as well as the tails. Answered as a mask over the cells of the
    KDE's grid (the cells of least density first, as many as fit in ``threshold``)."""
    xs, cdf = d.grid
    area = np.diff(cdf)
    density = area / np.diff(xs)
    order = np.argsort(density, kind="stable")
    taken = int(np.searchsorted(np.cumsum(area[order]), threshold, side="right"))
    mask = np.zeros(len(area), dtype=bool)
    mask[order[:taken]] = True
    return mask


def _mask_ranges(d: FittedDist, mask: np.ndarray) -> list[tuple[float, float, float]]:
    """The runs of ``mask``'s cells as ``(start, end, area)``; a run at the grid's edge is
    open to -inf / inf, as MLTK opens its first and last ranges."""
    xs, cdf = d.grid
    area = np.diff(cdf)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    out = []
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        lo = -np.inf if start == 0 else float(xs[start])
        hi = np.inf if stop == len(mask) else float(xs[stop])
        out.append((lo, hi, round(float(area[start:stop].sum()), NUMERIC_PRECISION)))
    return out


def _level_set_rule(d: FittedDist, rule: tuple[float | None, float | None, float | None]) -> bool:
    """Whether ``rule`` on ``d`` is a KDE's level set (``threshold=``), not tails."""
    threshold, lower, upper = rule
    return d.name == "gaussian_kde" and lower is None and upper is None and bool(threshold)


def range_text(ranges: list[tuple[float, float, float]]) -> str:
    """MLTK's BoundaryRanges text: ``<lower>:<upper>:<area>`` lines joined by ``\\n``."""
    return "\n".join(f"{_bound(lo)}:{_bound(hi)}:{area}" for lo, hi, area in ranges)


def _bound(x: float) -> str:
    if np.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return str(round(float(x), NUMERIC_PRECISION))


class DensityFunction(OutlierMixin, BaseEstimator):
    """Per-group density estimation with tail thresholds; ``predict`` answers -1 / 1 by
    the first threshold."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "dist": [set(DISTS)],
        "threshold": [float, tuple, str],  # one, several, or MLTK's "0.01,0.005"
        "lower_threshold": [float, tuple, str, None],
        "upper_threshold": [float, tuple, str, None],
        "metric": [set(METRICS)],
        "show_density": ["boolean"],
        "sample": ["boolean"],
        "full_sample": ["boolean"],
        "show_options": [str, None],
        "max_groups": [int],
        "random_state": [int, None],
    }
    kepler_raw_features = True  # the pipeline hands the fields over unencoded

    def __init__(
        self,
        dist: str = "auto",
        threshold: float | tuple[float, ...] | str = 0.01,
        lower_threshold: float | tuple[float, ...] | str | None = None,
        upper_threshold: float | tuple[float, ...] | str | None = None,
        metric: str = "wasserstein",
        show_density: bool = False,
        sample: bool = False,
        full_sample: bool = False,
        show_options: str | None = None,
        max_groups: int = 1024,
        random_state: int | None = None,
    ) -> None:
        self.dist = dist
        self.threshold = threshold
        self.lower_threshold = lower_threshold
        self.upper_threshold = upper_threshold
        self.metric = metric
        self.show_density = show_density
        self.sample = sample
        self.full_sample = full_sample
        self.show_options = show_options
        self.max_groups = max_groups
        self.random_state = random_state

    def fitted_rule(self) -> Thresholds:
        """The outlier rule the parameters say (MLTK's rules checked): with a tail's own
        threshold given, ``threshold`` (its default included) steps aside."""
        tails_given = self.lower_threshold is not None or self.upper_threshold is not None
        if tails_given and _floats_equal(self.threshold, 0.01):
            rule = outlier_thresholds(None, self.lower_threshold, self.upper_threshold)
        else:
            rule = outlier_thresholds(self.threshold, self.lower_threshold, self.upper_threshold)
        return rule or Thresholds()

    def fit(self, X: Any, y: Any = None) -> DensityFunction:
        if self.dist not in DISTS:
            raise BadParameter(
                f"dist={self.dist!r} is not one of {', '.join(DISTS)}",
                detail={"parameter": "dist"},
            )
        self.fitted_rule()
        if self.show_options is not None:
            show_option_names(self.show_options)
        values, keys = _split(X)
        present = ~np.isnan(values)
        groups = pd.Series(values[present]).groupby(keys[present], sort=True)
        if groups.ngroups > self.max_groups:
            raise DataError(
                f"DensityFunction found {groups.ngroups:,} groups in the `by` fields, more "
                f"than max_groups={self.max_groups:,}; group by fewer or coarser fields, "
                f"or raise max_groups (at most {MAX_GROUPS:,})"
            )
        if groups.ngroups == 0:
            raise DataError("DensityFunction needs numeric values; the field has none")
        fitted: dict[str, FittedDist] = {}
        for key, vals in groups:
            fitted[str(key)] = fit_one(
                np.asarray(vals, dtype=np.float64), self.dist, str(key), self.metric
            )
        lowers = any(rule[1] for rule in self.fitted_rule().rules())
        if lowers and any(d.name == "expon" for d in fitted.values()):
            warnings.warn(EXPON_LOWER, UserWarning, stacklevel=2)
        self.groups_ = fitted
        self.group_values_ = _group_values(X, keys, fitted)
        self.n_features_in_ = _n_columns(X)
        return self

    def boundaries(
        self,
        group: str,
        threshold: float | None = None,
        lower_threshold: float | None = None,
        upper_threshold: float | None = None,
    ) -> tuple[float, float, float, float]:
        """(lower bound, upper bound, lower area, upper area) of ``group``'s inlier range
        for one rule (the fitted one's first when none is given)."""
        d = self.groups_[group]
        if threshold is None and lower_threshold is None and upper_threshold is None:
            threshold, lower_threshold, upper_threshold = self.fitted_rule().rules()[0]
        lo_area, hi_area = tails(d.name, float(threshold or 0.0), lower_threshold, upper_threshold)
        lo = float(d.ppf(lo_area)) if lo_area > 0 else -np.inf
        hi = float(d.ppf(1.0 - hi_area)) if hi_area > 0 else np.inf
        return lo, hi, lo_area, hi_area

    def ranges(
        self, group: str, rule: tuple[float | None, float | None, float | None]
    ) -> list[tuple[float, float, float]]:
        """MLTK's boundary ranges of one rule: ``(start, end, area)`` per outlier range: a
        Gaussian KDE's level set for ``threshold`` (:func:`kde_level_set`), else the tails
        (:meth:`boundaries`)."""
        d = self.groups_[group]
        if _level_set_rule(d, rule):
            return _mask_ranges(d, kde_level_set(d, float(rule[0] or 0.0)))
        lo, hi, lo_area, hi_area = self.boundaries(group, *rule)
        kde = d.name == "gaussian_kde"
        out = []
        if lo_area > 0:
            out.append((-np.inf, lo, round(lo_area, NUMERIC_PRECISION) if kde else lo_area))
        if hi_area > 0:
            out.append((hi, np.inf, round(hi_area, NUMERIC_PRECISION) if kde else hi_area))
        return out

    def score_events(
        self,
        X: Any,
        *,
        rule: Thresholds | None = None,
        show_density: bool | None = None,
        sample: bool | None = None,
        full_sample: bool | None = None,
    ) -> pd.DataFrame:
        """Per row and per threshold ``i`` of ``rule`` (the fitted one when None):
        ``is_outlier_<i>`` (1, 0, or missing: unseen group or missing value, whose other
        outputs are missing too, as MLTK leaves them),
        ``ranges_<i>`` (the BoundaryRanges text) and with ``sample`` ``sample_<i>`` (drawn
        from that threshold's inlier range); ``density`` and ``full_sample`` (drawn from
        the whole distribution) when asked. The booleans default to the fitted ones."""
        check_is_fitted(self, "groups_")
        rules = (rule or self.fitted_rule()).rules()
        show_density = self.show_density if show_density is None else show_density
        sample = self.sample if sample is None else sample
        full_sample = self.full_sample if full_sample is None else full_sample
        values, keys = _split(X)
        n = len(values)
        out: dict[str, Any] = {}
        for i in range(len(rules)):
            out[f"is_outlier_{i}"] = pd.array([pd.NA] * n, dtype="Int64")
            out[f"ranges_{i}"] = np.full(n, None, dtype=object)
            if sample:
                out[f"sample_{i}"] = np.full(n, np.nan)
        if show_density:
            out["density"] = np.full(n, np.nan)
        if full_sample:
            out["full_sample"] = np.full(n, np.nan)
        rng = np.random.default_rng(self.random_state)
        key_series = pd.Series(keys)
        for key, rows in key_series.groupby(key_series, sort=False).indices.items():
            d = self.groups_.get(str(key))
            if d is None:
                continue
            v = values[rows]
            ok = ~np.isnan(v)
            for i, one in enumerate(rules):
                ranges = self.ranges(str(key), one)
                outlying = np.zeros(int(ok.sum()), dtype=bool)
                for start, end, _ in ranges:  # MLTK's: strictly inside a range
                    outlying |= (start < v[ok]) & (v[ok] < end)
                out[f"is_outlier_{i}"][rows[ok]] = outlying.astype(np.int64)
                out[f"ranges_{i}"][rows[ok]] = range_text(ranges)
                if not sample:
                    continue
                if _level_set_rule(d, one):
                    drawn = _sample_cells(d, ~kde_level_set(d, float(one[0] or 0.0)), rng, ok)
                else:
                    _, _, lo_area, hi_area = self.boundaries(str(key), *one)
                    low, high = max(lo_area, 1e-12), min(1.0 - hi_area, 1 - 1e-12)
                    drawn = d.ppf(rng.uniform(low, high, int(ok.sum())))
                out[f"sample_{i}"][rows[ok]] = drawn
            if show_density:
                out["density"][rows[ok]] = d.pdf(v[ok])
            if full_sample:
                u = rng.uniform(1e-12, 1 - 1e-12, size=int(ok.sum()))
                out["full_sample"][rows[ok]] = d.ppf(u)
        return pd.DataFrame(out, copy=False)

    def predict(self, X: Any) -> np.ndarray:
        flags = self.score_events(X)["is_outlier_0"].fillna(0).to_numpy(dtype=np.int64)
        return np.where(flags == 1, -1, 1)

    def summary(self) -> list[dict[str, Any]]:
        """One row per group: its ``by`` values (``by_values``), the distribution, its
        parameters, BoundaryRanges (the first threshold's), row count, and MLTK's summary
        columns: ``min``/``max`` of the data, ``mean``/``std`` (MLTK's: the normal's loc
        and scale, the exponential's loc and scale as scipy's expon.fit names them, the
        data's for gaussian_kde), ``distance`` (``metric: <m>, distance: <d>``, the fit's
        distance to the data) and ``other`` (gaussian_kde's bandwidth and parameter size;
        N/A otherwise)."""
        check_is_fitted(self, "groups_")
        first = self.fitted_rule().rules()[0]
        by_values = getattr(self, "group_values_", {})
        rows = []
        for key, d in self.groups_.items():
            ranges = [
                f"{_short(lo)}..{_short(hi)} ({area:g})" for lo, hi, area in self.ranges(key, first)
            ]
            mean, std = _mean_std(d)
            rows.append(
                {
                    "group": key,
                    "by_values": list(by_values.get(key, [])),
                    "type": d.name,
                    "params": ",".join(f"{k}={v:.6g}" for k, v in d.params.items()),
                    "BoundaryRanges": "; ".join(ranges),
                    "cardinality": d.n,
                    "min": getattr(d, "low", None),
                    "max": getattr(d, "high", None),
                    "mean": mean,
                    "std": std,
                    "distance": f"metric: {getattr(d, 'metric', self.metric)}, distance: "
                    f"{getattr(d, 'fit_distance', None)}",
                    "other": _other(d),
                }
            )
        return rows


def _short(x: float) -> str:
    if np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.6g}"


def _sample_cells(
    d: FittedDist, keep: np.ndarray, rng: np.random.Generator, ok: np.ndarray
) -> np.ndarray:
    """Values drawn from a Gaussian KDE's grid cells where ``keep`` is set, each cell as
    likely as its area (uniform within it): the KDE restricted to its inlier region."""
    xs, cdf = d.grid
    area = np.where(keep, np.diff(cdf), 0.0)
    total = float(area.sum())
    size = int(ok.sum())
    if total <= 0.0:
        return np.full(size, np.nan)
    cum = np.cumsum(area)
    u = rng.uniform(0.0, total, size)
    cell = np.minimum(np.searchsorted(cum, u, side="right"), len(area) - 1)
    before = cum[cell] - area[cell]
    share = np.where(area[cell] > 0, (u - before) / np.where(area[cell] > 0, area[cell], 1), 0.5)
    return xs[cell] + np.clip(share, 0.0, 1.0) * (xs[cell + 1] - xs[cell])


def _floats_equal(value: Any, number: float) -> bool:
    return isinstance(value, float | int) and not isinstance(value, bool) and value == number


def _mean_std(d: FittedDist) -> tuple[float | None, float | None]:
    if d.name in ("norm", "expon"):
        return d.params["loc"], d.params["scale"]
    if d.name == "gaussian_kde":
        data = np.asarray(d.kde.dataset[0], dtype=np.float64)
        return float(data.mean()), float(data.std())
    frozen = _frozen(d)
    return float(frozen.mean()), float(frozen.std())


def _other(d: FittedDist) -> str:
    if d.name == "gaussian_kde":
        return f"bandwidth: {d.params['bandwidth']}, parameter size: {d.n}"
    if d.name == "beta":
        return f"a: {d.params['a']}, b: {d.params['b']}"
    return "N/A"


def _group_values(X: Any, keys: np.ndarray, fitted: dict[str, FittedDist]) -> dict[str, list]:
    """Each group's ``by`` values, as its key spells them (MLTK's summary has a column per
    ``by`` field)."""
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=object))
    if frame.shape[1] < 2:
        return {k: [] for k in fitted}
    first = pd.Series(np.arange(len(keys))).groupby(pd.Series(keys)).first()
    out = {}
    for key in fitted:
        row = int(first[key])
        out[key] = [_key_part(frame.iloc[row, i]) for i in range(1, frame.shape[1])]
    return out


def _n_columns(X: Any) -> int:
    return int(X.shape[1]) if len(getattr(X, "shape", ())) == 2 else 1


def _split(X: Any) -> tuple[np.ndarray, np.ndarray]:
    """The value column as floats and each row's group key."""
    frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(np.asarray(X, dtype=object))
    if frame.shape[1] == 0:
        raise DataError("DensityFunction needs one numeric field")
    values = pd.to_numeric(frame.iloc[:, 0], errors="coerce").to_numpy(dtype=np.float64)
    if frame.shape[1] == 1:
        return values, np.full(len(frame), _OTHER_KEY, dtype=object)
    parts = [frame.iloc[:, i].map(_key_part) for i in range(1, frame.shape[1])]
    key = parts[0]
    for p in parts[1:]:
        key = key + "," + p
    return values, key.to_numpy(dtype=object)


def _key_part(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v)


def fit_one(
    values: np.ndarray, dist: str, group: str = "", metric: str = "wasserstein"
) -> FittedDist:
    """Fit ``dist`` (or pick one for ``auto``, nearest by ``metric``) to one group's values."""
    if len(values) < MIN_GROUP_ROWS:
        where = f"group {group!r}" if group else "the field"
        raise DataError(
            f"DensityFunction needs at least {MIN_GROUP_ROWS} values per group; {where} "
            f"has {len(values)}; group by coarser fields or collect more events"
        )
    measure = kolmogorov_smirnov if metric == "kolmogorov_smirnov" else wasserstein
    if dist != "auto":
        chosen = _fit_named(values, dist)
        chosen.fit_distance = float(measure(values, chosen))
    else:
        candidates = {name: _fit_named(values, name) for name in AUTO_CANDIDATES}
        distance = {name: measure(values, d) for name, d in candidates.items()}
        parametric = min(("norm", "expon"), key=lambda n: distance[n])
        best = (
            "gaussian_kde"
            if distance["gaussian_kde"] * KDE_MARGIN < distance[parametric]
            else parametric
        )
        chosen = candidates[best]
        chosen.distance = {k: float(v) for k, v in distance.items()}
        chosen.fit_distance = chosen.distance[best]
    chosen.low, chosen.high = float(values.min()), float(values.max())
    chosen.metric = metric
    return chosen


def wasserstein(values: np.ndarray, d: FittedDist) -> float:
    """Wasserstein-1 distance between the sample and ``d``: the mean gap between the sorted
    values and ``d``'s quantiles at the same plotting positions."""
    x = np.sort(values)
    q = (np.arange(1, len(x) + 1) - 0.5) / len(x)
    return float(np.mean(np.abs(x - d.ppf(q))))


def kolmogorov_smirnov(values: np.ndarray, d: FittedDist) -> float:
    """The Kolmogorov-Smirnov statistic of the sample against ``d``: the largest gap
    between the sample's step CDF and ``d``'s CDF (scipy.stats.kstest's)."""
    x = np.sort(values)
    n = len(x)
    if d.name == "gaussian_kde":
        xs, grid = d.grid
        cdf = np.interp(x, xs, grid)
    else:
        cdf = np.asarray(_frozen(d).cdf(x), dtype=np.float64)
    above = np.arange(1, n + 1) / n - cdf
    below = cdf - np.arange(n) / n
    return float(max(above.max(), below.max()))


def _fit_named(values: np.ndarray, dist: str) -> FittedDist:
    from scipy import stats

    n = len(values)
    if dist == "norm":
        scale = float(values.std()) or 1e-12
        return FittedDist("norm", {"loc": float(values.mean()), "scale": scale}, n)
    if dist == "expon":
        loc = float(values.min())
        return FittedDist("expon", {"loc": loc, "scale": float(values.mean() - loc) or 1e-12}, n)
    if dist == "beta":
        span = float(values.max() - values.min()) or 1.0
        loc, scale = float(values.min()) - span * 1e-3, span * (1 + 2e-3)
        a, b, _, _ = stats.beta.fit(values, floc=loc, fscale=scale)
        return FittedDist("beta", {"a": float(a), "b": float(b), "loc": loc, "scale": scale}, n)
    if dist == "gaussian_kde":
        spread = float(values.std())
        if spread == 0.0:  # a constant sample has no KDE; a narrow normal says the same
            return FittedDist("norm", {"loc": float(values[0]), "scale": 1e-12}, n)
        kde = stats.gaussian_kde(values)
        bw = float(np.sqrt(kde.covariance[0, 0]))
        xs = np.linspace(values.min() - 5 * bw, values.max() + 5 * bw, _KDE_GRID)
        pdf = kde(xs)
        cdf = np.concatenate([[0.0], np.cumsum((pdf[1:] + pdf[:-1]) / 2 * np.diff(xs))])
        cdf /= cdf[-1]
        return FittedDist("gaussian_kde", {"bandwidth": bw}, n, kde=kde, grid=(xs, cdf))
    raise BadParameter(f"dist={dist!r} is not one of {', '.join(DISTS)}")
