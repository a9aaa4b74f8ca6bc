"""The spine's apply measurements: ``Client.apply`` through the bridge against the loaded
pipeline's ``predict``, with two steps between that say where the difference goes:
Kepler's scoring function alone, and the SDK plus the bridge's scoring code with the HTTP
server taken out (an ``httpx.MockTransport``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pandas as pd

from bench.data import FEATURES, TARGET
from bench.machine import Timed, repeat
from bench.spine_fit import MODEL, model_store

if TYPE_CHECKING:
    from bench.context import Context


@dataclass
class Applied:
    predict: Timed
    predict_frame: Timed
    no_http: Timed
    bridge: Timed
    identical: bool  # the bridge's predictions equal the in-process ones

    def steps(self) -> list[tuple[str, Timed]]:
        return [
            ("in-process `pipeline.predict` (loaded with `ModelStore.load`)", self.predict),
            ("in-process `kepler.ml.outputs.predict_frame`", self.predict_frame),
            ("SDK + the bridge's scoring code, no HTTP (`httpx.MockTransport`)", self.no_http),
            ("`kp.apply` through the bridge (Arrow)", self.bridge),
        ]


def apply(ctx: Context, stack: Any, frame: pd.DataFrame, version: int) -> Applied:
    from kepler.ml.outputs import predict_frame

    X = frame[FEATURES].copy()  # new rows to score: the features only
    ref = f"{MODEL}@{version}"
    pipeline, meta = model_store(stack).load(MODEL, version)
    n = ctx.settings.repeats

    def step(what: str, fn: Any) -> tuple[Timed, Any]:
        ctx.log(f"{what}: warm-up + {n} timed")
        timed, out = repeat(fn, n)
        ctx.log(f"  median {timed.median:.2f} s")
        return timed, out

    predict, expected = step("in-process pipeline.predict", lambda: pipeline.predict(X))
    in_kepler, _ = step("in-process predict_frame", lambda: predict_frame(pipeline, meta, X))
    with stack.client(transport=_in_process_bridge(pipeline, meta)) as mock:
        no_http, _ = step("SDK + bridge scoring, no HTTP", lambda: mock.apply(X, ref))
    with stack.client(timeout=900) as client:
        bridge, scored = step("kp.apply through the bridge", lambda: client.apply(X, ref))
    column = scored[f"predicted({TARGET})"].to_numpy()
    return Applied(predict, in_kepler, no_http, bridge, bool(np.array_equal(column, expected)))


def _in_process_bridge(pipeline: Any, meta: Any) -> httpx.MockTransport:
    """An httpx transport answering ``/apply`` with the bridge's own scoring code and the
    model already loaded: what the bridge does per request, minus HTTP, ASGI and the
    version lookup."""
    from kepler.server.scoring import read_body, score_table, write_body

    def handle(request: httpx.Request) -> httpx.Response:
        table = read_body("arrow", request.content)
        scored = score_table(pipeline, meta, table, include_input=False)
        return httpx.Response(200, content=write_body("arrow", scored))

    return httpx.MockTransport(handle)
