"""`score`'s syntax, metrics and options (kepler.core.score): MLTK's lines parse, bad input
is refused with what is wrong and what works."""

from __future__ import annotations

import re

import pytest

from kepler.core.errors import BadParameter, InvalidSpec
from kepler.core.score import METRICS, check_score, parse_score

# SPL lines of MLTK's score documentation ("Scoring metrics in the Splunk Machine Learning
# Toolkit"), less the leading `| score`.
MLTK_LINES = [
    ("accuracy_score vehicleType against LR_prediction DT_prediction", 2),
    ('f1_score vehicleType against "predicted(vehicleType)" average=weighted', 1),
    ("confusion_matrix vehicleType against DT_prediction", 1),
    (
        'roc_auc_score vehicleType against "probability(vehicleType=2013 Audi RS5)" '
        'pos_label="2013 Audi RS5"',
        1,
    ),
    ("r2_score response_time against predicted(response_time)", 1),
    (
        "precision_recall_fscore_support used_by_malware against predicted(used_by_malware) "
        "average=weighted",
        1,
    ),
    ("ttest_1samp temp popmean=50", 0),
    ("ks_2samp temp against pressure alpha=0.01", 1),
]


def _split(line: str) -> list[str]:
    """Splunk's raw_args: whitespace-separated, quoted parts (quotes kept) never split."""
    return re.findall(r'(?:[^\s"]+|"[^"]*")+', line)


@pytest.mark.parametrize(("line", "pairs"), MLTK_LINES)
def test_parse_mltk_lines(line: str, pairs: int) -> None:
    spec = parse_score(_split(line))
    assert spec.metric == line.split()[0]
    assert len(spec.pairs) == pairs
    assert all('"' not in f for f in spec.columns)


def test_parse_fills_mltk_defaults_and_types_options() -> None:
    spec = parse_score(_split("precision_score failure against predicted(failure)"))
    assert spec.options == {"average": "binary", "pos_label": "1"}
    spec = parse_score(_split("f1_score a against b average=None"))
    assert spec.options["average"] is None
    spec = parse_score(_split("accuracy_score a against b normalize=f"))
    assert spec.options == {"normalize": False}
    spec = parse_score(_split("ttest_ind a b against c d equal_var=false alpha=0.01"))
    assert spec.options == {"alpha": 0.01, "equal_var": False}
    assert spec.pairs == [("a", "c"), ("b", "d")]


def test_field_with_an_equals_sign_is_a_field() -> None:
    spec = parse_score(["roc_auc_score", "failure", "against", "probability(failure=yes)"])
    assert spec.against == ("probability(failure=yes)",)


def test_one_against_many_compares_each() -> None:
    spec = parse_score(_split("accuracy_score y against p1 p2 p3"))
    assert spec.pairs == [("y", "p1"), ("y", "p2"), ("y", "p3")]
    assert spec.columns == ["y", "p1", "p2", "p3"]


def test_unknown_metric_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidSpec) as err:
        parse_score(["accuracy", "a", "against", "b"])
    assert "unknown score metric 'accuracy'" in err.value.message
    for name in METRICS:
        assert name in err.value.message


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "score needs a metric"),
        (["accuracy_score", "a"], "needs a field after `against`"),
        (["accuracy_score", "against", "b"], "needs a field before `against`"),
        (["confusion_matrix", "a", "b", "against", "c", "d"], "exactly one field against one"),
        (["accuracy_score", "a", "b", "against", "c", "d", "e"], "got 2 against 3"),
        (["accuracy_score", "a", "against", "b", "against", "c"], "`against` once"),
        (["ttest_1samp", "a"], "needs popmean=<number>"),
        (["ttest_1samp", "a", "against", "b", "popmean=1"], "without `against`"),
        (["f1_score", "a", "against", "b", "averge=macro"], "its options: average, pos_label"),
        (["f1_score", "a", "against", "b", "average=mean"], "binary, micro, macro, weighted"),
        (["ks_2samp", "a", "against", "b", "alpha=1.5"], "alpha"),
        (["r2_score", "a", "against", "b", "multioutput=sum"], "raw_values, uniform_average"),
        (
            ["precision_recall_fscore_support", "a", "against", "b", "c"],
            "average=micro, macro or weighted",
        ),
    ],
)
def test_bad_input_says_what_is_wrong(args: list[str], fragment: str) -> None:
    with pytest.raises((InvalidSpec, BadParameter)) as err:
        parse_score(args)
    assert fragment in err.value.message


def test_check_score_takes_the_sdk_form() -> None:
    spec = check_score("F1_Score", "failure", "predicted(failure)", {"average": "macro"})
    assert (spec.metric, spec.fields, spec.against) == (
        "f1_score",
        ("failure",),
        ("predicted(failure)",),
    )
    assert spec.to_dict()["options"] == {"average": "macro", "pos_label": "1"}
