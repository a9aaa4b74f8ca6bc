"""The bandit that picks each trial's algorithm: a floor of trials for every algorithm,
then trials for the algorithms whose best is near the leader's, few for the rest."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from kepler.ml.automl import bandit

NAMES = ["Ridge", "RandomForest", "HistGB", "XGBoost"]


def _run(quality: dict[str, float], n: int, *, maximize: bool = True, seed: int = 0) -> Counter:
    """``n`` choices where each trial of an algorithm scores its quality plus noise (a
    tuned algorithm creeps towards its quality as it gets trials)."""
    rng = np.random.default_rng(seed)
    tried: list[tuple[str, float | None]] = []
    for _ in range(n):
        name = bandit.choose(NAMES, tried, maximize=maximize)
        k = sum(1 for a, _ in tried if a == name)
        score = quality[name] - 0.05 / (k + 1) + rng.normal(0, 0.005)
        tried.append((name, score if maximize else -score))
    return Counter(a for a, _ in tried)


def test_every_algorithm_gets_its_floor_first_in_catalog_order() -> None:
    tried: list[tuple[str, float | None]] = []
    for _ in range(bandit.FLOOR * len(NAMES)):
        tried.append((bandit.choose(NAMES, tried, maximize=True), 0.5))
    assert [a for a, _ in tried[: len(NAMES)]] == NAMES
    assert Counter(a for a, _ in tried) == dict.fromkeys(NAMES, bandit.FLOOR)


def test_a_default_start_counts_towards_the_floor() -> None:
    tried: list[tuple[str, float | None]] = [("HistGB", 0.9)] * bandit.FLOOR
    picks = []
    for _ in range(bandit.FLOOR * (len(NAMES) - 1)):
        picks.append(bandit.choose(NAMES, tried, maximize=True))
        tried.append((picks[-1], 0.1))
    assert "HistGB" not in picks


def test_an_algorithm_near_the_leader_gets_trials_before_the_leader_gets_more() -> None:
    # friedman1's case: the tuned default leads, a stronger algorithm had few draws.
    tried = [("HistGB", 0.93)] * 40 + [("XGBoost", 0.915)] * 4
    tried += [("RandomForest", 0.85)] * 5 + [("Ridge", 0.75)] * 3
    assert bandit.choose(NAMES, tried, maximize=True) == "XGBoost"
    # one far behind does not, however few its trials
    tried = [("HistGB", 0.93)] * 40 + [("XGBoost", 0.60)] * 3
    tried += [("RandomForest", 0.92)] * 40 + [("Ridge", 0.91)] * 40
    assert bandit.choose(NAMES, tried, maximize=True) != "XGBoost"


def test_the_best_algorithm_gets_most_trials_and_none_starves() -> None:
    quality = {"Ridge": 0.75, "RandomForest": 0.86, "HistGB": 0.92, "XGBoost": 0.94}
    counts = _run(quality, 120)
    assert counts.most_common(1)[0][0] == "XGBoost"
    assert counts["XGBoost"] > counts["HistGB"] > counts["Ridge"]
    assert min(counts.values()) >= bandit.FLOOR
    assert counts["Ridge"] <= bandit.FLOOR + 1


def test_lower_is_better_metrics_are_read_the_other_way() -> None:
    error = {"Ridge": 4.0, "RandomForest": 2.0, "HistGB": 1.5, "XGBoost": 1.2}
    quality = {k: -v for k, v in error.items()}  # what _run's noise model works on
    counts = _run(quality, 120, maximize=False)
    assert counts.most_common(1)[0][0] == "XGBoost"
    assert counts["Ridge"] <= bandit.FLOOR + 1


def test_an_algorithm_that_never_scored_is_dropped_after_its_floor() -> None:
    tried = [("XGBoost", None)] * bandit.FLOOR + [("Ridge", math.nan)] * bandit.FLOOR
    tried += [("HistGB", 0.5)] * 30 + [("RandomForest", 0.4)] * 30
    picks = []
    for _ in range(20):
        picks.append(bandit.choose(NAMES, tried, maximize=True))
        tried.append((picks[-1], 0.45))
    assert "HistGB" in picks and set(picks) <= {"HistGB", "RandomForest"}


def test_trials_of_algorithms_outside_the_pool_are_ignored() -> None:
    tried = [("SVC", 1.0)] * 10
    assert bandit.choose(NAMES, tried, maximize=True) == NAMES[0]
