"""Promote and compare, over the real stack (bridge, worker, MLflow on SQLite) and the
loopback HEC double: alias moves need the admin token and are recorded with who and from
which version, ``summary`` shows them, ``compare`` puts two real versions side by side,
and ``apply ... shadow=`` answers with the champion and sends the challenger's agreement."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from kepler._stack import LocalStack, wait_until
from kepler.core.errors import Forbidden
from tests.hec.receiver import HecReceiver, Token

pytestmark = pytest.mark.system

HEC_TOKEN = str(uuid.uuid4())


@pytest.fixture(scope="module")
def receiver() -> Iterator[HecReceiver]:
    with HecReceiver(tokens={HEC_TOKEN: Token(ack=False, indexes={"kepler", "main"})}) as rx:
        yield rx


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, receiver: HecReceiver) -> Iterator[LocalStack]:
    env = {
        "KEPLER_HEC_URL": receiver.url,
        "KEPLER_HEC_TOKEN": HEC_TOKEN,
        "KEPLER_HEC_INDEX": "kepler",
        "KEPLER_HEC_LINGER": "0.05",
    }
    with LocalStack(tmp_path_factory.mktemp("promote-stack"), extra_env=env) as s:
        yield s


def sensors(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    temp = rng.uniform(10, 90, n) + shift
    vibration = rng.uniform(0, 5, n)
    failure = np.where((temp > 60) & (vibration > 2.5), "yes", "no")
    return pd.DataFrame({"temp": temp, "vibration": vibration, "failure": failure})


@pytest.fixture(scope="module")
def pump(stack: LocalStack) -> str:
    """Three versions of one classifier: 1 and 2 differ in max_depth, 3 in its data too."""
    with stack.client() as c:
        for depth, shift, seed in ((2, 0.0, 1), (6, 0.0, 1), (6, 25.0, 2)):
            c.fit(
                sensors(600, seed, shift),
                "DecisionTreeClassifier",
                target="failure",
                features=["temp", "vibration"],
                into="pump",
                max_depth=depth,
                progress=False,
            )
    return "pump"


def in_index(rx: HecReceiver, sourcetype: str) -> list[dict]:
    with rx.lock:
        return [e["event"] for e in rx.events if e.get("sourcetype") == sourcetype]


def test_promote_with_the_user_token_is_refused_naming_the_role(
    stack: LocalStack, pump: str
) -> None:
    with stack.user_client() as user:
        with pytest.raises(Forbidden) as refused:
            user.promote(f"{pump}@2", "production")
        assert "moving a model alias" in refused.value.message
        assert "'kepler_admin'" in refused.value.message
        with pytest.raises(Forbidden):
            user.unalias(pump, "production")
    with stack.client() as admin:
        assert admin.summary(pump)["alias_moves"] == []  # the refusals moved nothing


def test_every_move_is_recorded_from_and_to_and_summary_shows_it(
    stack: LocalStack, pump: str
) -> None:
    with stack.client() as admin:
        first = admin.promote(f"{pump}@1", "production")
        assert (first["from_version"], first["version"]) == (None, 1)
        moved = admin.promote(f"{pump}@2", "production")
        assert (moved["from_version"], moved["version"]) == (1, 2)
        admin.promote(pump, "staging")  # the latest version: 3
        removed = admin.unalias(pump, "staging")
        assert removed["removed"] is True and removed["from_version"] == 3

        summary = admin.summary(f"{pump}:production")
        assert summary["version"] == 2 and summary["aliases"] == ["production"]
        moves = [(m["alias"], m["from_version"], m["to_version"]) for m in summary["alias_moves"]]
        assert moves == [
            ("staging", 3, None),
            ("staging", None, 3),
            ("production", 1, 2),
            ("production", None, 1),
        ]
        assert all(m["user"] and m["at"] > 0 for m in summary["alias_moves"])

        audit = admin.alias_moves(name=pump)
        assert list(audit["alias"]) == ["staging", "staging", "production", "production"]
        assert str(audit["at"].dtype).startswith("datetime64")


def test_compare_puts_two_versions_side_by_side(stack: LocalStack, pump: str) -> None:
    with stack.client() as c:
        table = c.compare(f"{pump}@1", f"{pump}@2")
        assert list(table.columns) == ["item", "pump@1", "pump@2", "changed", "detail"]
        rows = table.set_index("item")
        assert rows.loc["param.max_depth", "pump@1"] == 2
        assert rows.loc["param.max_depth", "pump@2"] == 6
        assert bool(rows.loc["param.max_depth", "changed"]) is True
        assert bool(rows.loc["algorithm", "changed"]) is False
        assert rows.loc["features", "pump@1"] == "temp,vibration"
        assert any(i.startswith("metric.") for i in rows.index)
        # Same data: the same fingerprints, and no drift between the baselines.
        assert bool(rows.loc["data.content_hash", "changed"]) is False
        assert bool(rows.loc["data.schema_hash", "changed"]) is False
        assert bool(rows.loc["drift.temp", "changed"]) is False

        shifted = c.compare(f"{pump}@2", f"{pump}@3").set_index("item")
        assert bool(shifted.loc["data.content_hash", "changed"]) is True
        assert bool(shifted.loc["data.schema_hash", "changed"]) is False  # same columns
        assert bool(shifted.loc["drift.temp", "changed"]) is True  # temp moved by 25
        assert bool(shifted.loc["drift.vibration", "changed"]) is False
        assert "threshold" in shifted.loc["drift.temp", "detail"]


def test_shadow_answers_the_champion_and_sends_the_agreement(
    stack: LocalStack, receiver: HecReceiver, pump: str
) -> None:
    rows = sensors(300, seed=9)[["temp", "vibration"]]
    with stack.client() as c:
        c.promote(f"{pump}@1", "champion")
        alone = c.apply(rows, f"{pump}:champion")
        shadowed = c.apply(rows, f"{pump}:champion", shadow=f"{pump}@2")
        challenger = c.apply(rows, f"{pump}@2")
    pd.testing.assert_frame_equal(shadowed, alone)  # the champion's output, unchanged
    expected = float((alone["predicted(failure)"] == challenger["predicted(failure)"]).mean())

    def event() -> dict | None:
        found = [e for e in in_index(receiver, "kepler:shadow") if e["champion"] == "pump@1"]
        return found[0] if found else None

    wait_until(lambda: event() is not None, 30, "a kepler:shadow event")
    got = event()
    assert got is not None
    assert got["challenger"] == "pump@2" and got["rows"] == 300
    assert got["agreement"] == pytest.approx(expected)
    assert "error" not in got
