"""The Optuna study behind one AutoML run: ask, evaluate, tell; rank; refit the winner.

Any number of processes work on one study through a shared storage (a journal file for
the embedded stack, the jobs database otherwise): each call of :func:`run_trial` asks the
study for a configuration, cross-validates it (:mod:`kepler.ml.automl.trial`) and tells
the score back, recording the algorithm, parameters, cost figures, constraint violations
and the worker (``host:pid``) as trial user attributes.

Each trial's algorithm is picked by :mod:`kepler.ml.automl.bandit`; its parameters by
constrained TPE (constant liar, so trials in flight repel each other; constraint values
steer it away from configurations that broke a constraint); pruning is the median rule on
per-fold scores.

A seeded run goes in rounds so that it repeats however many workers take part and
whichever finishes first: one process draws a whole round of configurations
(:func:`plan_round`: a sampler seeded by the run's seed and the round's number, over the
trials of earlier rounds, all finished) and any worker evaluates them
(:func:`run_planned`), pruning against earlier rounds only. Trial *k* then has the same
configuration, folds, model seed and score on every run; only cost figures (seconds,
latency) are measured afresh. An unseeded run asks as it goes, lane by lane
(:func:`run_trial`), with no waiting.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
import warnings
import zlib
from collections import OrderedDict
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from kepler.core.automl import TIE_BREAK, AutoMLSpec, greater_is_better
from kepler.core.errors import DataError, MissingDependency
from kepler.ml.automl import bandit, space
from kepler.ml.automl.data import Prepared
from kepler.ml.automl.trial import checked_params, evaluate, make_pipeline, score_metrics
from kepler.ml.explain import explain
from kepler.ml.metrics import holdout_sample
from kepler.ml.monitoring.baseline import try_fit_baseline
from kepler.ml.training import ModelMeta, TrainedModel, _fit

log = logging.getLogger(__name__)

STARTUP_TRIALS = 8  # random trials before TPE models the space
PRUNE_AFTER = 4  # trials completed before the median pruner acts


def optuna_module() -> Any:
    try:
        import optuna
    except ImportError:
        raise MissingDependency("AutoML needs Optuna: pip install 'kepler-ml[automl]'") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


_STORAGES_KEEP = 8  # runs a worker process may be serving at once, and then some


class Storages:
    """Open Optuna storages by URL, the most recent few (one set per process: the
    server's context holds it). A journal storage kept open reads only what other
    processes appended since its last look, instead of replaying the whole log on every
    trial."""

    def __init__(self, keep: int = _STORAGES_KEEP) -> None:
        self.keep = keep
        self._open: OrderedDict[str, Any] = OrderedDict()

    def get(self, url: str) -> Any:
        """The storage at ``url`` (see :func:`storage`), opened once while recent."""
        if url not in self._open:
            self._open[url] = storage(url)
            while len(self._open) > self.keep:
                self._open.popitem(last=False)
        self._open.move_to_end(url)
        return self._open[url]

    def __contains__(self, url: object) -> bool:
        return url in self._open

    def __len__(self) -> int:
        return len(self._open)

    def discard(self, url: str) -> None:
        """Forget a run's storage; a journal file is deleted (with its lock file)."""
        self._open.pop(url, None)
        discard_storage(url)


def storage(url: str) -> Any:
    """An Optuna storage: ``journal:<path>`` (a file, with file locks) or a database URL,
    opened now (a process keeps the ones it uses in :class:`Storages`)."""
    return _open_storage(url)


def discard_storage(url: str) -> None:
    """Delete a run's journal file (with its lock file); a database study stays."""
    if url.startswith("journal:"):
        path = url.removeprefix("journal:")
        for leftover in (path, f"{path}.lock"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(leftover)


def _open_storage(url: str) -> Any:
    optuna = optuna_module()
    if url.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

        path = url.removeprefix("journal:")
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))
    return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})


def _sampler(seed: int | None, salt: str) -> Any:
    optuna = optuna_module()
    derived = None if seed is None else zlib.crc32(f"{seed}:{salt}".encode())
    return optuna.samplers.TPESampler(
        seed=derived,
        n_startup_trials=STARTUP_TRIALS,
        constant_liar=True,
    )


