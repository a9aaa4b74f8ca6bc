"""Splunk MLTK's ``FieldSelector``: keep the fields most related to a target.

``fit FieldSelector <target> from <fields> [type=categorical|numeric]
[mode=percentile|k_best|fpr|fdr|fwe] [param=<x>]`` is scikit-learn's
``GenericUnivariateSelect`` scored by ANOVA F (``f_classif``, a categorical target, the
default) or by the F test of a linear regression (``f_regression``, numeric), exactly as
MLTK builds it: ``param`` must be an integer for ``percentile`` and ``k_best`` and lie in
(0, 1) for ``fpr``, ``fdr`` and ``fwe``; left out, it is scikit-learn's default. Each kept
field comes out as ``fs_<field>`` (one-hot columns as ``fs_<field>=<value>``); ``as <out>``
replaces ``fs``.

``summary`` lists every field the selector saw with its ``score`` (the F statistic) and
``p-value``, as MLTK's FieldSelector summary does, and whether it was ``selected``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from kepler.core.errors import BadParameter

MODES = ("percentile", "k_best", "fpr", "fdr", "fwe")
ALPHA_MODES = ("fpr", "fdr", "fwe")


class FieldSelector(TransformerMixin, BaseEstimator):
    """Univariate selection of the fields that best explain the target."""

    def __init__(
        self, type: str = "categorical", mode: str = "percentile", param: float | None = None
    ) -> None:
        self.type = type
        self.mode = mode
        self.param = param

    @property
    def kepler_target_kind(self) -> str:
        """How training reads the target: class labels, or numbers."""
        return "labels" if self.type == "categorical" else "numbers"

    def fit(self, X: Any, y: Any) -> FieldSelector:
        from sklearn.feature_selection import GenericUnivariateSelect, f_classif, f_regression

        score = f_classif if self.type == "categorical" else f_regression
        kwargs: dict[str, Any] = {"score_func": score, "mode": self.mode}
        if self.param is not None:
            kwargs["param"] = self._param()
        self.selector_ = GenericUnivariateSelect(**kwargs).fit(
            np.asarray(X, dtype=np.float64), np.asarray(y)
        )
        self.support_ = np.asarray(self.selector_.get_support(), dtype=bool)
        self.n_features_in_ = len(self.support_)
        self.n_features_out_ = int(self.support_.sum())
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = np.asarray(X, dtype=np.float64)
        return np.asarray(X[:, self.support_])

    def kepler_output_fields(self, inputs: list[str], out: str | None) -> list[str]:
        return [
            f"{out or 'fs'}_{name}"
            for name, kept in zip(inputs, self.support_, strict=True)
            if kept
        ]

    def kepler_summary(self, names: list[str]) -> list[dict[str, Any]]:
        """One entry per input field (``names``, the columns the selector saw): its score
        and p-value, and whether it was kept; highest score first."""
        check_is_fitted(self)
        if len(names) != len(self.support_):  # names it cannot pair: explain nothing
            return []
        rows = [
            {
                "feature": name,
                "score": _finite(score),
                "p-value": _finite(p),
                "selected": bool(kept),
            }
            for name, score, p, kept in zip(
                names, self.selector_.scores_, self.selector_.pvalues_, self.support_, strict=True
            )
        ]
        return sorted(rows, key=lambda r: -np.inf if r["score"] is None else -r["score"])

    def _param(self) -> float | int:
        value = float(self.param) if self.param is not None else 0.0
        if self.mode in ALPHA_MODES:
            if not 0 < value < 1:
                raise BadParameter(
                    f"FieldSelector: param={self.param} is not valid for mode={self.mode}: "
                    "param must be between 0 and 1",
                    detail={"parameter": "param"},
                )
            return value
        if not value.is_integer():
            raise BadParameter(
                f"FieldSelector: param={self.param} is not an integer; mode={self.mode} "
                "requires an integer",
                detail={"parameter": "param"},
            )
        return int(value)


def _finite(value: Any) -> float | None:
    """A number JSON can carry: a constant field's undefined score is None."""
    number = float(value)
    return number if np.isfinite(number) else None
