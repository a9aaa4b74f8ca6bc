"""The spine's fit measurements: ``Client.fit`` through a real stack, the same XGBoost fit
in-process, and in-process timings of the steps the worker adds around the fit.

The worker's time is broken down from the job record: its created, started and finished
times and each progress message with the time the worker wrote it (``updated_at``).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pandas as pd

from bench.data import FEATURES, TARGET
from bench.machine import Reading, measure
from kepler.core import wire

if TYPE_CHECKING:
    from bench.context import Context

MODEL = "bench_spine"
ALGORITHM = "XGBoostClassifier"
HOLDOUT = 0.2  # Kepler's default, passed explicitly
POLL_S = 0.2  # how often the timeline reads the job record
WARMUP_ROWS = 5_000


def xgb_params() -> dict[str, Any]:
    """The XGBoost parameters both sides use (``n_jobs``: every core of this machine)."""
    return {
        "n_estimators": 200,
        "max_depth": 8,
        "learning_rate": 0.1,
        "tree_method": "hist",
        "n_jobs": os.cpu_count() or 1,
        "random_state": 0,
    }


def worker_split(frame: pd.DataFrame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The training and holdout row positions the worker uses, from Kepler's own code:
    the labels as ``kepler.ml.frames`` reads them, split by ``kepler.ml.training._split``
    (a stratified ``train_test_split`` of ``round(n * holdout)`` rows seeded by
    ``random_state``). Calling it, not copying it, keeps the baseline on the worker's rows
    when that code changes."""
    from kepler.ml import frames
    from kepler.ml.training import _split

    present, labels = frames.class_labels(frame[TARGET])
    assert present.all(), "the synthetic target has no missing values"
    train, holdout = _split(len(frame), labels, HOLDOUT, seed)
    assert holdout is not None
    return train, holdout


# ----------------------------------------------------------------------- in-process


@dataclass
class Baseline:
    reading: Reading
    n_train: int
    metrics: dict[str, float]


class InProcess:
    """``XGBClassifier.fit`` on the rows the worker trains on, nothing else timed."""

    def __init__(self, frame: pd.DataFrame, params: dict[str, Any]) -> None:
        y = frame[TARGET].to_numpy()
        train, test = worker_split(frame, params["random_state"])
        self.X_train, self.y_train = frame[FEATURES].iloc[train], y[train]
        self.X_test, self.y_test = frame[FEATURES].iloc[test], y[test]
        self.params = params
        self.model: Any = None

    def fit(self, ctx: Context) -> Baseline:
        from sklearn import metrics as skm
        from xgboost import XGBClassifier

        ctx.log(f"in-process XGBClassifier.fit on {len(self.y_train):,} rows")
        model = XGBClassifier(**self.params)
        reading, _ = measure(lambda: model.fit(self.X_train, self.y_train))
        self.model = model
        ctx.log(f"  {reading.wall_s:.1f} s (other load {_pct(reading.others)})")
        proba = model.predict_proba(self.X_test)[:, 1]
        metrics = {
            "accuracy": float(skm.accuracy_score(self.y_test, proba > 0.5)),
            "roc_auc": float(skm.roc_auc_score(self.y_test, proba)),
        }
        return Baseline(reading, len(self.y_train), metrics)


