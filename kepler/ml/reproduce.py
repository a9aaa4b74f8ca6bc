"""Whether a reproduction matches its original: the rule for its algorithm, then metric by
metric.

Which rule applies (the same table is in the README):

============================================  ==========  ==============================
algorithm                                     rule        why
============================================  ==========  ==============================
takes no ``random_state`` (linear models,     exact       nothing random: the same rows,
naive Bayes, nearest neighbours, ...)                     split and packages give the
                                                          same numbers
takes ``random_state`` and was given one      exact       the seed fixes every draw
(forests, boosting, k-means, ...)
takes ``random_state``, fitted without one    tolerance   each fit draws a fresh seed
neural networks (``MLPClassifier``,           tolerance   float sums over threads (and
``MLPRegressor``, ``TorchMLP*``)                          GPU kernels) vary run to run
XGBoost on a GPU (``device=cuda``, or         tolerance   GPU histogram sums are not
``auto`` on a worker with one)                            ordered
============================================  ==========  ==============================

``exact``: each metric must be the very same number. ``tolerance``: each metric may move
by ``max(ABS_TOLERANCE, REL_TOLERANCE * |original|)``. The holdout split never depends on
the algorithm: its seed is the estimator's ``random_state`` or 0, so the same rows are held
out in every case, and the split (a digest of the held-out rows) and the row counts must
match exactly under either rule.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

EXACT = "exact"
TOLERANCE = "tolerance"
ABS_TOLERANCE = 0.02
REL_TOLERANCE = 0.05
# Verdicts: every item the same number; every item within its tolerance; some item not.
SAME = "exact"
CLOSE = "within_tolerance"
DIFFERS = "differs"

NEURAL = frozenset({"MLPClassifier", "MLPRegressor", "TorchMLPClassifier", "TorchMLPRegressor"})


@dataclass(frozen=True)
class Rule:
    kind: str  # EXACT or TOLERANCE
    why: str
    abs_tolerance: float = 0.0
    rel_tolerance: float = 0.0

    def allows(self, original: float, reproduced: float) -> bool:
        if math.isnan(original) or math.isnan(reproduced):
            return math.isnan(original) and math.isnan(reproduced)
        if self.kind == EXACT:
            return original == reproduced
        return abs(reproduced - original) <= self.bound(original)

    def bound(self, original: float) -> float:
        if self.kind == EXACT:
            return 0.0
        return max(self.abs_tolerance, self.rel_tolerance * abs(original))

    def describe(self) -> str:
        if self.kind == EXACT:
            return "exact"
        return f"within max({self.abs_tolerance:g}, {self.rel_tolerance:g} x |original|)"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "text": self.describe()}


def _tolerant(why: str) -> Rule:
    return Rule(TOLERANCE, why, ABS_TOLERANCE, REL_TOLERANCE)


def rule_for(algorithm: str, estimator: Any) -> Rule:
    """The rule for a fit of ``algorithm`` that made ``estimator`` (the pipeline's model
    step, as configured, a wrapper's inner estimator included: its parameters say whether
    it was seeded and where it ran)."""
    params: dict[str, Any] = {}
    getter = getattr(estimator, "get_params", None)
    if callable(getter):
        params = dict(getter(deep=True))
    seeds = [v for k, v in params.items() if k == "random_state" or k.endswith("__random_state")]
    devices = [str(v) for k, v in params.items() if k == "device" or k.endswith("__device")]
    if algorithm in NEURAL:
        return _tolerant(f"{algorithm} is a neural network: its float sums vary run to run")
    if any(d.startswith("cuda") for d in devices):
        return _tolerant(f"{algorithm} trained on a GPU, whose sums are not ordered")
    if any(seed is None for seed in seeds):
        return _tolerant(
            f"{algorithm} was fitted without random_state: each fit draws its own seed "
            "(fit with random_state=<n> to make it reproduce exactly)"
        )
    if seeds:
        return Rule(EXACT, f"{algorithm} was seeded (random_state={seeds[0]})")
    return Rule(EXACT, f"{algorithm} draws no random numbers")


def compare(
    original: dict[str, Any],
    reproduced: dict[str, Any],
    rule: Rule,
    *,
    split: tuple[dict[str, Any], dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One row per item: ``item``, ``original``, ``reproduced``, ``difference``, ``rule``,
    ``tolerance`` and ``match``. Items: each metric either side has (``metric.<name>``),
    then with ``split`` (the two metas' ``split_digest``, ``n_train``, ``n_holdout``) the
    split, compared exactly whatever the rule."""
    rows: list[dict[str, Any]] = []
    for name in sorted(set(original) | set(reproduced)):
        a, b = _number(original.get(name)), _number(reproduced.get(name))
        if a is None or b is None:
            rows.append(_row(f"metric.{name}", a, b, None, rule.kind, None, False))
            continue
        rows.append(
            _row(
                f"metric.{name}",
                a,
                b,
                None if math.isnan(a) or math.isnan(b) else b - a,
                rule.kind,
                rule.bound(a),
                rule.allows(a, b),
            )
        )
    if split is not None:
        before, after = split
        for key in ("split_digest", "n_train", "n_holdout"):
            x, y = before.get(key), after.get(key)
            if x is None and key == "split_digest":
                continue  # fitted before Kepler kept it: the row counts still say much
            item = "split" if key == "split_digest" else key
            rows.append(_row(item, x, y, None, EXACT, None, x == y))
    return rows


def verdict(rows: list[dict[str, Any]]) -> str:
    """``exact`` (every item the same), ``within_tolerance`` or ``differs``."""
    if not all(r["match"] for r in rows):
        return DIFFERS
    if all(r["original"] == r["reproduced"] or _both_nan(r) for r in rows):
        return SAME
    return CLOSE


def _row(
    item: str,
    original: Any,
    reproduced: Any,
    difference: float | None,
    kind: str,
    tolerance: float | None,
    match: bool,
) -> dict[str, Any]:
    return {
        "item": item,
        "original": original,
        "reproduced": reproduced,
        "difference": difference,
        "rule": kind,
        "tolerance": tolerance,
        "match": bool(match),
    }


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _both_nan(row: dict[str, Any]) -> bool:
    a, b = row["original"], row["reproduced"]
    return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
