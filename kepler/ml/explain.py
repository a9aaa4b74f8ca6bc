"""What a fitted model learned per input: importances or coefficients, by feature name.

Names are the columns the estimator saw: numeric fields as-is and one-hot columns as
``field=value`` (MLTK's spelling). Entries are sorted by magnitude, largest first:

* ``{"feature", "importance"}`` for tree ensembles and anything with
  ``feature_importances_``;
* ``{"feature", "coefficient"}`` for linear models; with more than two classes there is one
  coefficient per class and feature, and each entry also names its ``class``.

Models with neither (neighbours, kernels, neural networks, clusterers) explain nothing: [].
FieldSelector lists each field's ``{"feature", "score", "p-value", "selected"}``, highest
score first. DensityFunction lists its groups instead: ``{"feature", <each by field>, "group",
"type", "params", "BoundaryRanges", "cardinality", "min", "max", "mean", "std", "distance",
"other"}`` (see :meth:`kepler.ml.density.DensityFunction.summary`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from kepler.ml.pipeline import feature_names_out, final_estimator


def explain(pipeline: Pipeline) -> list[dict[str, Any]]:
    """Importances or coefficients of the fitted ``pipeline``, sorted by magnitude."""
    names = feature_names_out(pipeline)
    est = final_estimator(pipeline)
    if hasattr(est, "kepler_summary"):  # its own per-field rows (FieldSelector's scores)
        return list(est.kepler_summary(names))
    if getattr(est, "kepler_raw_features", False) and hasattr(est, "summary"):
        return [_group_row(names, row) for row in est.summary()]
    importances = _attr(est, "feature_importances_")
    if importances is not None and importances.shape == (len(names),):
        return _sorted(
            (
                {"feature": n, "importance": float(v)}
                for n, v in zip(names, importances, strict=True)
            ),
            "importance",
        )
    coef = _attr(est, "coef_")
    if coef is None or coef.ndim not in (1, 2) or coef.shape[-1] != len(names):
        return []
    if coef.ndim == 1 or coef.shape[0] == 1:
        return _sorted(
            (
                {"feature": n, "coefficient": float(v)}
                for n, v in zip(names, coef.reshape(-1), strict=True)
            ),
            "coefficient",
        )
    classes = getattr(pipeline.named_steps["model"], "classes_", None)
    if classes is None or len(classes) != coef.shape[0]:
        classes = np.arange(coef.shape[0])
    return _sorted(
        (
            {"feature": n, "class": str(c), "coefficient": float(v)}
            for c, row in zip(classes, coef, strict=True)
            for n, v in zip(names, row, strict=True)
        ),
        "coefficient",
    )


def _group_row(names: list[str], row: dict[str, Any]) -> dict[str, Any]:
    """A DensityFunction group's row, with a column per ``by`` field as MLTK's summary."""
    row = dict(row)
    by = dict(zip(names[1:], row.pop("by_values", []), strict=False))
    return {"feature": names[0], **by, **row}


def _attr(est: Any, name: str) -> np.ndarray | None:
    try:  # some estimators (SVC with a non-linear kernel) raise on the attribute itself
        value = getattr(est, name, None)
    except (AttributeError, ValueError, NotImplementedError):
        return None
    if value is None:
        return None
    if hasattr(value, "toarray"):  # sparse coefficients
        value = value.toarray()
    try:
        return np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _sorted(entries: Iterable[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    rows = [e for e in entries if np.isfinite(e[key])]
    return sorted(rows, key=lambda e: abs(e[key]), reverse=True)
