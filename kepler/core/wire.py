"""The bridge's HTTP contract, written once: every path it serves and the job as it answers.

The bridge mounts its routers on these templates, the SDK (``kepler._client``) and the
search command (``kepler.searchcommand``) build their URLs with the functions below, and
both read job answers through :class:`JobView`. ``tests/core/test_wire.py`` holds the
templates to ``docs/openapi.json``. Standard library only: it runs in Splunk's Python.
"""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# -- path templates, as the bridge declares them ----------------------------------------

HEALTH = "/health"
V1 = "/v1"

ALGORITHMS = V1 + "/algorithms"
SPECS_PARSE = V1 + "/specs/parse"

AUDIT = V1 + "/audit"
AUDIT_DELETIONS = AUDIT + "/deletions"

DATASETS = V1 + "/datasets"
DATASET = DATASETS + "/{dataset_id}"
DATASET_CHUNK = DATASET + "/chunks/{seq}"
DATASET_COMPLETE = DATASET + "/complete"
DATASET_APPLY = DATASET + "/apply"

HEC = V1 + "/hec"

JOBS = V1 + "/jobs"
FIT_JOBS = JOBS + "/fit"
AUTOML_JOBS = JOBS + "/automl"
APPLY_JOBS = JOBS + "/apply"
JOB = JOBS + "/{job_id}"

MODELS = V1 + "/models"
MODEL = MODELS + "/{ref}"  # GET takes a reference (pump, pump@3, pump:production)
MODEL_NAME = MODELS + "/{name}"  # DELETE takes a model's name alone
MODEL_ALIAS = MODEL_NAME + "/aliases/{alias}"
MODEL_APPLY = MODEL + "/apply"
MODEL_DRIFT = MODEL + "/drift"  # POST a window of events: one row per field
MODEL_BASELINE = MODEL + "/baseline"  # POST rows to make a version's drift baseline

SCHEDULES = V1 + "/schedules"
SCHEDULE = SCHEDULES + "/{name}"
SCHEDULE_RUN = SCHEDULE + "/run"
SCHEDULE_RUNS = SCHEDULE + "/runs"

PATHS = (
    HEALTH,
    ALGORITHMS,
    SPECS_PARSE,
    AUDIT_DELETIONS,
    DATASETS,
    DATASET,
    DATASET_CHUNK,
    DATASET_COMPLETE,
    DATASET_APPLY,
    HEC,
    JOBS,
    FIT_JOBS,
    AUTOML_JOBS,
    APPLY_JOBS,
    JOB,
    MODELS,
    MODEL,
    MODEL_NAME,
    MODEL_ALIAS,
    MODEL_APPLY,
    MODEL_DRIFT,
    MODEL_BASELINE,
    SCHEDULES,
    SCHEDULE,
    SCHEDULE_RUN,
    SCHEDULE_RUNS,
)


def under(prefix: str, template: str) -> str:
    """``template`` relative to a router's ``prefix`` (``""`` for the prefix itself), as a
    FastAPI route under that prefix declares it."""
    if template != prefix and not template.startswith(prefix + "/"):
        raise ValueError(f"{template!r} is not under {prefix!r}")
    return template[len(prefix) :]


# -- concrete paths ------------------------------------------------------------------------


# What urllib.parse.quote(..., safe="@:") leaves as is (urllib is no part of the core).
_SAFE = frozenset(string.ascii_letters + string.digits + "_.-~@:")


def _segment(value: object) -> str:
    """One path segment: model references keep ``@`` and ``:``; anything else a valid name
    cannot hold (``/``, ``?``, spaces) is percent-encoded, never read as structure."""
    return "".join(chr(b) if chr(b) in _SAFE else f"%{b:02X}" for b in str(value).encode("utf-8"))


def dataset(dataset_id: str) -> str:
    return f"{DATASETS}/{_segment(dataset_id)}"


def chunk(dataset_id: str, seq: int) -> str:
    return f"{dataset(dataset_id)}/chunks/{int(seq)}"


def complete(dataset_id: str) -> str:
    return f"{dataset(dataset_id)}/complete"


def dataset_apply(dataset_id: str) -> str:
    return f"{dataset(dataset_id)}/apply"


def jobs(kind: str) -> str:
    """Where a job of ``kind`` (``fit``, ``automl``, ``apply``) is created."""
    path = f"{JOBS}/{kind}"
    if path not in (FIT_JOBS, AUTOML_JOBS, APPLY_JOBS):
        raise ValueError(f"no job kind {kind!r}")
    return path


def job(job_id: str) -> str:
    return f"{JOBS}/{_segment(job_id)}"


def model(ref: object) -> str:
    """``ref``: a :class:`~kepler.core.refs.ModelRef` or its text, or a model name."""
    return f"{MODELS}/{_segment(ref)}"


def apply(ref: object) -> str:
    return f"{model(ref)}/apply"


def drift(ref: object) -> str:
    return f"{model(ref)}/drift"


def baseline(ref: object) -> str:
    return f"{model(ref)}/baseline"


def alias(name: str, alias: str) -> str:
    return f"{model(name)}/aliases/{_segment(alias)}"


def schedule(name: str) -> str:
    return f"{SCHEDULES}/{_segment(name)}"


def schedule_run(name: str) -> str:
    return f"{schedule(name)}/run"


def schedule_runs(name: str) -> str:
    return f"{schedule(name)}/runs"


# -- answers -------------------------------------------------------------------------------

FINISHED = ("succeeded", "failed", "cancelled")


@dataclass(frozen=True)
class JobView:
    """One job as the bridge answers it (``GET /v1/jobs/{job_id}`` and every route that
    creates or lists jobs): the server's job record plus ``duration_s``."""

    id: str
    kind: str = ""
    state: str = "queued"
    spec: dict[str, Any] = field(default_factory=dict)
    model: str | None = None
    dataset_id: str | None = None
    progress: float = 0.0
    message: str = ""
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    worker: str | None = None
    created_at: float | None = None
    updated_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    user: str | None = None
    attempts: int = 0
    heartbeat_at: float | None = None
    duration_s: float | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobView:
        """Read a job answer; fields a newer bridge adds are left out, fields an older one
        lacks take their defaults (``progress`` and ``message`` may come back null)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("progress") is None:
            values.pop("progress", None)
        if values.get("message") is None:
            values.pop("message", None)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def succeeded(self) -> bool:
        return self.state == "succeeded"

    @property
    def percent(self) -> int:
        """Progress as a whole percentage."""
        return round(100 * float(self.progress or 0))

    @property
    def outcome(self) -> dict[str, Any]:
        """``result``, or ``{}`` while there is none."""
        return self.result or {}
