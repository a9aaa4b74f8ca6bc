"""The Optuna search in process, on a real journal storage: seeds repeat, constraints
decide who may win, pruning stops a hopeless configuration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kepler.core.automl import AutoMLSpec
from kepler.core.errors import DataError
from kepler.ml.automl import search
from kepler.ml.automl.data import prepare
from kepler.ml.automl.space import candidates


def _xor(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """A class no linear model separates: trees win by far."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    return pd.DataFrame({"a": a, "b": b, "y": np.where(a * b > 0, "on", "off")})


def _run(tmp_path: Path, name: str, spec: AutoMLSpec, frame: pd.DataFrame, n: int) -> object:
    prepared = prepare(frame, spec, "classification", spec.metric or "f1")
    store = search.storage(f"journal:{tmp_path / name}.journal")
    search.create_study(store, name, spec.metric or "f1")
    pool = candidates("classifier", algorithms=spec.algorithms)
    for _ in range(n):
        study = search.load_study(store, name, seed=spec.seed, lane=0)
        search.run_trial(study, prepared, spec, pool)
    return search.load_study(store, name, seed=spec.seed, lane=0)


FAST = ("LogisticRegression", "DecisionTreeClassifier", "KNeighborsClassifier")


def test_seeded_serial_search_repeats_trial_by_trial(tmp_path: Path) -> None:
    frame = _xor()
    spec = AutoMLSpec(target="y", into="m", metric="accuracy", seed=7, algorithms=FAST)

    def configs(name: str, s: AutoMLSpec) -> list[str]:
        study = _run(tmp_path, name, s, frame, 5)
        return [t.user_attrs["config"] for t in study.get_trials()]  # type: ignore[attr-defined]

    first, again = configs("a", spec), configs("b", spec)
    assert first == again
    other = configs("c", AutoMLSpec(**{**spec.__dict__, "seed": 8}))
    assert other != first  # the seed, not luck, made them equal
    rows_a = search.leaderboard(_run(tmp_path, "a", spec, frame, 0), "accuracy")
    rows_b = search.leaderboard(_run(tmp_path, "b", spec, frame, 0), "accuracy")
    assert rows_a[0]["params"] == rows_b[0]["params"]
    assert [r["score"] for r in rows_a] == [r["score"] for r in rows_b]


def _enqueue_forest_and_logistic(tmp_path: Path, spec: AutoMLSpec) -> list[dict]:
    frame = _xor(300)
    prepared = prepare(frame, spec, "classification", "accuracy")
    store = search.storage(f"journal:{tmp_path / 'c'}.journal")
    search.create_study(store, "c", "accuracy")
    pool = candidates("classifier", algorithms=("RandomForestClassifier", "LogisticRegression"))
    study = search.load_study(store, "c", seed=0, lane=0)
    study.enqueue_trial(
        {
            "algorithm": "RandomForestClassifier",
            "RandomForestClassifier.n_estimators": 50,
            "RandomForestClassifier.max_depth": 20,
            "RandomForestClassifier.min_samples_leaf": 1,
            "RandomForestClassifier.max_features": 1.0,
        }
    )
    study.enqueue_trial(
        {
            "algorithm": "LogisticRegression",
            "LogisticRegression.C": 1.0,
            "LogisticRegression.class_weight": None,
            "LogisticRegression.interactions": False,
        }
    )
    for _ in range(2):
        search.run_trial(search.load_study(store, "c", seed=0, lane=0), prepared, spec, pool)
    return search.leaderboard(search.load_study(store, "c", seed=0, lane=0), "accuracy")


def test_a_trial_that_breaks_a_constraint_never_wins(tmp_path: Path) -> None:
    spec = AutoMLSpec(target="y", into="m", metric="accuracy", max_model_mb=0.05, seed=0)
    rows = _enqueue_forest_and_logistic(tmp_path, spec)
    forest = next(r for r in rows if r["algorithm"] == "RandomForestClassifier")
    logistic = next(r for r in rows if r["algorithm"] == "LogisticRegression")
    assert forest["score"] > logistic["score"] + 0.2  # the forest scores far better...
    assert forest["model_mb"] > 0.05 and not forest["feasible"]
    assert forest["violations"] and "size" in forest["violations"][0]
    assert rows[0] is logistic and logistic["rank"] == 1  # ...and still does not win
    assert search.winner(rows, spec) is logistic
    for row in rows:
        assert row["fit_seconds"] > 0 and row["latency_ms_per_row"] > 0 and row["worker"]


def test_when_every_trial_breaks_a_constraint_the_run_says_which(tmp_path: Path) -> None:
    spec = AutoMLSpec(target="y", into="m", metric="accuracy", max_latency_ms_per_row=1e-9)
    rows = _enqueue_forest_and_logistic(tmp_path, spec)
    assert not any(r["feasible"] for r in rows)
    with pytest.raises(DataError, match=r"none of the 2 trials met the constraints.*latency"):
        search.winner(rows, spec)