def _pruner(before: int | None) -> Any:
    """The median rule; with ``before``, against the trials numbered below it only (a
    seeded round's trials never judge each other, so finishing order cannot matter)."""
    optuna = optuna_module()
    median = optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER, n_warmup_steps=0)
    if before is None:
        return median

    class EarlierTrials:
        def __init__(self, study: Any) -> None:
            self._study = study
            self.direction = study.direction

        def get_trials(self, deepcopy: bool = True, states: Any = None) -> list[Any]:
            trials = self._study.get_trials(deepcopy=deepcopy, states=states)
            return [t for t in trials if t.number < before]

    class EarlierRoundsPruner:  # Optuna asks a pruner for nothing but prune()
        def prune(self, study: Any, trial: Any) -> bool:
            return bool(median.prune(EarlierTrials(study), trial))

    return EarlierRoundsPruner()


def create_study(
    store: Any, name: str, metric: str, starts: list[dict[str, Any]] | None = None
) -> None:
    """The run's study; ``starts`` (fixed parameters) are its first trials."""
    optuna = optuna_module()
    study = optuna.create_study(
        storage=store,
        study_name=name,
        direction="maximize" if greater_is_better(metric) else "minimize",
        load_if_exists=True,
    )
    if not study.get_trials(deepcopy=False):
        for fixed in starts or []:
            study.enqueue_trial(fixed, skip_if_exists=True)


def load_study(
    store: Any, name: str, *, seed: int | None, lane: int = 0, before: int | None = None
) -> Any:
    """The study as a worker sees it. ``seed`` and ``lane`` seed the sampler of
    :func:`run_trial` (with the number of trials already held, so a serial caller repeats
    trial by trial); ``before`` limits pruning to earlier trials (a seeded round)."""
    optuna = optuna_module()
    n_seen = len(trials(store, name))
    return optuna.load_study(
        study_name=name,
        storage=store,
        sampler=_sampler(seed, f"{lane}:{n_seen}"),
        pruner=_pruner(before),
    )


def plan_round(
    store: Any,
    name: str,
    spec: AutoMLSpec,
    pool: list[Any],
    *,
    n_features: int,
    round_no: int,
    size: int,
) -> list[int]:
    """Draw the configurations of seeded round ``round_no`` (``size`` trials, left
    RUNNING for :func:`run_planned`); return their numbers. Every earlier trial must be
    finished: what the sampler sees is then the same on every run."""
    optuna = optuna_module()
    study = optuna.load_study(
        study_name=name, storage=store, sampler=_sampler(spec.seed, f"round:{round_no}")
    )
    tried = _tried(study)
    numbers = []
    for _ in range(size):
        trial = _ask(study, pool, n_features, tried)
        numbers.append(int(trial.number))
    return numbers


def _tried(study: Any) -> list[tuple[str, float | None]]:
    """Every trial asked so far as ``(algorithm, score or None)`` for :mod:`bandit`: a
    complete trial's value (None when it broke a constraint), a pruned one's last
    running mean, None for a failed or running one."""
    optuna = optuna_module()
    state = optuna.trial.TrialState
    out: list[tuple[str, float | None]] = []
    for t in study.get_trials(deepcopy=False):
        algorithm = t.user_attrs.get("algorithm")
        if algorithm is None:  # enqueued, not asked yet
            continue
        score: float | None = None
        if t.state == state.COMPLETE and not t.user_attrs.get("violations"):
            score = float(t.value)
        elif t.state == state.PRUNED and t.intermediate_values:
            score = float(t.intermediate_values[max(t.intermediate_values)])
        out.append((algorithm, score))
    return out


def _ask(study: Any, pool: list[Any], n_features: int, tried: list[Any]) -> Any:
    """Ask for one trial whose algorithm the bandit chose (an enqueued start keeps its
    own) and whose parameters the study's sampler draws; ``tried`` gains it."""
    optuna = optuna_module()
    base = study.sampler
    names = [c.algorithm for c in pool]
    if len(names) > 1:
        pick = bandit.choose(names, tried, maximize=study.direction.name == "MAXIMIZE")
        with warnings.catch_warnings():  # experimental since Optuna 2.4, unchanged since
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.sampler = optuna.samplers.PartialFixedSampler({"algorithm": pick}, base)
    try:
        trial = study.ask()
        config = space.suggest(trial, pool, n_features=n_features)
    finally:
        study.sampler = base
    trial.set_user_attr("algorithm", config["algorithm"])
    trial.set_user_attr("config", json.dumps(config))
    tried.append((config["algorithm"], None))
    return trial


