"""Which algorithm the next trials go to: an upper-confidence bandit over algorithms.

TPE left to choose the algorithm as one more categorical parameter locks onto whichever
algorithm looked best early: a well-tuned default start outscores the first random draws
of a stronger algorithm, whose share of the trials then dwindles before its parameters
were ever tuned (on friedman1, TPE gave HistGradientBoosting 44 trials and XGBoost 2,
while XGBoost tuned is the better model). Here the algorithm is chosen first and TPE
tunes that algorithm's parameters on that algorithm's own trials:

* every algorithm gets :data:`FLOOR` trials first (a default start counts), in catalog
  order, so none is judged on one unlucky draw;
* after that, each next trial goes to the algorithm with the highest index
  ``best + spread * sqrt(ln(n) / n_algorithm)``: its best score so far plus a bonus that
  shrinks as it gets trials. ``spread`` is how far the leading algorithm's best is above
  the median algorithm's best, so the bonus is in the scores' own units: an algorithm
  about as good as the leader keeps getting trials, one far behind gets few.

A trial's score is its cross-validated value; a pruned trial counts with the running mean
it was stopped at; a failed trial, or one that broke a constraint, counts as tried with
no score. Choices depend only on the trials given, so a seeded round draws the same
algorithms on every run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

FLOOR = 3  # trials every algorithm gets before its record may starve it


def choose(
    names: Sequence[str], tried: Sequence[tuple[str, float | None]], *, maximize: bool
) -> str:
    """The algorithm (one of ``names``) the next trial should tune, given every trial
    asked so far as ``(algorithm, score or None)``."""
    sign = 1.0 if maximize else -1.0
    count = dict.fromkeys(names, 0)
    best: dict[str, float] = {}
    for name, score in tried:
        if name not in count:
            continue
        count[name] += 1
        if score is not None and math.isfinite(score):
            best[name] = max(best.get(name, -math.inf), sign * score)
    short = [n for n in names if count[n] < FLOOR]
    if short:
        return min(short, key=lambda n: (count[n], names.index(n)))
    if not best:
        return min(names, key=lambda n: (count[n], names.index(n)))
    ranked = sorted(best.values(), reverse=True)
    spread = ranked[0] - ranked[len(ranked) // 2]
    if spread <= 0:
        spread = max(abs(ranked[0]) * 1e-3, 1e-9)
    total = sum(count.values())

    def index(n: str) -> float:
        if n not in best:  # tried FLOOR times, never a usable score
            return -math.inf
        return best[n] + spread * math.sqrt(math.log(total) / count[n])

    return max(names, key=lambda n: (index(n), -count[n], -names.index(n)))