def test_hopeless_configuration_is_pruned_after_its_first_fold(tmp_path: Path) -> None:
    frame = _xor(300)
    spec = AutoMLSpec(target="y", into="m", metric="accuracy", cv=5, seed=0)
    prepared = prepare(frame, spec, "classification", "accuracy")
    store = search.storage(f"journal:{tmp_path / 'p'}.journal")
    search.create_study(store, "p", "accuracy")
    pool = candidates("classifier", algorithms=("DecisionTreeClassifier",))
    good = {
        "DecisionTreeClassifier.max_depth": 8,
        "DecisionTreeClassifier.min_samples_leaf": 1,
    }
    bad = {  # a stump of a tree, on XOR: a coin toss
        "DecisionTreeClassifier.max_depth": 2,
        "DecisionTreeClassifier.min_samples_leaf": 30,
    }
    study = search.load_study(store, "p", seed=0, lane=0)
    for params in [good] * search.PRUNE_AFTER + [bad]:
        study.enqueue_trial(params)
    for _ in range(search.PRUNE_AFTER + 1):
        search.run_trial(search.load_study(store, "p", seed=0, lane=0), prepared, spec, pool)
    study = search.load_study(store, "p", seed=0, lane=0)
    assert search.counts(study) == {
        "trials": 5,
        "complete": 4,
        "pruned": 1,
        "failed": 0,
        "running": 0,
    }
    pruned = study.get_trials()[-1]
    assert "after fold 1 of 5" in pruned.user_attrs["note"]
    assert len(search.leaderboard(study, "accuracy")) == 4  # pruned trials are not ranked


def test_interpretable_filter_keeps_only_models_that_explain_themselves() -> None:
    names = {c.algorithm for c in candidates("classifier", interpretable=True)}
    assert "LogisticRegression" in names and "RandomForestClassifier" in names
    assert not names & {"KNeighborsClassifier", "HistGradientBoostingClassifier"}
    robust = {c.algorithm for c in candidates("regressor", interpretable=True, robust=True)}
    assert "Ridge" not in robust and "RandomForestRegressor" in robust


def test_anomaly_detection_preset_scores_detectors_by_label_and_caps_false_positives(
    tmp_path: Path,
) -> None:
    from kepler.core.spec import parse

    rng = np.random.default_rng(0)
    normal = rng.normal(size=(400, 3))
    odd = rng.normal(loc=6.0, size=(12, 3))
    frame = pd.DataFrame(np.vstack([normal, odd]), columns=["a", "b", "c"])
    frame["broken"] = [0] * 400 + [1] * 12
    spec = parse("automl broken from a b c into detector use_case=anomaly_detection seed=0")
    assert isinstance(spec, AutoMLSpec)
    prepared = prepare(frame, spec, "anomaly", "roc_auc")
    assert prepared.engine_task == "outlier" and prepared.positive == 1
    store = search.storage(f"journal:{tmp_path / 'ad'}.journal")
    search.create_study(store, "ad", "roc_auc")
    pool = candidates("outlier", algorithms=("IsolationForest",))
    study = search.load_study(store, "ad", seed=0, lane=0)
    for contamination in (0.08, 0.002):  # one floods operators, one does not
        study.enqueue_trial(
            {
                "IsolationForest.n_estimators": 50,
                "IsolationForest.max_samples": 0.5,
                "IsolationForest.contamination": contamination,
            }
        )
    for _ in range(2):
        search.run_trial(search.load_study(store, "ad", seed=0, lane=0), prepared, spec, pool)
    rows = search.leaderboard(search.load_study(store, "ad", seed=0, lane=0), "roc_auc")
    assert len(rows) == 2
    for row in rows:
        fpr = row["metrics"]["false_positive_rate"]
        assert row["feasible"] == (fpr <= 0.01), row
        assert row["metrics"]["roc_auc"] > 0.9
    best = search.winner(rows, spec)
    assert best["params"]["contamination"] == 0.002
    trained = search.refit(best, prepared, spec)
    assert trained.meta.task == "outlier" and trained.meta.target is None
    flags = trained.pipeline.predict(prepared.X_holdout)
    assert set(np.unique(flags)) <= {-1, 1}


def test_a_trial_past_the_deadline_stops_after_its_current_fold(tmp_path: Path) -> None:
    import time

    spec = AutoMLSpec(target="y", into="m", metric="accuracy", seed=0, cv=4)
    prepared = prepare(_xor(), spec, "classification", "accuracy")
    store = search.storage(f"journal:{tmp_path / 'd'}.journal")
    search.create_study(store, "d", "accuracy")
    pool = candidates("classifier", algorithms=("DecisionTreeClassifier",))
    study = search.load_study(store, "d", seed=0, lane=0)
    search.run_trial(study, prepared, spec, pool, deadline=time.time() - 1)
    (trial,) = search.load_study(store, "d", seed=0, lane=0).get_trials()
    assert trial.state.name == "PRUNED"
    assert trial.user_attrs["note"] == "budget spent after fold 1 of 4"