def run_planned(
    study: Any,
    number: int,
    prepared: Prepared,
    spec: AutoMLSpec,
    *,
    deadline: float | None = None,
) -> bool:
    """Evaluate and tell planned trial ``number``; False when it was already finished (a
    redelivered task, or a duplicate that lost the race). A trial whose worker died is
    evaluated again from the start; one reached after ``deadline`` is pruned unstarted."""
    optuna = optuna_module()
    frozen = study.get_trials(deepcopy=False)[number]
    assert frozen.number == number
    if frozen.state.is_finished():
        return False
    trial = optuna.trial.Trial(study, frozen._trial_id)
    try:
        if deadline is not None and time.time() >= deadline:
            trial.set_user_attr("note", "budget spent before it started")
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return True
        config = json.loads(frozen.user_attrs["config"])
        _settle(study, trial, config, prepared, spec, deadline)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False  # a duplicate task finished it first (after a worker died)
    return True


def trials(store: Any, name: str) -> list[Any]:
    """The study's trials as stored (no sampler, no copies)."""
    return list(store.get_all_trials(store.get_study_id_from_name(name), deepcopy=False))


def asked(store: Any, name: str) -> int:
    """How many trials were asked for (running or finished; enqueued ones not yet asked
    do not count)."""
    optuna = optuna_module()
    waiting = optuna.trial.TrialState.WAITING
    return sum(t.state != waiting for t in trials(store, name))


def all_finished(study: Any, numbers: range) -> bool:
    trials = study.get_trials(deepcopy=False)
    return all(n < len(trials) and trials[n].state.is_finished() for n in numbers)


def fail_unfinished(study: Any, note: str) -> int:
    """Mark trials left RUNNING (their worker stopped) as failed; return how many."""
    optuna = optuna_module()
    left = [t for t in study.get_trials(deepcopy=False) if not t.state.is_finished()]
    for t in left:
        trial = optuna.trial.Trial(study, t._trial_id)
        trial.set_user_attr("note", note)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return len(left)


def run_trial(
    study: Any,
    prepared: Prepared,
    spec: AutoMLSpec,
    pool: list[Any],
    *,
    deadline: float | None = None,
) -> int:
    """Ask, evaluate, tell one trial (stopped after a fold once ``deadline`` passes);
    return its number."""
    trial = _ask(study, pool, len(prepared.features), _tried(study))
    config = json.loads(trial.user_attrs["config"])
    _settle(study, trial, config, prepared, spec, deadline)
    return int(trial.number)


def _settle(
    study: Any,
    trial: Any,
    config: dict[str, Any],
    prepared: Prepared,
    spec: AutoMLSpec,
    deadline: float | None,
) -> None:
    """Cross-validate ``config`` as ``trial`` and tell the study how it went."""
    optuna = optuna_module()
    seed = spec.seed or 0
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    trial.set_user_attr("pid", os.getpid())
    try:
        result = evaluate(config, prepared, spec, seed=seed, trial=trial, deadline=deadline)
    except optuna.TrialPruned as exc:
        trial.set_user_attr("note", str(exc))
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    except Exception as exc:  # one bad configuration must not end the search
        log.info("trial %s (%s) failed: %s", trial.number, config["algorithm"], exc)
        trial.set_user_attr("note", f"failed: {type(exc).__name__}: {str(exc)[:300]}")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    else:
        trial.set_user_attr("metrics", result.metrics)
        trial.set_user_attr("fit_seconds", round(result.fit_seconds, 4))
        trial.set_user_attr("latency_ms_per_row", result.latency_ms_per_row)
        trial.set_user_attr("model_mb", round(result.model_mb, 4))
        trial.set_user_attr("violations", result.violations)
        # Constrained TPE: proposals move away from configurations that broke one.
        trial.set_constraint("violations", float(len(result.violations)))
        study.tell(trial, result.score)


def _rank_key(t: Any, metric: str) -> tuple[bool, float, float, int]:
    """Feasible first, then the score (to 9 decimals: fold means of equal counts may
    differ in the last bits), then the metric's tie-break, then the earlier trial."""
    second = TIE_BREAK.get(metric, metric)
    value = t.user_attrs.get("metrics", {}).get(second)
    tie = 0.0 if value is None else float(value) * (-1.0 if greater_is_better(second) else 1.0)
    sign = -1.0 if greater_is_better(metric) else 1.0
    return (bool(t.user_attrs.get("violations")), round(sign * float(t.value), 9), tie, t.number)