def anatomy(
    ctx: Context, frame: pd.DataFrame, fitted: InProcess, pipeline: Any, meta: Any
) -> list[tuple[str, float]]:
    """Kepler's own functions for the steps around the fit, each timed once in-process
    on this run's rows: what the phases of ``kp.fit`` are made of, without HTTP, the
    broker or other processes."""
    import tempfile

    from kepler import _frames
    from kepler._settings import ClientSettings
    from kepler.ml.metrics import compute_metrics
    from kepler.ml.monitoring.baseline import fit_baseline
    from kepler.ml.pipeline import MedianImputer
    from kepler.server.datasets import DatasetStore

    ctx.log("in-process timings of Kepler's steps around the fit")
    out: list[tuple[str, float]] = []
    client_settings = ClientSettings()
    chunk_bytes = min(client_settings.upload_chunk_bytes, client_settings.chunk_bytes)

    def serialize() -> tuple[Any, list[Any]]:
        table = _frames.to_arrow(frame)
        pieces = list(_frames.slices(table, chunk_bytes))
        return table, [(p, _frames.ipc_bytes(p)) for p in pieces]

    reading, (table, pieces) = measure(serialize)
    out.append(
        ("SDK: DataFrame to Arrow, cut and serialized as IPC (`kepler._frames`)", reading.wall_s)
    )
    with tempfile.TemporaryDirectory(prefix="kepler-bench-store-") as root:
        store = DatasetStore(root)
        dataset_id = store.create("arrow")

        def write() -> None:
            for seq, (piece, body) in enumerate(pieces):
                store.write_part(
                    dataset_id,
                    seq,
                    piece.schema.remove_metadata(),
                    piece.to_batches(),
                    sha256="0" * 64,
                    raw_bytes=len(body),
                )

        out.append(
            (
                "bridge: the chunks written as Parquet parts (`DatasetStore.write_part`)",
                measure(write)[0].wall_s,
            )
        )
        store.complete(dataset_id, len(pieces), table.num_rows)
        out.append(
            (
                "worker: the dataset read back (`DatasetStore.read_frame`)",
                measure(lambda: store.read_frame(dataset_id))[0].wall_s,
            )
        )
    X_train = fitted.X_train
    out.append(
        (
            "worker: median imputation of the training rows (`MedianImputer` fit + "
            "transform, the pipeline's `prep`)",
            measure(lambda: MedianImputer().fit_transform(X_train))[0].wall_s,
        )
    )
    X_test, y_test = fitted.X_test, fitted.y_test
    out.append(
        (
            "worker: holdout metrics (`kepler.ml.metrics.compute_metrics` with the "
            "registered pipeline)",
            measure(lambda: compute_metrics(pipeline, "classifier", X_test, y_test))[0].wall_s,
        )
    )
    out.append(
        (
            "worker: the drift baseline (`fit_baseline`: a seeded sample profiled, the "
            "outputs scored on part of the holdout)",
            measure(lambda: fit_baseline(pipeline, meta, X_train, X_test))[0].wall_s,
        )
    )
    return out


# ------------------------------------------------------------------------ end to end


@dataclass
class EndToEnd:
    reading: Reading
    version: int
    metrics: dict[str, float]
    phases: list[tuple[str, float]]
    n_train: int
    upload_bytes: int
    stored_bytes: int
    chunks: int
    mlflow_run_s: float | None
    duration_s: float | None


class _Timeline(threading.Thread):
    """Reads a job's record every ``POLL_S`` and keeps each distinct progress message with
    the time the worker wrote it: exact times for every message that lived longer than
    one poll."""

    def __init__(self, stack: Any, job_id: str) -> None:
        super().__init__(daemon=True)
        self._client = stack.client()
        self._job_id = job_id
        self._done = threading.Event()
        self.events: list[tuple[float, str, str]] = []  # (written at, state, message)

    def run(self) -> None:
        seen: set[tuple[float, str]] = set()
        while not self._done.is_set():
            job = self._client.job(self._job_id)
            key = (job["updated_at"], job["message"])
            if key not in seen:
                seen.add(key)
                self.events.append((job["updated_at"], job["state"], job["message"]))
            if job["state"] in ("succeeded", "failed"):
                return
            self._done.wait(POLL_S)

    def stop(self) -> None:
        self._done.set()
        self.join()
        self._client.close()

    def first(self, *prefixes: str) -> float | None:
        times = [
            t for t, state, msg in self.events if state == "running" and msg.startswith(prefixes)
        ]
        return min(times) if times else None


PHASES = (
    "SDK: check the spec, to Arrow, upload, submit",
    "queue: broker to a worker process",
    "worker: read the dataset (Parquet to pandas)",
    "worker: target, features, holdout split",
    "worker: fit the pipeline (median imputer + XGBoost)",
    "worker: holdout metrics and importances",
    "worker: the drift baseline (a sample's profile, the outputs on the holdout)",
    "worker: register the version in MLflow",
    "SDK: notice the finished job (polls every 0.25 s)",
)


