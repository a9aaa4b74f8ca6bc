"""Per-group models (``fit <algorithm> ... by <field>[,<field>...]``): one clone of a
pipeline per group of rows that share the values of the ``by`` fields, in one version.

A group's key is its ``by`` values joined with ``,`` (numbers without a trailing ``.0``,
as :mod:`kepler.ml.density` spells them), so ``by HourOfDay,source`` names the group
``9,a``. Groups are fitted in parallel on threads (scikit-learn, XGBoost and torch
release the GIL while they fit), at most one per core.

What happens to rows without a model of their own, at fit and at apply, is a status:

=============  ====================================================================
``ok``         the event's group has a model; its prediction is that model's
``unseen``     the group was not in the training data: empty prediction
``skipped``    the group was in the training data but could not be trained (fewer
               than :data:`MIN_GROUP_ROWS` rows, a single class for a classifier, or
               the estimator refused its rows): empty prediction
``missing``    a ``by`` field is empty (or absent) in the event: empty prediction
=============  ====================================================================

A group that cannot be trained is skipped, not fatal: with hundreds of hosts one quiet
host must not cost the other models, and the fit's warnings name every skipped group
and why (``kepler fit`` shows them as WARN messages). Only when no group can be trained
does the fit fail. Rows with an empty ``by`` value are left out of every group at fit.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from kepler.core.errors import DataError

# A group needs this many rows to be trained.
MIN_GROUP_ROWS = 2
# The status column apply adds for a grouped model.
STATUS_FIELD = "kepler_group_status"
OK, UNSEEN, SKIPPED, MISSING = "ok", "unseen", "skipped", "missing"
# Tasks whose overall metrics are the groups' own, weighted by rows.
WEIGHTED_TASKS = ("clusterer", "transformer")
# Skipped groups named one by one in the fit's warning; the rest are counted.
NAMED_SKIPS = 20


class GroupSkipped(UserWarning):
    """Some groups could not be trained; their events get ``kepler_group_status=skipped``."""


def group_keys(X: pd.DataFrame, by: Sequence[str]) -> np.ndarray:
    """Each row's group key (object array); ``None`` where a ``by`` value is empty."""
    parts = [X[name].map(key_part) for name in by]
    key = parts[0]
    for p in parts[1:]:
        key = key.str.cat(p, sep=",")
    keys = np.array(key.to_numpy(dtype=object), dtype=object)  # a writable copy
    empty = np.zeros(len(X), dtype=bool)
    for p in parts:
        empty |= p.isna().to_numpy()
    keys[empty] = None
    return keys


def key_part(v: Any) -> Any:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)) or v == "":
        return None
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _inner_has(attr: str) -> Any:
    def check(self: Any) -> bool:
        return hasattr(self.estimator, attr)

    return check


def check_group_count(groups: int, by: Sequence[str], max_groups: int) -> None:
    """Refuse ``groups`` groups of ``by`` past ``max_groups`` (KEPLER_MAX_GROUPS)."""
    if groups > max_groups:
        raise DataError(
            f"`by {','.join(by)}` makes {groups:,} groups, more than the "
            f"{max_groups:,} allowed (setting KEPLER_MAX_GROUPS); group by fewer or "
            "coarser fields, or raise the setting",
            detail={"groups": groups, "max_groups": max_groups},
        )


