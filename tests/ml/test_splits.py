"""Row splits: time-ordered folds and holdouts against scikit-learn's own splitters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold, StratifiedKFold, TimeSeriesSplit

from kepler.core.errors import DataError
from kepler.ml import splits


@pytest.mark.parametrize(
    ("n", "k", "gap"), [(10, 2, 0), (101, 5, 0), (100, 3, 4), (57, 4, 2), (6, 5, 0), (1000, 10, 25)]
)
def test_time_folds_are_scikit_learns_time_series_split(n: int, k: int, gap: int) -> None:
    ours = splits.time_folds(n, k, gap)
    theirs = list(TimeSeriesSplit(n_splits=k, gap=gap).split(np.zeros(n)))
    assert len(ours) == len(theirs) == k
    for (train, test), (want_train, want_test) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(train, want_train)
        np.testing.assert_array_equal(test, want_test)


def test_time_folds_on_shuffled_events_follow_the_time_column() -> None:
    # The same folds as TimeSeriesSplit on the rows sorted by time, mapped back.
    rng = np.random.default_rng(3)
    times = rng.permutation(200) * 60.0 + 1.7e9
    order = splits.time_order(pd.Series(times.astype(str)), "_time")
    np.testing.assert_array_equal(times[order], np.sort(times))
    by_time = np.argsort(times)
    sk = TimeSeriesSplit(n_splits=4, gap=3).split(np.zeros(200))
    for (train, test), (sk_train, sk_test) in zip(splits.time_folds(200, 4, 3), sk, strict=True):
        np.testing.assert_array_equal(order[train], by_time[sk_train])
        np.testing.assert_array_equal(order[test], by_time[sk_test])
        assert times[order[train]].max() < times[order[test]].min()


def test_time_holdout_is_the_latest_rows_after_a_gap() -> None:
    times = np.array([5, 1, 9, 3, 7, 2, 8, 0, 6, 4])
    order = np.argsort(times, kind="stable")
    train, holdout = splits.time_holdout(order, 0.3, gap=2)
    assert sorted(times[holdout]) == [7, 8, 9]
    assert sorted(times[train]) == [0, 1, 2, 3, 4]  # 5 and 6: the gap
    assert holdout is not None and len(set(train) & set(holdout)) == 0


def test_time_holdout_without_a_share_keeps_every_row() -> None:
    train, holdout = splits.time_holdout(np.arange(8), 0.0)
    assert holdout is None and list(train) == list(range(8))


def test_time_holdout_gap_too_large_is_refused() -> None:
    with pytest.raises(DataError, match="gap=9 leaves no training rows"):
        splits.time_holdout(np.arange(10), 0.2, gap=9)


def test_time_folds_too_few_rows_say_what_to_do() -> None:
    with pytest.raises(DataError, match="4 rows are too few for 5 time-ordered folds"):
        splits.time_folds(4, 5)


def test_time_order_reads_timestamps_and_epoch_text() -> None:
    stamps = pd.Series(pd.to_datetime(["2026-01-03", "2026-01-01", "2026-01-02"]))
    assert list(splits.time_order(stamps, "ts")) == [1, 2, 0]
    assert list(splits.time_order(pd.Series(["30", "10.5", "20"]), "_time")) == [1, 2, 0]


def test_time_order_refuses_rows_without_a_time() -> None:
    with pytest.raises(DataError, match=r"'_time' has no usable time in 1 of 3 rows"):
        splits.time_order(pd.Series(["1", "", "3"]), "_time")


def test_shuffled_folds_are_stratified_kfold_for_classes() -> None:
    labels = np.array(["a"] * 30 + ["b"] * 12)
    ours = splits.shuffled_folds(42, 3, labels, seed=7)
    theirs = StratifiedKFold(3, shuffle=True, random_state=7).split(np.zeros(42), labels)
    for (train, test), (want_train, want_test) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(test, want_test)
        np.testing.assert_array_equal(train, want_train)


def test_shuffled_folds_fall_back_to_kfold_for_a_rare_class() -> None:
    labels = np.array(["a"] * 20 + ["b"])  # one "b": cannot be in every fold
    ours = splits.shuffled_folds(21, 3, labels, seed=1)
    theirs = KFold(3, shuffle=True, random_state=1).split(np.zeros(21))
    for (_, test), (_, want_test) in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(test, want_test)


@pytest.mark.parametrize(
    ("split", "time_field", "features", "want"),
    [
        (None, None, ["x", "y"], "random"),
        (None, None, ["_time", "x"], "time"),
        (None, "ts", ["x"], "time"),
        ("random", None, ["_time", "x"], "random"),
        ("time", None, ["x"], "time"),
    ],
)
def test_resolve_defaults_to_time_order_on_time_indexed_data(
    split: str | None, time_field: str | None, features: list[str], want: str
) -> None:
    assert splits.resolve(split, time_field, features) == want