def _phases(
    t0: float, t_end: float, job: dict[str, Any], timeline: _Timeline, run_start: float | None
) -> list[tuple[str, float]]:
    starts = [
        t0,
        job["created_at"],
        job["started_at"],
        timeline.first("training", "checking", "reading the", "splitting"),
        timeline.first("fitting"),
        timeline.first("scoring", "explaining"),
        timeline.first("profiling the data"),
        # the MLflow run opens just after the message: the fallback when it went unseen
        timeline.first("registering") or run_start,
        job["finished_at"],
    ]
    known = [(name, t) for name, t in zip(PHASES, starts, strict=True) if t is not None]
    ends = [t for _, t in known[1:]] + [t_end]
    # A message replaced within one poll is never seen: its phase joins the one before.
    return [(name, end - start) for (name, start), end in zip(known, ends, strict=True)]


def warm_up(ctx: Context, stack: Any, frame: pd.DataFrame, params: dict[str, Any]) -> float:
    """Two small fits at once, so both worker processes import the ML libraries before
    the measured fits; returns the wall time of the pair (the cold start)."""
    ctx.log(f"warm-up: two fits of {WARMUP_ROWS:,} rows, one per worker process")
    small = frame.iloc[:WARMUP_ROWS]
    warm = {**params, "n_estimators": 10}
    t0 = time.perf_counter()
    with stack.client() as client:
        jobs = [
            client.fit(
                small,
                ALGORITHM,
                target=TARGET,
                features=FEATURES,
                into=f"bench_warmup_{i}",
                holdout=HOLDOUT,
                progress=False,
                wait=False,
                **warm,
            ).job_id
            for i in range(2)
        ]
        for job_id in jobs:
            client.wait(job_id, progress=False)
    cold = time.perf_counter() - t0
    ctx.log(f"  {cold:.1f} s")
    return cold


def end_to_end(ctx: Context, stack: Any, frame: pd.DataFrame, params: dict[str, Any]) -> EndToEnd:
    ctx.log(f"kp.fit through the stack on {len(frame):,} rows")
    timeline: _Timeline | None = None

    def fit() -> tuple[Any, float, float]:
        nonlocal timeline
        with stack.client(timeout=900) as client:
            t0 = time.time()
            # fit(wait=True) is exactly fit(wait=False) then wait(job_id): split here only
            # to learn the job id for the timeline.
            submitted = client.fit(
                frame,
                ALGORITHM,
                target=TARGET,
                features=FEATURES,
                into=MODEL,
                holdout=HOLDOUT,
                progress=False,
                wait=False,
                **params,
            )
            timeline = _Timeline(stack, submitted.job_id)
            timeline.start()
            try:
                return client.wait(submitted.job_id, progress=False), t0, time.time()
            finally:
                timeline.stop()

    reading, (result, t0, t_end) = measure(fit)
    assert timeline is not None and result.version is not None
    ctx.log(
        f"  {reading.wall_s:.1f} s (other load {_pct(reading.others)}), version {result.version}"
    )
    with stack.client() as client:
        job = client.job(result.job_id)
    manifest = httpx.get(
        stack.url + wire.dataset(wire.JobView.from_dict(job).outcome["dataset_id"]),
        headers={"Authorization": f"Bearer {stack.token}"},
    ).json()
    n_train, run_times = _registered(stack, result.version, result.run_id)
    run_s = None if run_times is None else run_times[1] - run_times[0]
    return EndToEnd(
        reading=reading,
        version=result.version,
        metrics=result.metrics,
        phases=_phases(t0, t_end, job, timeline, None if run_times is None else run_times[0]),
        n_train=n_train,
        upload_bytes=int(manifest["bytes"]),
        stored_bytes=int(manifest["stored_bytes"]),
        chunks=int(manifest["chunks"]),
        mlflow_run_s=run_s,
        duration_s=result.duration_s,
    )


def model_store(stack: Any) -> Any:
    """A :class:`~kepler.ml.store.ModelStore` on the stack's MLflow store."""
    from kepler.ml.store import ModelStore

    return ModelStore(
        f"sqlite:///{stack.home / 'mlflow.db'}", (stack.home / "mlartifacts").as_uri()
    )


def _registered(
    stack: Any, version: int, run_id: str | None
) -> tuple[int, tuple[float, float] | None]:
    """Rows the worker trained on (from the version's meta), and when its MLflow run
    opened and closed (``create_run`` to terminated: the registration), epoch seconds."""
    store = model_store(stack)
    _, meta = store.load(MODEL, version)
    times = None
    if run_id:
        info = store.client.get_run(run_id).info
        if info.end_time and info.start_time:
            times = (info.start_time / 1000, info.end_time / 1000)
    return int(meta.n_train), times


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f} %"
