"""Moving a model's aliases (promotion): set or remove ``name:alias`` in the registry and
record the move (who, when, from which version to which) in the jobs database.

The bridge's alias routes call these; the admin-level check is the route's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kepler.core.errors import VersionNotFound
from kepler.core.refs import ModelRef

if TYPE_CHECKING:
    from kepler.server.context import ServerContext


def current_version(ctx: ServerContext, name: str, alias: str) -> int | None:
    """The version ``name:alias`` points at now; None when the alias is not set (an
    unknown model raises :class:`~kepler.core.errors.ModelNotFound`)."""
    try:
        return ctx.models.resolve(ModelRef(name, alias=alias)).version
    except VersionNotFound:
        return None


def move_alias(
    ctx: ServerContext,
    name: str,
    alias: str,
    version: int,
    *,
    user: str,
    roles: tuple[str, ...] | list[str] = (),
) -> dict[str, Any]:
    """Point ``name:alias`` at ``version`` and record the move."""
    before = current_version(ctx, name, alias)
    ctx.models.set_alias(name, alias, version)
    ctx.cache.forget(name)  # the next apply or predict of name:alias sees the move
    ctx.telemetry.aliased(name, alias, version, user=user)
    move = ctx.alias_moves.record(
        name, alias, from_version=before, to_version=int(version), user=user, roles=roles
    )
    return {
        "model": name,
        "alias": alias,
        "version": int(version),
        "from_version": before,
        "user": user,
        "at": move.at,
    }


def remove_alias(
    ctx: ServerContext,
    name: str,
    alias: str,
    *,
    user: str,
    roles: tuple[str, ...] | list[str] = (),
) -> dict[str, Any]:
    """Remove ``name:alias`` (its version stays) and record the move."""
    before = current_version(ctx, name, alias)
    ctx.models.delete_alias(name, alias)  # a missing alias: NotFound naming the aliases
    ctx.cache.forget(name)
    move = ctx.alias_moves.record(
        name, alias, from_version=before, to_version=None, user=user, roles=roles
    )
    return {
        "model": name,
        "alias": alias,
        "removed": True,
        "from_version": before,
        "user": user,
        "at": move.at,
    }
