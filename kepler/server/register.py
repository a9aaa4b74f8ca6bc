"""Bring your own model, the server's side: a skops file and its description in, a new
version of the named model out, stored as every fitted version is (so ``apply``, the
model cache, schedules, monitors and ``summary`` use it unchanged).

The model is read by :func:`kepler.ml.trusted.load_model` (never unpickled: a type outside
the trusted list is refused by name). The version records who registered it (the
caller's identity, as a fit records its user) and the environment the client says it was
built in: its Python, its installed packages and the requirements the caller gave, in the
version's lineage (``summary`` shows them) and as ``kepler.registered.*`` tags.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kepler.core.refs import validate_model_name
from kepler.core.wire import ModelRegister

if TYPE_CHECKING:
    from kepler.server.context import ServerContext

FORMAT = "skops"
UNPACKED_FACTOR = 8  # a skops file may unpack to this many times its size, no more


def register_model(
    ctx: ServerContext,
    name: str,
    request: ModelRegister,
    model: bytes,
    *,
    user: str | None,
) -> dict[str, Any]:
    """Register the skops file ``model`` as the next version of ``name``; its answer is
    what ``GET /v1/models/{name}@{version}`` says of it."""
    from kepler.core.refs import ModelRef
    from kepler.ml.byom import registered_model
    from kepler.ml.trusted import load_model

    validate_model_name(name)
    limit = ctx.settings.register_max_bytes * UNPACKED_FACTOR
    estimator = load_model(model, max_unpacked_bytes=limit)
    trained = registered_model(estimator, request)
    environment = {
        "format": FORMAT,
        "bytes": len(model),
        "python": request.python,
        "packages": dict(sorted(request.packages.items())),
        "requirements": list(request.requirements),
        "user": user,
    }
    lineage: dict[str, Any] = {"registered": environment}
    if request.description:
        lineage["description"] = request.description
    tags = {
        "kepler.registered": "true",
        "kepler.registered.format": FORMAT,
        **({"kepler.registered.python": request.python} if request.python else {}),
        **(
            {"kepler.registered.requirements": ";".join(request.requirements)}
            if request.requirements
            else {}
        ),
    }
    version = ctx.models.register(trained, name, lineage=lineage, user=user, tags=tags)
    ctx.telemetry.event(
        "kepler:model",
        {
            "action": "registered",
            "model": version.name,
            "version": version.version,
            "algorithm": trained.meta.algorithm,
            "user": user,
            "python": request.python,
        },
    )
    out: dict[str, Any] = ctx.models.describe(ModelRef(version.name, version=version.version))
    return out
