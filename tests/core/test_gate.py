"""Retraining gates (kepler.core.gate): what they read, what they decide, what they refuse."""

from __future__ import annotations

import pytest

from kepler.core.errors import InvalidSpec
from kepler.core.gate import GRAMMAR, Clause, parse_gate


def test_parse_gate_reads_an_alias_reference_with_an_offset() -> None:
    gate = parse_gate("f1>=production.f1-0.01")
    assert gate.clauses == (Clause("f1", ">=", alias="production", ref_metric="f1", offset=-0.01),)
    assert gate.aliases() == ("production",)
    assert parse_gate(gate.text) == gate  # the text it writes reads back the same


def test_parse_gate_reads_constants_and_several_clauses() -> None:
    gate = parse_gate(" accuracy >= 0.9 and r2>staging.r2 , rmse<=production.rmse + 1.5e-1")
    assert [c.text for c in gate.clauses] == [
        "accuracy>=0.9",
        "r2>staging.r2",
        "rmse<=production.rmse+0.15",
    ]
    assert gate.aliases() == ("staging", "production")
    assert parse_gate("loss<-2").clauses[0].offset == -2.0


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("f1", "expected a comparison"),
        ("f1 >> production.f1", "expected a number"),
        ("f1 >= production", "neither a number nor"),
        ("f1 >= production.f1 -", "expected a number after"),
        ("f1 >= 0.9 or r2 > 0", "expected 'and'"),
        ("__import__('os').system('x') > 1", "cannot be read"),
        ("production.f1 >= f1", "starts with the new version's metric"),
        ("f1 >= 0.9 and", "expected a metric name"),
        ("f1>=1 and " * 11 + "f1>=1", "more than 10 clauses"),
    ],
)
def test_parse_gate_refuses_a_malformed_gate_showing_the_grammar(text: str, why: str) -> None:
    with pytest.raises(InvalidSpec, match="is not valid") as err:
        parse_gate(text)
    assert why in err.value.message
    assert GRAMMAR in err.value.message


def test_decide_compares_with_the_aliased_version_on_the_same_holdout() -> None:
    gate = parse_gate("f1>=production.f1-0.01")
    passed, reasons = gate.decide({"f1": 0.905}, {"production": {"f1": 0.91}})
    assert passed
    assert reasons == ["f1>=production.f1-0.01: passes, f1=0.905 >= production.f1=0.91-0.01"]
    passed, reasons = gate.decide({"f1": 0.85}, {"production": {"f1": 0.91}})
    assert not passed and "fails, f1=0.85 < production.f1=0.91-0.01" in reasons[0]


def test_decide_every_clause_must_pass() -> None:
    gate = parse_gate("accuracy>=0.8 and f1>production.f1")
    passed, reasons = gate.decide({"accuracy": 0.9, "f1": 0.5}, {"production": {"f1": 0.6}})
    assert not passed and len(reasons) == 2
    assert "passes" in reasons[0] and "fails" in reasons[1]


def test_decide_an_unset_alias_passes_and_says_so_a_missing_metric_fails() -> None:
    gate = parse_gate("f1>=production.f1")
    passed, reasons = gate.decide({"f1": 0.1}, {"production": None})
    assert passed and "production is not set" in reasons[0]
    passed, reasons = gate.decide({"r2": 0.1}, {"production": {"f1": 0.5}})
    assert not passed and "no metric 'f1'" in reasons[0]
    passed, reasons = gate.decide({"f1": 0.9}, {"production": {"r2": 0.5}})
    assert not passed and "production has no metric 'f1'" in reasons[0]