def test_a_seeded_rounds_pruner_ignores_trials_of_its_own_round(tmp_path: Path) -> None:
    """Trials 4-9 (this round, finished early) score high; trial 10 reports 0.7 after its
    first fold. Against every trial the median is 0.95 and it would be pruned; against
    earlier rounds (0-3, all 0.5) it is not: finishing order within a round cannot matter."""
    import optuna

    store = search.storage(f"journal:{tmp_path / 'r'}.journal")
    search.create_study(store, "r", "accuracy")
    study = search.load_study(store, "r", seed=0)
    for value in [0.5] * 4 + [0.95] * 6:
        trial = study.ask()
        trial.report(value, 0)
        study.tell(trial, value)
    judged = study.ask()
    judged.report(0.7, 0)
    frozen = study.get_trials(deepcopy=False)[judged.number]
    assert judged.number == 10 and frozen.state == optuna.trial.TrialState.RUNNING
    everyone = search.load_study(store, "r", seed=0)
    assert bool(everyone.pruner.prune(everyone, frozen)) is True
    earlier = search.load_study(store, "r", seed=0, before=4)
    assert bool(earlier.pruner.prune(earlier, frozen)) is False


def test_a_process_keeps_only_its_most_recent_storages(tmp_path: Path) -> None:
    urls = [f"journal:{tmp_path / f'run{i}'}.journal" for i in range(search._STORAGES_KEEP + 3)]
    storages = search.Storages()
    opened = [storages.get(url) for url in urls]
    assert storages.get(urls[-1]) is opened[-1]  # reused while recent
    assert len(storages) <= search._STORAGES_KEEP
    assert urls[0] not in storages
    storages.discard(urls[-1])
    assert urls[-1] not in storages


def test_trials_tied_on_the_metric_are_ranked_by_its_tie_break(tmp_path: Path) -> None:
    """Accuracy moves in steps of a row per fold: on small data many trials tie. The one
    that separates the classes better (roc_auc) ranks first, not the earlier one."""
    import json

    import optuna

    store = search.storage(f"journal:{tmp_path / 't'}.journal")
    search.create_study(store, "t", "accuracy")
    study = search.load_study(store, "t", seed=0)
    dist = {"algorithm": optuna.distributions.CategoricalDistribution(["A", "B", "C"])}
    for name, accuracy, auc in (("A", 0.986, 0.9984), ("B", 0.986, 0.9988), ("C", 0.97, 1.0)):
        config = {"algorithm": name, "params": {}, "interactions": False, "select": None}
        study.add_trial(
            optuna.trial.create_trial(
                params={"algorithm": name},
                distributions=dist,
                # the same mean reached by other fold counts may differ in the last bits
                value=accuracy + (1e-15 if name == "A" else 0.0),
                user_attrs={
                    "algorithm": name,
                    "config": json.dumps(config),
                    "metrics": {"accuracy": accuracy, "roc_auc": auc},
                },
            )
        )
    rows = search.leaderboard(search.load_study(store, "t", seed=0), "accuracy")
    assert [r["algorithm"] for r in rows] == ["B", "A", "C"]
    assert [r["rank"] for r in rows] == [1, 2, 3]


def test_a_search_gives_every_algorithm_its_floor_and_starts_keep_theirs(
    tmp_path: Path,
) -> None:
    """The bandit picks each trial's algorithm (enqueued default starts keep their own),
    and TPE draws that algorithm's parameters: the algorithm recorded, the one in the
    trial's parameters and the one in its configuration agree."""
    import json

    from kepler.ml.automl import bandit
    from kepler.ml.automl.space import default_starts

    frame = _xor()
    spec = AutoMLSpec(target="y", into="m", metric="accuracy", seed=3, algorithms=FAST)
    prepared = prepare(frame, spec, "classification", "accuracy")
    pool = candidates("classifier", algorithms=FAST)
    store = search.storage(f"journal:{tmp_path / 'f'}.journal")
    search.create_study(store, "f", "accuracy", default_starts(pool))
    numbers = search.plan_round(store, "f", spec, pool, n_features=2, round_no=0, size=12)
    study = search.load_study(store, "f", seed=3, before=0)
    for number in numbers:
        search.run_planned(study, number, prepared, spec)
    trials = search.load_study(store, "f", seed=3).get_trials()
    picked = [t.user_attrs["algorithm"] for t in trials]
    assert picked[0] == "LogisticRegression"  # the one default start among FAST
    assert trials[0].params["LogisticRegression.C"] == 1.0
    for t in trials:
        assert t.params["algorithm"] == t.user_attrs["algorithm"]
        assert json.loads(t.user_attrs["config"])["algorithm"] == t.params["algorithm"]
    first = picked[: bandit.FLOOR * len(FAST)]
    assert sorted(first) == sorted(list(FAST) * bandit.FLOOR)
