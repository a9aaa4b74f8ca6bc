"""Models that watch themselves: a baseline with every version, and drift against it.

- :mod:`~kepler.ml.monitoring.profile`: bounded-size profiles of a table, built streaming;
- :mod:`~kepler.ml.monitoring.baseline`: a version's baseline (features and outputs);
- :mod:`~kepler.ml.monitoring.stats`: Evidently's drift statistics, computed from counts;
- :mod:`~kepler.ml.monitoring.drift`: one row per field, the method chosen as Evidently does.
"""

from kepler.ml.monitoring.baseline import ARTIFACT, fit_baseline, make_baseline, summarize
from kepler.ml.monitoring.drift import COLUMNS, METHODS, check_method, count_window, drift
from kepler.ml.monitoring.profile import WindowCounter, profile_batches, profile_frame

__all__ = [
    "ARTIFACT",
    "COLUMNS",
    "METHODS",
    "WindowCounter",
    "check_method",
    "count_window",
    "drift",
    "fit_baseline",
    "make_baseline",
    "profile_batches",
    "profile_frame",
    "summarize",
]
