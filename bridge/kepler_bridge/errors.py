"""Map the exception tree to HTTP: typed JSON bodies, never a traceback."""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from kepler.core.errors import InvalidSpec, KeplerError

log = logging.getLogger("kepler.bridge")


def _response(exc: KeplerError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if exc.status == 429 and "retry_after_s" in exc.detail:
        headers = {"Retry-After": str(exc.detail["retry_after_s"])}
    return JSONResponse({"error": exc.to_dict()}, status_code=exc.status, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(KeplerError)
    async def _kepler(_: Request, exc: KeplerError) -> JSONResponse:
        return _response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
        return _response(InvalidSpec("the request is not valid: " + "; ".join(parts)))

    @app.exception_handler(ClientDisconnect)
    async def _disconnect(request: Request, _: ClientDisconnect) -> Response:
        # Not an error of the bridge: a client that went away (Splunk cancelled the
        # search, a notebook was interrupted). Nobody reads the answer.
        log.info("client went away during %s %s", request.method, request.url.path)
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        log.exception("internal error %s on %s %s", ref, request.method, request.url.path)
        return _response(
            KeplerError(f"internal error in the bridge (reference {ref}); its log has details")
        )
