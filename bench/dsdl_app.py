"""DSDL's way of scoring, for ``bench.splunk_apply``: a FastAPI app modelled on the
``/apply`` endpoint of DSDL's container (``app/main.py``, DSDL 5.x), run under uvicorn on
loopback.

Each request is ``{"data": "<one chunk as a CSV string>", "meta": {...}}``; the endpoint
reads the JSON, parses the string with ``pandas.read_csv``, predicts with the model, and
answers ``{"status": "success", "results": "<the frame with the prediction, as a CSV
string from DataFrame.to_csv>"}``, as DSDL does. Two things are kinder than DSDL: the
model is loaded once at start (DSDL 5.2's ``/apply`` re-imports the algorithm module and
reloads the model on every request) and nothing is printed per request.

    python -m bench.dsdl_app <port> <pickled pipeline> <feature,feature,...>
"""

from __future__ import annotations

import io
import pickle
import sys
from typing import Any

import pandas as pd
from fastapi import FastAPI, Request

OUTPUT = "predicted(label)"


def create_app(pipeline: Any, features: list[str]) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/apply")
    async def apply(request: Request) -> dict[str, Any]:
        payload = await request.json()
        df = pd.read_csv(io.StringIO(payload["data"]))
        df[OUTPUT] = pipeline.predict(df[features])
        return {
            "status": "success",
            "message": "/apply done successfully",
            "results": df.to_csv(index=False),
        }

    return app


def main() -> None:
    import uvicorn

    port, model, features = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(",")
    with open(model, "rb") as f:
        pipeline = pickle.load(f)  # noqa: S301 - the benchmark wrote it
    uvicorn.run(create_app(pipeline, features), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