class GroupedEstimator(MetaEstimatorMixin, BaseEstimator):
    """Fit a clone of ``estimator`` (a Kepler pipeline) per group of ``by`` values.

    ``X`` is a DataFrame holding the ``by`` columns and the estimator's features.
    Learned: ``groups_`` (key -> fitted clone), ``counts_`` (key -> training rows,
    skipped groups included), ``skipped_`` (key -> reason), ``classes_`` (classifiers:
    every label seen, sorted). Rows without a model get an empty prediction; see
    :meth:`status`.
    """

    def __init__(
        self,
        estimator: Any,
        by: Sequence[str] = (),
        max_groups: int = 1000,
        n_jobs: int | None = None,
    ) -> None:
        self.estimator = estimator
        self.by = by
        self.max_groups = max_groups
        self.n_jobs = n_jobs

    def fit(self, X: pd.DataFrame, y: Any = None) -> GroupedEstimator:
        from joblib import Parallel, delayed

        by = list(self.by)
        if not by:
            raise DataError("a grouped model needs at least one `by` field")
        keys = group_keys(X, by)
        present = np.flatnonzero(pd.notna(keys))
        if len(present) == 0:
            raise DataError(
                f"every row has an empty `by` field ({', '.join(by)}); "
                "group by fields the events carry"
            )
        rows_of = pd.Series(present).groupby(keys[present], sort=True).indices
        check_group_count(len(rows_of), by, self.max_groups)
        features = [c for c in X.columns if c not in by]
        y_arr = None if y is None else np.asarray(y)
        if y_arr is not None and _is_classifier(self.estimator):
            self.classes_ = np.sort(pd.unique(y_arr))
        jobs = []
        for key, where in rows_of.items():
            rows = present[where]
            jobs.append((str(key), rows))
        n_jobs = self.n_jobs or min(len(jobs), _cores())
        fitted = Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(_fit_group)(
                self.estimator,
                X.iloc[rows][features],
                None if y_arr is None else y_arr[rows],
            )
            for _, rows in jobs
        )
        self.counts_ = {key: len(rows) for key, rows in jobs}
        self.groups_ = {}
        self.skipped_ = {}
        for (key, _), (model, reason) in zip(jobs, fitted, strict=True):
            if model is None:
                self.skipped_[key] = reason
            else:
                self.groups_[key] = model
        if not self.groups_:
            shown = "; ".join(f"{k}: {r}" for k, r in list(self.skipped_.items())[:5])
            raise DataError(
                f"no group of `by {','.join(by)}` could be trained ({shown}); group by "
                "coarser fields or collect more events",
                detail={"groups": len(jobs)},
            )
        if self.skipped_:
            warnings.warn(skip_message(self.skipped_, len(jobs)), GroupSkipped, stacklevel=2)
        self.features_ = features
        self.n_features_in_ = X.shape[1]
        return self

    def status(self, X: pd.DataFrame) -> np.ndarray:
        """Each row's ``kepler_group_status``: ok, unseen, skipped or missing."""
        check_is_fitted(self, "groups_")
        keys = group_keys(X, list(self.by))
        out = np.full(len(keys), UNSEEN, dtype=object)
        for i, key in enumerate(keys):
            if key is None:
                out[i] = MISSING
            elif key in self.groups_:
                out[i] = OK
            elif key in self.skipped_:
                out[i] = SKIPPED
        return out

    def split(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Row positions of ``X`` per trained group (rows without a model are left out)."""
        check_is_fitted(self, "groups_")
        keys = group_keys(X, list(self.by))
        ok = np.flatnonzero([k in self.groups_ for k in keys])
        if len(ok) == 0:
            return {}
        return {
            str(k): ok[where]
            for k, where in pd.Series(ok).groupby(keys[ok], sort=False).indices.items()
        }

    def _each(self, X: pd.DataFrame, method: str) -> list[tuple[np.ndarray, Any]]:
        return [
            (rows, getattr(self.groups_[key], method)(X.iloc[rows][self.features_]))
            for key, rows in self.split(X).items()
        ]

    @available_if(_inner_has("predict"))
    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Each group's predictions; ``None`` (classifiers, clusterers, detectors) or NaN
        (regressors) where a row has no model."""
        parts = self._each(X, "predict")
        numeric = parts and all(np.asarray(p).dtype.kind == "f" for _, p in parts)
        out = np.full(len(X), np.nan if numeric else None, dtype=np.float64 if numeric else object)
        for rows, pred in parts:
            out[rows] = np.asarray(pred).ravel()
        return out

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities in ``classes_`` order (0 for a class the group never saw);
        NaN rows where a row has no model."""
        out = np.full((len(X), len(self.classes_)), np.nan)
        position = {c: i for i, c in enumerate(self.classes_)}
        for key, rows in self.split(X).items():
            model = self.groups_[key]
            proba = np.asarray(model.predict_proba(X.iloc[rows][self.features_]))
            cols = np.array([position[c] for c in model.classes_], dtype=np.intp)
            out[rows] = 0.0
            out[np.ix_(rows, cols)] = proba
        return out

    @available_if(_inner_has("transform"))
    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Each group's output columns; NaN rows where a row has no model (the groups must
        agree on the width: see :func:`kepler.ml.outputs.predict_frame` for named columns)."""
        parts = self._each(X, "transform")
        width = max(np.asarray(p).reshape(len(r), -1).shape[1] for r, p in parts) if parts else 0
        out = np.full((len(X), width), np.nan)
        for rows, values in parts:
            values = np.asarray(values, dtype=np.float64).reshape(len(rows), -1)
            out[rows, : values.shape[1]] = values
        return out

    def summary(self) -> list[dict[str, Any]]:
        """One row per group: key, each ``by`` value, training rows, status, and why a
        skipped group was skipped."""
        check_is_fitted(self, "groups_")
        rows = []
        for key, n in self.counts_.items():
            row: dict[str, Any] = {"group": key}
            row.update(zip(self.by, key.split(",", len(self.by) - 1), strict=False))
            row["rows"] = n
            row["status"] = OK if key in self.groups_ else SKIPPED
            if key in self.skipped_:
                row["reason"] = self.skipped_[key]
            rows.append(row)
        return rows


def _is_classifier(estimator: Any) -> bool:
    from sklearn.base import is_classifier

    return bool(is_classifier(estimator))


def _fit_group(template: Any, X: pd.DataFrame, y: np.ndarray | None) -> tuple[Any, str]:
    """A fitted clone of ``template`` on one group's rows, or ``(None, reason)``."""
    from sklearn.utils._param_validation import InvalidParameterError

    from kepler.ml.devices import score_on_cpu

    if len(X) < MIN_GROUP_ROWS:
        return None, f"{len(X)} row(s), fewer than {MIN_GROUP_ROWS}"
    if y is not None and _is_classifier(template):
        classes = pd.unique(y)
        if len(classes) < 2:
            return None, f"only one class ({classes[0]!r}); a classifier needs two"
    model = clone(template)
    try:
        model.fit(X) if y is None else model.fit(X, y)
    except InvalidParameterError:
        raise  # the parameters are wrong for every group: the fit fails as a whole
    except (ValueError, np.linalg.LinAlgError) as exc:
        return None, f"could not be fitted: {exc}"
    score_on_cpu(model)
    return model, ""


def skip_message(skipped: dict[str, str], total: int) -> str:
    named = "; ".join(f"{k or '(empty)'}: {r}" for k, r in list(skipped.items())[:NAMED_SKIPS])
    more = f"; and {len(skipped) - NAMED_SKIPS} more" if len(skipped) > NAMED_SKIPS else ""
    return (
        f"{len(skipped)} of {total} groups were not trained and their events get "
        f"{STATUS_FIELD}={SKIPPED} at apply: {named}{more}"
    )


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def is_grouped(pipeline: Any) -> bool:
    """Whether a fitted Kepler pipeline holds one model per group."""
    steps = getattr(pipeline, "named_steps", {})
    return isinstance(steps.get("model"), GroupedEstimator)


def score_groups(
    pipeline: Any,
    task: str,
    X: pd.DataFrame,
    y: np.ndarray | None,
    *,
    seed: int = 0,
    holdout: bool,
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """The metrics over every row of ``X`` that has a model (rows of unseen or skipped
    groups have no prediction to score; for clusterers and transformers each group's
    metric weighted by its rows), and :meth:`GroupedEstimator.summary`'s rows each
    with its own group's metrics (``holdout_rows`` too when ``holdout``)."""
    from kepler.ml.metrics import compute_metrics

    grouped: GroupedEstimator = pipeline.named_steps["model"]
    prep = pipeline.named_steps["prep"]
    parts = grouped.split(prep.transform(X)) if len(X) else {}
    scored = np.sort(np.concatenate(list(parts.values()))) if parts else np.array([], dtype=int)
    overall: dict[str, float] = {}
    if task not in WEIGHTED_TASKS:
        overall = compute_metrics(
            pipeline, task, X.iloc[scored], None if y is None else y[scored], seed=seed
        )
    rows = grouped.summary()
    weighted: dict[str, list[tuple[float, int]]] = {}
    for row in rows:
        where = parts.get(row["group"])
        if holdout:
            row["holdout_rows"] = 0 if where is None else len(where)
        if where is None or len(where) == 0:
            continue
        model = grouped.groups_[row["group"]]
        sub = X.iloc[where][grouped.features_]
        metrics = compute_metrics(model, task, sub, None if y is None else y[where], seed=seed)
        row.update({f"metric.{k}": v for k, v in sorted(metrics.items())})
        for k, v in metrics.items():
            weighted.setdefault(k, []).append((v, len(where)))
    if task in WEIGHTED_TASKS:
        # A cluster or component of one group has nothing to do with another's: each
        # group's own metric, weighted by its rows.
        overall = {
            k: float(np.average([v for v, _ in pairs], weights=[n for _, n in pairs]))
            for k, pairs in sorted(weighted.items())
        }
    return overall, rows
