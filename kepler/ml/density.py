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
upper tail. ``lower_threshold`` / ``upper_threshold`` set each tail's area on their own.
The tails' boundaries are quantiles, so ``apply`` can move them (:meth:`score_events` with a
new threshold) without refitting. An event whose group was not seen at fit, or whose value
is missing, gets no verdict: ``IsOutlier`` is empty for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted

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


@dataclass
class FittedDist:
    """One group's distribution: its name, parameters and a quantile function."""

    name: str
    params: dict[str, float]
    n: int
    distance: dict[str, float] = field(default_factory=dict)  # auto's candidates
    kde: Any = None  # scipy gaussian_kde, for gaussian_kde
    grid: Any = None  # (x, cdf) on a grid, gaussian_kde's quantile function

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
    """The (lower, upper) tail areas called outlying for ``dist``."""
    if lower is not None or upper is not None:
        return float(lower or 0.0), float(upper or 0.0)
    if dist == "expon":
        return 0.0, float(threshold)
    return threshold / 2.0, threshold / 2.0


def _check_area(name: str, value: float | None) -> None:
    if value is not None and not 0.0 <= float(value) < 1.0:
        raise BadParameter(
            f"{name}={value} must be a share of the distribution's area, in [0, 1) "
            "(0.01 calls the 1% least likely values outliers)",
            detail={"parameter": name},
        )


class DensityFunction(OutlierMixin, BaseEstimator):
    """Per-group density estimation with tail thresholds; ``predict`` answers -1 / 1."""

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "dist": [set(DISTS)],
        "threshold": [float],
        "lower_threshold": [float, None],
        "upper_threshold": [float, None],
        "metric": [set(METRICS)],
        "show_density": ["boolean"],
        "sample": ["boolean"],
        "full_sample": ["boolean"],
        "max_groups": [int],
        "random_state": [int, None],
    }
    kepler_raw_features = True  # the pipeline hands the fields over unencoded

    def __init__(
        self,
        dist: str = "auto",
        threshold: float = 0.01,
        lower_threshold: float | None = None,
        upper_threshold: float | None = None,
        metric: str = "wasserstein",
        show_density: bool = False,
        sample: bool = False,
        full_sample: bool = False,
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
        self.max_groups = max_groups
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> DensityFunction:
        if self.dist not in DISTS:
            raise BadParameter(
                f"dist={self.dist!r} is not one of {', '.join(DISTS)}",
                detail={"parameter": "dist"},
            )
        for name in ("threshold", "lower_threshold", "upper_threshold"):
            _check_area(name, getattr(self, name))
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
        self.groups_ = fitted
        self.n_features_in_ = _n_columns(X)
        return self

    def boundaries(
        self,
        group: str,
        threshold: float | None = None,
        lower_threshold: float | None = None,
        upper_threshold: float | None = None,
    ) -> tuple[float, float, float, float]:
        """(lower bound, upper bound, lower area, upper area) of ``group``'s inlier range."""
        d = self.groups_[group]
        if threshold is None and lower_threshold is None and upper_threshold is None:
            threshold, lower_threshold, upper_threshold = (
                self.threshold,
                self.lower_threshold,
                self.upper_threshold,
            )
        lo_area, hi_area = tails(d.name, float(threshold or 0.0), lower_threshold, upper_threshold)
        lo = float(d.ppf(lo_area)) if lo_area > 0 else -np.inf
        hi = float(d.ppf(1.0 - hi_area)) if hi_area > 0 else np.inf
        return lo, hi, lo_area, hi_area

    def score_events(
        self,
        X: Any,
        *,
        threshold: float | None = None,
        lower_threshold: float | None = None,
        upper_threshold: float | None = None,
    ) -> pd.DataFrame:
        """``is_outlier`` (1, 0, or missing: unseen group or missing value), ``density`` and
        ``sample`` per row; a threshold given here replaces the fitted one."""
        check_is_fitted(self, "groups_")
        for name, value in (
            ("threshold", threshold),
            ("lower_threshold", lower_threshold),
            ("upper_threshold", upper_threshold),
        ):
            _check_area(name, value)
        values, keys = _split(X)
        n = len(values)
        flags = pd.array([pd.NA] * n, dtype="Int64")
        density = np.full(n, np.nan)
        sampled = np.full(n, np.nan)
        rng = np.random.default_rng(self.random_state)
        key_series = pd.Series(keys)
        for key, rows in key_series.groupby(key_series, sort=False).indices.items():
            d = self.groups_.get(str(key))
            if d is None:
                continue
            lo, hi, lo_area, hi_area = self.boundaries(
                str(key), threshold, lower_threshold, upper_threshold
            )
            v = values[rows]
            ok = ~np.isnan(v)
            flags[rows[ok]] = ((v[ok] < lo) | (v[ok] > hi)).astype(np.int64)
            density[rows[ok]] = d.pdf(v[ok])
            if self.sample or self.full_sample:
                a, b = (0.0, 1.0) if self.full_sample else (lo_area, 1.0 - hi_area)
                u = rng.uniform(max(a, 1e-12), min(b, 1 - 1e-12), size=len(rows))
                sampled[rows] = d.ppf(u)
        return pd.DataFrame(
            {"is_outlier": flags, "density": density, "sample": sampled}, copy=False
        )

    def predict(self, X: Any) -> np.ndarray:
        flags = self.score_events(X)["is_outlier"].fillna(0).to_numpy(dtype=np.int64)
        return np.where(flags == 1, -1, 1)

    def summary(self) -> list[dict[str, Any]]:
        """One row per group: the distribution, its parameters, BoundaryRanges, row count."""
        check_is_fitted(self, "groups_")
        rows = []
        for key, d in self.groups_.items():
            lo, hi, lo_area, hi_area = self.boundaries(key)
            ranges = []
            if lo_area > 0:
                ranges.append(f"-inf..{lo:.6g} ({lo_area:g})")
            if hi_area > 0:
                ranges.append(f"{hi:.6g}..inf ({hi_area:g})")
            rows.append(
                {
                    "group": key,
                    "type": d.name,
                    "params": ",".join(f"{k}={v:.6g}" for k, v in d.params.items()),
                    "BoundaryRanges": "; ".join(ranges),
                    "cardinality": d.n,
                }
            )
        return rows


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
    if dist != "auto":
        return _fit_named(values, dist)
    candidates = {name: _fit_named(values, name) for name in AUTO_CANDIDATES}
    measure = kolmogorov_smirnov if metric == "kolmogorov_smirnov" else wasserstein
    distance = {name: measure(values, d) for name, d in candidates.items()}
    parametric = min(("norm", "expon"), key=lambda n: distance[n])
    best = (
        "gaussian_kde"
        if distance["gaussian_kde"] * KDE_MARGIN < distance[parametric]
        else parametric
    )
    chosen = candidates[best]
    chosen.distance = {k: float(v) for k, v in distance.items()}
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
