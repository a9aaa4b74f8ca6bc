"""Retraining gates: a small expression language that says when a new version may move an
alias, read by a tokenizer of its own (never ``eval``).

Grammar (:data:`GRAMMAR`)::

    gate     := clause (("and" | ",") clause)*
    clause   := metric op operand
    op       := ">=" | "<=" | ">" | "<" | "=="
    operand  := number | alias "." metric [("+" | "-") number]
    metric   := a metric name such as f1, accuracy, r2, rmse
    alias    := an alias of the model such as production

``f1>=production.f1-0.01`` passes when the new version's f1 on its holdout is at least the
f1 that the version ``production`` points at scores on that same holdout, less 0.01.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from kepler.core.errors import InvalidSpec

GRAMMAR = (
    "a gate is one or more clauses joined by 'and' (or ','), each 'metric op operand': op "
    "is >=, <=, >, < or ==; operand is a number, or '<alias>.<metric>' optionally +/- a "
    'number; e.g. "f1>=production.f1-0.01" or "accuracy>=0.9 and r2>production.r2"'
)
MAX_GATE = 500
MAX_CLAUSES = 10
_OPS = (">=", "<=", "==", ">", "<")
_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)"
    r"|(?P<op>>=|<=|==|>|<)|(?P<sign>[+-])|(?P<comma>,))"
)


@dataclass(frozen=True)
class Clause:
    metric: str
    op: str
    alias: str | None = None  # None: compare with ``offset`` alone
    ref_metric: str | None = None
    offset: float = 0.0

    @property
    def text(self) -> str:
        if self.alias is None:
            return f"{self.metric}{self.op}{self.offset:g}"
        tail = "" if not self.offset else f"{'+' if self.offset > 0 else '-'}{abs(self.offset):g}"
        return f"{self.metric}{self.op}{self.alias}.{self.ref_metric}{tail}"


@dataclass(frozen=True)
class Gate:
    clauses: tuple[Clause, ...]

    @property
    def text(self) -> str:
        return " and ".join(c.text for c in self.clauses)

    def aliases(self) -> tuple[str, ...]:
        """The aliases the gate compares with, in order of first mention."""
        seen: dict[str, None] = {}
        for c in self.clauses:
            if c.alias is not None:
                seen[c.alias] = None
        return tuple(seen)

    def decide(
        self, new: Mapping[str, float], others: Mapping[str, Mapping[str, float] | None]
    ) -> tuple[bool, list[str]]:
        """Whether ``new`` (the new version's metrics) passes, and one reason per clause.

        ``others[alias]`` holds the aliased version's metrics on the same holdout, or
        ``None`` when the alias is not set: a clause against an unset alias passes (there
        is nothing to keep), and says so."""
        passed = True
        reasons: list[str] = []
        for c in self.clauses:
            value = new.get(c.metric)
            if value is None:
                passed = False
                reasons.append(f"{c.text}: the new version has no metric {c.metric!r}")
                continue
            if c.alias is None:
                bound = c.offset
                against = f"{c.offset:g}"
            else:
                theirs = others.get(c.alias)
                if theirs is None:
                    reasons.append(f"{c.text}: passes, {c.alias} is not set (nothing to keep)")
                    continue
                ref = theirs.get(c.ref_metric or "")
                if ref is None:
                    passed = False
                    reasons.append(f"{c.text}: {c.alias} has no metric {c.ref_metric!r}")
                    continue
                bound = ref + c.offset
                against = f"{c.alias}.{c.ref_metric}={ref:.6g}" + (
                    f"{'+' if c.offset > 0 else '-'}{abs(c.offset):g}" if c.offset else ""
                )
            ok = _compare(value, c.op, bound)
            passed = passed and ok
            reasons.append(
                f"{c.text}: {'passes' if ok else 'fails'}, "
                f"{c.metric}={value:.6g} {c.op if ok else _negate(c.op)} {against}"
            )
        return passed, reasons


def parse_gate(text: str) -> Gate:
    """The gate ``text`` says, or :class:`InvalidSpec` naming the fault and the grammar."""
    raw = (text or "").strip()
    if not raw:
        raise _bad(text, "it is empty")
    if len(raw) > MAX_GATE:
        raise _bad(text, f"it is longer than {MAX_GATE} characters")
    tokens = _tokens(raw, text)
    clauses: list[Clause] = []
    i = 0
    while True:
        clause, i = _clause(tokens, i, text)
        clauses.append(clause)
        if len(clauses) > MAX_CLAUSES:
            raise _bad(text, f"it has more than {MAX_CLAUSES} clauses")
        if i == len(tokens):
            break
        kind, value = tokens[i]
        if kind == "comma" or (kind == "name" and value.lower() == "and"):
            i += 1
            continue
        raise _bad(text, f"expected 'and' or the end after {clause.text!r}, found {value!r}")
    return Gate(tuple(clauses))


def _tokens(raw: str, text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(raw):
        m = _TOKEN.match(raw, pos)
        if m is None or m.end() == pos:
            if not raw[pos:].strip():
                break
            raise _bad(text, f"it cannot be read from {raw[pos:].strip()[:20]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _clause(tokens: list[tuple[str, str]], i: int, text: str) -> tuple[Clause, int]:
    def take(kind: str, what: str) -> str:
        nonlocal i
        if i >= len(tokens) or tokens[i][0] != kind:
            found = repr(tokens[i][1]) if i < len(tokens) else "the end"
            raise _bad(text, f"expected {what}, found {found}")
        i += 1
        return tokens[i - 1][1]

    metric = take("name", "a metric name")
    if "." in metric or metric.lower() == "and":
        raise _bad(text, f"a clause starts with the new version's metric, not {metric!r}")
    op = take("op", f"a comparison ({', '.join(_OPS)}) after {metric!r}")
    sign = 1.0
    if i < len(tokens) and tokens[i][0] == "sign":
        sign = -1.0 if tokens[i][1] == "-" else 1.0
        i += 1
        return Clause(metric, op, offset=sign * float(take("number", "a number"))), i
    if i < len(tokens) and tokens[i][0] == "number":
        return Clause(metric, op, offset=float(tokens[i][1])), i + 1
    ref = take("name", "a number or '<alias>.<metric>'")
    if "." not in ref:
        raise _bad(text, f"{ref!r} is neither a number nor '<alias>.<metric>'")
    alias, ref_metric = ref.split(".", 1)
    offset = 0.0
    if i < len(tokens) and tokens[i][0] == "sign":
        sign = -1.0 if tokens[i][1] == "-" else 1.0
        i += 1
        offset = sign * float(take("number", "a number after +/-"))
    return Clause(metric, op, alias=alias, ref_metric=ref_metric, offset=offset), i


def _compare(value: float, op: str, bound: float) -> bool:
    if op == ">=":
        return value >= bound
    if op == "<=":
        return value <= bound
    if op == ">":
        return value > bound
    if op == "<":
        return value < bound
    return value == bound


def _negate(op: str) -> str:
    return {">=": "<", "<=": ">", ">": "<=", "<": ">=", "==": "!="}[op]


def _bad(text: str, why: str) -> InvalidSpec:
    return InvalidSpec(
        f"gate {text!r} is not valid: {why}. {GRAMMAR}",
        detail={"gate": text, "grammar": GRAMMAR},
    )
