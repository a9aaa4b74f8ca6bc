"""What a fitted model carries besides its pipeline: :class:`ModelMeta`, stored as JSON with
each version.

Its own module so that training (which writes it) and outputs (which read it to name and
shape the columns ``apply`` adds) both import it without importing each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from kepler._version import __version__


@dataclass
class ModelMeta:
    """What ``apply`` needs besides the pipeline, stored as JSON with each version."""

    algorithm: str
    task: str
    target: str | None
    features: list[str]
    feature_types: dict[str, str]
    classes: list[str] | None = None  # as strings, in predict_proba column order
    probabilities: bool = False
    output_name: str | None = None
    params: dict[str, Any] = field(default_factory=dict)  # declared name -> value
    n_train: int = 0
    n_holdout: int = 0
    n_dropped: int = 0  # rows left out because their target was missing
    holdout: float = 0.0
    by: list[str] = field(default_factory=list)  # group fields (in ``features`` too)
    # The seed of the holdout split and of the metrics' sampling (the estimator's own
    # random_state, else 0), and a digest of the rows held out: a reproduction checks that
    # it held out the very same rows. None: fitted before Kepler recorded them.
    seed: int | None = None
    split_digest: str | None = None
    # Validation (kepler.ml.splits): how the holdout or folds were cut, and the folds'
    # scores in MLTK's shape when fitted with kfold_cv.
    split: str = "random"  # random | time
    time_field: str | None = None  # the field that ordered the rows (split=time)
    kfold_cv: int = 0
    gap: int = 0
    folds: list[dict[str, Any]] = field(default_factory=list)
    lags: list[int] = field(default_factory=list)  # the pipeline's "lags" step (kepler.ml.lags)
    rolling: list[str] = field(default_factory=list)
    kepler_version: str = __version__

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelMeta:
        """Read a stored meta; keys from newer Kepler versions are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
