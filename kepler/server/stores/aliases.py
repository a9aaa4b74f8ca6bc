"""The alias moves audit trail: every time a model alias is set, moved or removed, who did
it, when, and from which version to which (a table of :mod:`kepler.server.db`)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import insert, select

from kepler.server.db import Database, alias_moves_table, from_row


@dataclass(frozen=True)
class AliasMove:
    """One move of ``model:alias``: ``from_version`` None when the alias is new,
    ``to_version`` None when it was removed."""

    id: int | None
    at: float  # epoch seconds
    user: str
    roles: list[str]
    model: str
    alias: str
    from_version: int | None
    to_version: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AliasMoves:
    """Record and list alias moves."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def record(
        self,
        model: str,
        alias: str,
        *,
        from_version: int | None,
        to_version: int | None,
        user: str,
        roles: tuple[str, ...] | list[str] = (),
    ) -> AliasMove:
        at = time.time()
        with self.db.engine.begin() as conn:
            done = conn.execute(
                insert(alias_moves_table).values(
                    at=at,
                    user_name=user,
                    roles=",".join(roles),
                    model=model,
                    alias=alias,
                    from_version=from_version,
                    to_version=to_version,
                )
            )
        key = done.inserted_primary_key[0] if done.inserted_primary_key else None
        return AliasMove(key, at, user, list(roles), model, alias, from_version, to_version)

    def list(self, *, limit: int = 100, model: str | None = None) -> list[AliasMove]:
        """The latest moves first (of ``model`` only, when given)."""
        t = alias_moves_table
        query = select(t).order_by(t.c.at.desc(), t.c.id.desc()).limit(limit)
        if model:
            query = query.where(t.c.model == model)
        with self.db.engine.connect() as conn:
            return [
                from_row(
                    AliasMove,
                    row,
                    columns={"user": "user_name"},
                    decode={"roles": lambda r: [x for x in (r or "").split(",") if x]},
                )
                for row in conn.execute(query)
            ]
