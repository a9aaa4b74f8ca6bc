"""Bring your own model: a fitted estimator from a notebook as a version like any fit's.

:func:`registered_model` wraps the estimator (a scikit-learn estimator or pipeline, an
XGBoost model, an installed plugin's estimator) as Kepler's pipeline (one ``model`` step)
with the :class:`~kepler.ml.meta.ModelMeta` that ``apply`` reads: its task, from
scikit-learn's tags; its classes; the fields it reads and their types. What it cannot
tell from the object (the fields, the target) the caller says, and is checked against
what the object knows (``feature_names_in_``, ``n_features_in_``).
"""

from __future__ import annotations

import logging
from typing import Any

from sklearn.pipeline import Pipeline

from kepler.core.errors import BadParameter, DataError
from kepler.core.wire import ModelRegister
from kepler.ml.frames import FEATURE_TYPES, NUMERIC
from kepler.ml.meta import ModelMeta
from kepler.ml.training import TrainedModel

log = logging.getLogger(__name__)


def registered_model(estimator: Any, request: ModelRegister) -> TrainedModel:
    """``estimator`` as a version's pipeline and meta (no metrics: Kepler did not fit it)."""
    task = task_of(estimator)
    features = [str(f) for f in request.features]
    _check_features(estimator, features)
    if task in ("classifier", "regressor") and not request.target:
        raise BadParameter(
            f"a {task} needs target=: the field it predicts (its output is named "
            "predicted(<target>), as a fitted one's)",
            detail={"parameter": "target"},
        )
    types = {f: str(request.feature_types.get(f, NUMERIC)) for f in features}
    bad = {f: t for f, t in types.items() if t not in FEATURE_TYPES}
    if bad:
        name, typ = next(iter(bad.items()))
        raise BadParameter(
            f"feature type {typ!r} of {name!r} is not one of {', '.join(FEATURE_TYPES)}",
            detail={"parameter": "feature_types"},
        )
    classes = None
    if task == "classifier":
        classes = [str(c) for c in getattr(estimator, "classes_", [])]
    meta = ModelMeta(
        algorithm=algorithm_name(estimator),
        task=task,
        target=request.target if task in ("classifier", "regressor") else None,
        features=features,
        feature_types=types,
        classes=classes,
        params=_params(estimator),
    )
    return TrainedModel(Pipeline([("model", estimator)]), meta, {}, [])


def task_of(estimator: Any) -> str:
    """classifier, regressor, clusterer or outlier, from scikit-learn's tags (a pipeline
    answers for its last step); anything else is refused."""
    from sklearn.base import is_classifier, is_outlier_detector, is_regressor

    try:
        if is_outlier_detector(estimator):
            return "outlier"
        if is_classifier(estimator):
            return "classifier"
        if is_regressor(estimator):
            return "regressor"
    except Exception as exc:  # an estimator without usable tags: its own declaration below
        log.debug("%s: no usable scikit-learn tags (%s)", type(estimator).__name__, exc)
    kind = getattr(estimator, "_estimator_type", None)
    if kind in ("classifier", "regressor"):
        return str(kind)
    if kind == "clusterer" or (hasattr(estimator, "predict") and hasattr(estimator, "labels_")):
        return "clusterer"
    if kind == "outlier_detector":
        return "outlier"
    raise DataError(
        f"a {type(estimator).__name__} cannot be registered: Kepler applies classifiers, "
        "regressors, clusterers and outlier detectors (scikit-learn's estimator types), "
        "fitted, with a predict method",
        detail={"type": type(estimator).__name__},
    )


def algorithm_name(estimator: Any) -> str:
    """The estimator's class name; a pipeline's is its last step's."""
    last = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    return type(last).__name__


def _check_features(estimator: Any, features: list[str]) -> None:
    if not features:
        raise BadParameter("features= must name the fields the model reads, in order")
    if len(set(features)) != len(features):
        raise BadParameter("features= names a field twice", detail={"parameter": "features"})
    known = getattr(estimator, "feature_names_in_", None)
    if known is not None and [str(f) for f in known] != features:
        raise BadParameter(
            f"features= ({', '.join(features[:10])}) are not the fields the model was "
            f"fitted on, in order: {', '.join(str(f) for f in list(known)[:10])}",
            detail={"parameter": "features", "fitted_on": [str(f) for f in known][:100]},
        )
    width = getattr(estimator, "n_features_in_", None)
    if isinstance(width, int) and width != len(features):
        raise BadParameter(
            f"the model reads {width} fields and features= names {len(features)}",
            detail={"parameter": "features"},
        )
    if not hasattr(estimator, "predict"):
        raise DataError(f"a {type(estimator).__name__} has no predict method to apply")


def _params(estimator: Any) -> dict[str, Any]:
    """The estimator's own parameters that are plain values (a pipeline's last step's)."""
    last = estimator.steps[-1][1] if isinstance(estimator, Pipeline) else estimator
    try:
        params = last.get_params(deep=False)
    except Exception:
        return {}
    return {k: v for k, v in params.items() if v is None or isinstance(v, bool | int | float | str)}
