"""Request and response bodies of the bridge's API, and the two tabular media types."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

CSV = "text/csv"
ARROW = "application/vnd.apache.arrow.stream"


def media_format(content_type: str | None) -> str:
    """``"csv"`` or ``"arrow"`` from a Content-Type header (CSV when absent)."""
    ct = (content_type or CSV).split(";")[0].strip().lower()
    if ct in (ARROW, "application/vnd.apache.arrow.file", "application/x-arrow"):
        return "arrow"
    if ct in (CSV, "application/csv", "text/plain", "application/octet-stream"):
        return "csv"
    from kepler.core.errors import InvalidSpec

    raise InvalidSpec(f"unsupported Content-Type {ct!r}: send {CSV} or {ARROW}")


class SplunkSource(BaseModel):
    search: str | None = None
    earliest: str | None = None
    latest: str | None = None
    sid: str | None = None


class DatasetCreate(BaseModel):
    format: str = Field("csv", pattern="^(csv|arrow)$")
    source: SplunkSource | None = None
    name: str | None = Field(None, max_length=100)


class DatasetComplete(BaseModel):
    chunks: int | None = Field(None, ge=0)
    rows: int | None = Field(None, ge=0)


class FitRequest(BaseModel):
    dataset_id: str | None = None  # absent with dry_run: only the spec is checked
    # Either an SPL-style line ("fit RandomForestClassifier y from a b into m")...
    line: str | None = None
    # ...or the parts, as the SDK sends them.
    algorithm: str | None = None
    target: str | None = None
    features: list[str] = []
    params: dict[str, Any] = {}
    into: str | None = None
    output_name: str | None = None
    probabilities: bool = False
    holdout: float = Field(0.2, ge=0.0, le=0.9)
    by: list[str] = []  # one model per group of these fields
    partial_fit: bool = False  # continue the latest version of `into`
    split: str | None = None
    time_field: str | None = None
    kfold_cv: int | None = Field(None, ge=2, le=20)
    gap: int | None = Field(None, ge=0, le=100_000)
    lags: list[int] | None = Field(None, max_length=24)
    rolling: list[str] | None = Field(None, max_length=24)


class ApplyJobRequest(BaseModel):
    dataset_id: str
    model: str  # pump, pump@3 or pump:production; resolved to a version when queued
    index: str = Field(min_length=1)
    sourcetype: str | None = None
    output_name: str | None = None
    probabilities: bool | None = None
    # A challenger (pump@5, pump:challenger): pinned when queued, scored alongside.
    shadow: str | None = Field(None, min_length=1, max_length=300)


class RegisterRequest(BaseModel):
    """The JSON half of ``POST /v1/models/{name}/register`` (the other half: skops bytes)."""

    features: list[str] = Field(min_length=1, max_length=10_000)
    target: str | None = Field(None, min_length=1, max_length=255)
    feature_types: dict[str, str] = Field(default_factory=dict)
    requirements: list[str] = Field(default_factory=list, max_length=500)
    packages: dict[str, str] = Field(default_factory=dict)
    python: str | None = Field(None, max_length=64)
    description: str | None = Field(None, max_length=2000)


class AliasRequest(BaseModel):
    version: int = Field(ge=1)


class ReproduceRequest(BaseModel):
    force: bool = False  # go ahead when package versions differ; the difference is recorded


class ParseRequest(BaseModel):
    line: str


class AutoMLRequest(BaseModel):
    dataset_id: str | None = None  # absent with dry_run: only the spec is checked
    # Either an SPL-style line ("automl y from * into m time_budget=10m")...
    line: str | None = None
    # ...or the parts, as the SDK sends them (options as in the line; None: default).
    target: str | None = None
    features: list[str] = []
    into: str | None = None
    task: str | None = None
    time_budget: str | float | None = None  # seconds, or a duration such as "10m"
    metric: str | None = None
    algorithms: list[str] | None = None
    seed: int | None = None
    max_trials: int | None = None
    parallel: int | None = None
    cv: int | None = None
    holdout: float | None = None
    max_latency_ms_per_row: float | None = None
    max_model_mb: float | None = None
    max_false_positive_rate: float | None = None
    interpretable: bool | None = None
    use_case: str | None = None
    split: str | None = None
    time_field: str | None = None


class ScheduleRequest(BaseModel):
    """Every ``every`` (``5m``, ``30s``, ``1h``) run ``search`` over ``earliest``..``latest``
    (default: the interval just past), score it with ``model`` (``pump``, ``pump@3``,
    ``pump:production``) and write the scores via HEC into ``index``. With ``retrain``, fit
    ``spec`` (a fit line; default: the model's version's spec) on each interval into a new
    version and move ``alias`` to it when it passes ``gate`` (``f1>=production.f1-0.01``)."""

    name: str = Field(min_length=1, max_length=128)
    search: str = Field(min_length=1)
    model: str
    every: str = "5m"
    earliest: str | None = None
    latest: str | None = None
    index: str | None = None
    sourcetype: str | None = None
    start_now: bool = False
    # A challenger (pump@5, pump:challenger) scored alongside each run, agreement recorded.
    shadow: str | None = Field(None, min_length=1, max_length=200)
    retrain: bool = False
    gate: str | None = Field(default=None, max_length=500)
    alias: str | None = Field(default=None, max_length=64)
    spec: str | None = Field(default=None, max_length=4000)


class MonitorRequest(BaseModel):
    """Every ``every`` search ``search`` over the interval just past, compare its events
    with ``model``'s baseline and, with ``label``, score the labelled ones; write metric
    events via HEC into ``index`` (a metrics index)."""

    name: str = Field(min_length=1, max_length=128)
    search: str = Field(min_length=1, max_length=100_000)
    model: str = Field(min_length=1, max_length=200)
    every: str = Field("1h", max_length=32)
    label: str | None = Field(None, min_length=1, max_length=255)
    method: str = Field("auto", max_length=32)
    threshold: float | None = None  # checked (positive) with the method, naming both
    index: str | None = Field(None, max_length=128)
    start_now: bool = False


class ScoreRequest(BaseModel):
    """MLTK's ``score`` over an uploaded dataset; option values are checked (and typed) by
    the metric's declaration (kepler.core.score), which names a wrong one."""

    dataset_id: str = Field(..., max_length=200)
    metric: str = Field(..., max_length=100)
    fields: list[str] = Field(..., min_length=1, max_length=1000)
    against: list[str] = Field(default_factory=list, max_length=1000)
    options: dict[str, Any] = Field(default_factory=dict, max_length=20)