def leaderboard(study: Any, metric: str) -> list[dict[str, Any]]:
    """Completed trials, those meeting every constraint first (best score first; ties
    go to the better :data:`~kepler.core.automl.TIE_BREAK` metric), then the ones that
    broke a constraint (ranked after, never first)."""
    optuna = optuna_module()
    done = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    complete = [t for t in done if t.state == optuna.trial.TrialState.COMPLETE]
    complete.sort(key=lambda t: _rank_key(t, metric))
    rows = []
    for rank, t in enumerate(complete, start=1):
        config = json.loads(t.user_attrs["config"])
        rows.append(
            {
                "rank": rank,
                "trial": t.number,
                "algorithm": config["algorithm"],
                "params": config["params"],
                "interactions": config.get("interactions", False),
                "select_percentile": config.get("select") or 100,
                "score": float(t.value),
                "metrics": t.user_attrs.get("metrics", {}),
                "fit_seconds": t.user_attrs.get("fit_seconds"),
                "latency_ms_per_row": t.user_attrs.get("latency_ms_per_row"),
                "model_mb": t.user_attrs.get("model_mb"),
                "feasible": not t.user_attrs.get("violations"),
                "violations": t.user_attrs.get("violations", []),
                "worker": t.user_attrs.get("worker"),
                "duration_s": (t.datetime_complete - t.datetime_start).total_seconds()
                if t.datetime_complete and t.datetime_start
                else None,
            }
        )
    return rows


def counts(study: Any) -> dict[str, int]:
    optuna = optuna_module()
    states = [t.state for t in study.get_trials(deepcopy=False)]
    s = optuna.trial.TrialState
    return {
        "trials": len(states),
        "complete": states.count(s.COMPLETE),
        "pruned": states.count(s.PRUNED),
        "failed": states.count(s.FAIL),
        "running": states.count(s.RUNNING),
    }


def winner(rows: list[dict[str, Any]], spec: AutoMLSpec) -> dict[str, Any]:
    """The best feasible row, or a :class:`DataError` that says what every trial broke."""
    feasible = [r for r in rows if r["feasible"]]
    if feasible:
        return feasible[0]
    if not rows:
        raise DataError(
            "no trial finished within the time budget; raise time_budget= or send fewer rows"
        )
    broken = sorted({v.split(" ")[0] for r in rows for v in r["violations"]})
    raise DataError(
        f"none of the {len(rows)} trials met the constraints (broken: {', '.join(broken)}); "
        "loosen max_latency_ms_per_row=, max_model_mb= or interpretable=, or raise the budget",
        detail={"constraints": spec.constraints()},
    )


def refit(row: dict[str, Any], prepared: Prepared, spec: AutoMLSpec) -> TrainedModel:
    """The winner fitted on every training row, scored on the holdout nobody saw."""
    seed = spec.seed or 0
    config = {
        "algorithm": row["algorithm"],
        "params": row["params"],
        "interactions": row["interactions"],
        "select": None if row["select_percentile"] == 100 else row["select_percentile"],
    }
    pipeline = make_pipeline(config, prepared, seed)
    y = None if prepared.engine_task == "outlier" else prepared.y_train
    # One core, as in the trials: OpenMP pools sized to a busy machine slow boosting
    # down by an order of magnitude, and the refit should cost what the trials predicted.
    with threadpool_limits(limits=1):
        fit_warnings = _fit(pipeline, prepared.X_train, y, row["algorithm"])
    metrics = score_metrics(pipeline, prepared, prepared.X_holdout, prepared.y_holdout)
    classes = None
    if prepared.engine_task == "classifier":
        classes = [str(c) for c in pipeline.named_steps["model"].classes_]
    params = checked_params(config, seed)
    meta = ModelMeta(
        algorithm=row["algorithm"],
        task=prepared.engine_task,
        target=spec.target if prepared.engine_task != "outlier" else None,
        features=list(prepared.features),
        feature_types=dict(prepared.feature_types),
        classes=classes,
        params={k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()},
        n_train=len(prepared.X_train),
        n_holdout=len(prepared.X_holdout),
        n_dropped=prepared.n_dropped,
        holdout=spec.holdout,
        split=prepared.split,
        time_field=(spec.time_field or "_time") if prepared.split == "time" else None,
    )
    baseline = try_fit_baseline(pipeline, meta, prepared.X_train, prepared.X_holdout, fit_warnings)
    sample = holdout_sample(
        pipeline, prepared.engine_task, prepared.X_holdout, prepared.y_holdout, seed=seed
    )
    return TrainedModel(pipeline, meta, metrics, explain(pipeline), fit_warnings, baseline, sample)
