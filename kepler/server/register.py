"""Bring your own model, the server's side: a skops file, its description and the rows of
``data=`` in, a new version of the named model out, stored as every fitted version is (so
``apply``, the model cache, schedules, monitors and ``summary`` use it unchanged).

The rows (an Arrow IPC stream) become the version's drift baseline before the version is
made: rows that cannot be read or scored refuse the whole registration (422), so a
version never exists without the baseline it was sent with.

The model is read by :func:`kepler.ml.trusted.load_model` (never unpickled: a type outside
the trusted list is refused by name). The version records who registered it (the
caller's identity, as a fit records its user) and the environment the client says it was
built in: its Python, its installed packages and the requirements the caller gave, in the
version's lineage (``summary`` shows them) and as ``kepler.registered.*`` tags.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from kepler.core.errors import DataError, KeplerError
from kepler.core.refs import validate_model_name
from kepler.core.wire import ModelRegister

if TYPE_CHECKING:
    from kepler.ml.training import TrainedModel
    from kepler.server.context import ServerContext

FORMAT = "skops"
BASELINE_SOURCE = "register"  # a baseline's source: kp.register's data=
UNPACKED_FACTOR = 8  # a skops file may unpack to this many times its size, no more


def register_model(
    ctx: ServerContext,
    name: str,
    request: ModelRegister,
    model: bytes,
    data: bytes = b"",
    *,
    user: str | None,
) -> dict[str, Any]:
    """Register the skops file ``model`` as the next version of ``name``, with the drift
    baseline of ``data`` (an Arrow IPC stream of rows; none when empty); its answer is
    what ``GET /v1/models/{name}@{version}`` says of it."""
    from kepler.core.refs import ModelRef
    from kepler.ml.byom import registered_model
    from kepler.ml.trusted import load_model

    validate_model_name(name)
    limit = ctx.settings.register_max_bytes * UNPACKED_FACTOR
    estimator = load_model(model, max_unpacked_bytes=limit)
    trained = registered_model(estimator, request)
    if data:
        trained = with_baseline(trained, data)
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


def with_baseline(trained: TrainedModel, data: bytes) -> TrainedModel:
    """``trained`` with the drift baseline of the rows in ``data`` (an Arrow IPC stream);
    rows that cannot be read or scored are refused with :class:`DataError`."""
    import pyarrow as pa

    from kepler.ml.monitoring import make_baseline

    try:
        with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
            frame = reader.read_all().to_pandas()
    except (pa.ArrowException, ValueError, OSError) as exc:  # what a damaged stream raises
        raise DataError(
            f"the rows of data= are not an Arrow IPC stream ({exc}); kp.register sends a "
            "DataFrame as one, and `kepler model register --data` a CSV or Parquet file",
            detail={"parameter": "data"},
        ) from None
    try:
        baseline = make_baseline(trained.pipeline, trained.meta, frame, source=BASELINE_SOURCE)
    except KeplerError:
        raise
    except Exception as exc:  # the model cannot score the rows: nothing is registered
        raise DataError(
            f"the model cannot score the rows of data= to make its drift baseline "
            f"({type(exc).__name__}: {exc}); send the rows it was trained on, with its "
            "features' names and types",
            detail={"parameter": "data"},
        ) from None
    return dataclasses.replace(trained, baseline=baseline)
