"""The alias moves audit trail on a real SQLite database."""

from __future__ import annotations

from kepler.server.context import ServerContext


def test_moves_are_listed_latest_first_with_from_and_to(ctx: ServerContext) -> None:
    moves = ctx.alias_moves
    moves.record("pump", "production", from_version=None, to_version=1, user="ann", roles=["admin"])
    moves.record("pump", "production", from_version=1, to_version=2, user="bob")
    moves.record("valve", "staging", from_version=None, to_version=4, user="bob")
    moves.record("pump", "production", from_version=2, to_version=None, user="ann")

    pump = moves.list(model="pump")
    assert [(m.from_version, m.to_version) for m in pump] == [(2, None), (1, 2), (None, 1)]
    assert [m.user for m in pump] == ["ann", "bob", "ann"]
    assert pump[-1].roles == ["admin"] and pump[0].roles == []
    assert pump[0].at >= pump[1].at >= pump[2].at
    assert [m.model for m in moves.list(limit=2)] == ["pump", "valve"]
    assert moves.list(model="nosuch") == []
    assert pump[0].to_dict()["alias"] == "production"
