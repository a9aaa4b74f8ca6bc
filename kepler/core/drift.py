"""Drift's vocabulary, declared once for the search command, the bridge and the engine:
the methods, their default thresholds and the columns of an answer. Standard library
only: it runs in Splunk's Python."""

from __future__ import annotations

# What `method=` accepts; "auto" picks per field as Evidently does (kepler.ml.monitoring).
METHODS = ("auto", "psi", "ks", "wasserstein", "jensenshannon", "chi2")
# Each test's default threshold, Evidently's; "z" is auto's choice for two-valued fields.
DEFAULT_THRESHOLD = {
    "ks": 0.05,
    "chi2": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
}
# Tests whose statistic is a p-value: drifted when it falls below the threshold.
P_VALUES = frozenset({"ks", "chi2", "z"})
# One answer row per field (and per model output), in this order.
COLUMNS = (
    "field",
    "role",
    "type",
    "method",
    "statistic",
    "threshold",
    "drifted",
    "missing_then",
    "missing_now",
    "rows_then",
    "rows_now",
    "note",
)
