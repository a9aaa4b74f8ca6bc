"""The bridge's HTTP contract, written once: every path it serves and the job as it answers.

The bridge mounts its routers on these templates, the SDK (``kepler._client``) and the
search command (``kepler.searchcommand``) build their URLs with the functions below, their
request bodies and query options with the :class:`Body` dataclasses, and read job answers
through :class:`JobView`. ``tests/core/test_wire.py`` holds the templates to
``docs/openapi.json`` and each body to the bridge's pydantic model of it (same fields, same
defaults), so the three sides cannot drift. Standard library only: it runs in Splunk's
Python.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, ClassVar, NamedTuple, TypeVar

from kepler.core.errors import InvalidSpec

# -- path templates, as the bridge declares them ----------------------------------------

HEALTH = "/health"
V1 = "/v1"

ALGORITHMS = V1 + "/algorithms"
SPECS_PARSE = V1 + "/specs/parse"

AUDIT = V1 + "/audit"
AUDIT_DELETIONS = AUDIT + "/deletions"
AUDIT_ALIASES = AUDIT + "/aliases"  # every alias move: who, when, from, to

DATASETS = V1 + "/datasets"
DATASET = DATASETS + "/{dataset_id}"
DATASET_CHUNK = DATASET + "/chunks/{seq}"
DATASET_COMPLETE = DATASET + "/complete"
DATASET_APPLY = DATASET + "/apply"
DATASET_ROWS = DATASET + "/rows"  # GET: the rows, as an Arrow IPC stream

HEC = V1 + "/hec"

JOBS = V1 + "/jobs"
FIT_JOBS = JOBS + "/fit"
AUTOML_JOBS = JOBS + "/automl"
APPLY_JOBS = JOBS + "/apply"
JOB = JOBS + "/{job_id}"

AUTOML_LEADERBOARD = V1 + "/automl/{ref}/leaderboard"  # ref: an AutoML job id or a model

MODELS = V1 + "/models"
MODEL = MODELS + "/{ref}"  # GET takes a reference (pump, pump@3, pump:production)
MODEL_NAME = MODELS + "/{name}"  # DELETE takes a model's name alone
MODEL_ALIAS = MODEL_NAME + "/aliases/{alias}"
MODEL_REGISTER = MODEL_NAME + "/register"  # POST a model fitted elsewhere (skops) + data, framed
MODEL_APPLY = MODEL + "/apply"
MODEL_PREDICT = MODEL + "/predict"  # the online path: a few rows answered as JSON
MODEL_DRIFT = MODEL + "/drift"  # POST a window of events: one row per field
MODEL_BASELINE = MODEL + "/baseline"  # POST rows to make a version's drift baseline
MODEL_COMPARE = MODEL + "/compare/{other}"  # GET: two versions side by side
MODEL_REPRODUCE = MODEL + "/reproduce"  # POST: retrain a version into a new one, compare

SCORE = V1 + "/score"  # POST: MLTK's score metrics over an uploaded dataset

SCHEDULES = V1 + "/schedules"
SCHEDULE = SCHEDULES + "/{name}"
SCHEDULE_RUN = SCHEDULE + "/run"
SCHEDULE_RUNS = SCHEDULE + "/runs"

MONITORS = V1 + "/monitors"
MONITOR = MONITORS + "/{name}"
MONITOR_RUN = MONITOR + "/run"
MONITOR_RUNS = MONITOR + "/runs"

PATHS = (
    HEALTH,
    ALGORITHMS,
    SPECS_PARSE,
    AUDIT_DELETIONS,
    AUDIT_ALIASES,
    DATASETS,
    DATASET,
    DATASET_CHUNK,
    DATASET_COMPLETE,
    DATASET_APPLY,
    DATASET_ROWS,
    HEC,
    JOBS,
    FIT_JOBS,
    AUTOML_JOBS,
    APPLY_JOBS,
    JOB,
    AUTOML_LEADERBOARD,
    MODELS,
    MODEL,
    MODEL_NAME,
    MODEL_ALIAS,
    MODEL_REGISTER,
    MODEL_APPLY,
    SCORE,
    MODEL_PREDICT,
    MODEL_DRIFT,
    MODEL_BASELINE,
    MODEL_COMPARE,
    MODEL_REPRODUCE,
    SCHEDULES,
    SCHEDULE,
    SCHEDULE_RUN,
    SCHEDULE_RUNS,
    MONITORS,
    MONITOR,
    MONITOR_RUN,
    MONITOR_RUNS,
)


def under(prefix: str, template: str) -> str:
    """``template`` relative to a router's ``prefix`` (``""`` for the prefix itself), as a
    FastAPI route under that prefix declares it."""
    if template != prefix and not template.startswith(prefix + "/"):
        raise ValueError(f"{template!r} is not under {prefix!r}")
    return template[len(prefix) :]


def matcher(*templates: str) -> re.Pattern[str]:
    """What matches a concrete path of any of ``templates`` (each parameter one segment, a
    trailing slash allowed)."""
    shapes = ["[^/]+".join(map(re.escape, re.split(r"\{[^}]+\}", t))) for t in templates]
    return re.compile(f"^(?:{'|'.join(shapes)})/?$")


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


def dataset_rows(dataset_id: str) -> str:
    return f"{dataset(dataset_id)}/rows"


def jobs(kind: str) -> str:
    """Where a job of ``kind`` (``fit``, ``automl``, ``apply``) is created."""
    path = f"{JOBS}/{kind}"
    if path not in (FIT_JOBS, AUTOML_JOBS, APPLY_JOBS):
        raise ValueError(f"no job kind {kind!r}")
    return path


def job(job_id: str) -> str:
    return f"{JOBS}/{_segment(job_id)}"


def automl_leaderboard(ref: object) -> str:
    return f"{V1}/automl/{_segment(ref)}/leaderboard"


def model(ref: object) -> str:
    """``ref``: a :class:`~kepler.core.refs.ModelRef` or its text, or a model name."""
    return f"{MODELS}/{_segment(ref)}"


def apply(ref: object) -> str:
    return f"{model(ref)}/apply"


def predict(ref: object) -> str:
    return f"{model(ref)}/predict"


def drift(ref: object) -> str:
    return f"{model(ref)}/drift"


def baseline(ref: object) -> str:
    return f"{model(ref)}/baseline"


def compare(ref: object, other: object) -> str:
    return f"{model(ref)}/compare/{_segment(other)}"


def reproduce(ref: object) -> str:
    return f"{model(ref)}/reproduce"


def alias(name: str, alias: str) -> str:
    return f"{model(name)}/aliases/{_segment(alias)}"


def register(name: str) -> str:
    return f"{model(name)}/register"


def schedule(name: str) -> str:
    return f"{SCHEDULES}/{_segment(name)}"


def schedule_run(name: str) -> str:
    return f"{schedule(name)}/run"


def schedule_runs(name: str) -> str:
    return f"{schedule(name)}/runs"


def monitor(name: str) -> str:
    return f"{MONITORS}/{_segment(name)}"


def monitor_run(name: str) -> str:
    return f"{monitor(name)}/run"


def monitor_runs(name: str) -> str:
    return f"{monitor(name)}/runs"


# -- request bodies and query options ------------------------------------------------------

B = TypeVar("B", bound="Body")


class Body:
    """What a client sends: a JSON body (:meth:`to_dict`) or query options
    (:meth:`to_params`). :meth:`from_dict` reads one back and refuses a key the bridge does
    not take, or a missing required one, naming it. A field whose wire name differs (``as``)
    says so in its metadata (``wire``); a nested body names its class (``body``)."""

    what: ClassVar[str] = "request"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.metadata.get("wire", f.name)] = (
                value.to_dict() if isinstance(value, Body) else value
            )
        return out

    def to_params(self) -> dict[str, Any]:
        """Query options: unset ones left out, booleans as ``true``/``false``."""
        return {
            k: (str(v).lower() if isinstance(v, bool) else v)
            for k, v in self.to_dict().items()
            if v is not None
        }

    @classmethod
    def from_dict(cls: type[B], data: Mapping[str, Any]) -> B:
        if not isinstance(data, Mapping):
            raise InvalidSpec(f"the {cls.what} must be a JSON object, not {type(data).__name__}")
        declared = {f.metadata.get("wire", f.name): f for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(str(k) for k in data if k not in declared)
        if unknown:
            raise InvalidSpec(
                f"the {cls.what} has no field {unknown[0]!r}; its fields are: "
                f"{', '.join(declared)}",
                detail={"field": unknown[0]},
            )
        required = [k for k, f in declared.items() if _required(f)]
        missing = [k for k in required if k not in data]
        if missing:
            raise InvalidSpec(
                f"the {cls.what} needs {missing[0]!r}; required fields: {', '.join(required)}",
                detail={"field": missing[0]},
            )
        values: dict[str, Any] = {}
        for key, value in data.items():
            f = declared[key]
            nested = f.metadata.get("body")
            values[f.name] = nested.from_dict(value) if nested and value is not None else value
        return cls(**values)


def _required(f: Any) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def _as(default: Any = None) -> Any:
    """``output_name``, which travels as the query option ``as``."""
    return field(default=default, metadata={"wire": "as"})


@dataclass(frozen=True)
class SplunkSource(Body):
    """The search a dataset came from, kept in the model's lineage."""

    what: ClassVar[str] = "dataset source"

    search: str | None = None
    earliest: str | None = None
    latest: str | None = None
    sid: str | None = None


@dataclass(frozen=True)
class DatasetCreate(Body):
    """``POST /v1/datasets``: open an upload in ``csv`` or ``arrow``; ``name`` (unique)
    then reads wherever its id does."""

    what: ClassVar[str] = "dataset"

    format: str = "csv"
    source: SplunkSource | None = field(default=None, metadata={"body": SplunkSource})
    name: str | None = None


@dataclass(frozen=True)
class DatasetComplete(Body):
    """``POST /v1/datasets/{dataset_id}/complete``: seal an upload of ``chunks`` pieces."""

    what: ClassVar[str] = "dataset completion"

    chunks: int | None = None
    rows: int | None = None


@dataclass(frozen=True)
class FitJob(Body):
    """``POST /v1/jobs/fit``: an SPL-style ``line``, or the parts as the SDK sends them.
    Without ``dataset_id`` (with ``?dry_run=true``) only the spec is checked."""

    what: ClassVar[str] = "fit job"

    dataset_id: str | None = None
    line: str | None = None
    algorithm: str | None = None
    target: str | None = None
    features: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    into: str | None = None
    output_name: str | None = None
    probabilities: bool = False
    holdout: float = 0.2
    by: list[str] = field(default_factory=list)  # one model per group of these fields
    partial_fit: bool = False  # continue the latest version of `into` (kepler.ml.partial)
    split: str | None = None  # time | random; None: time order on time-indexed data
    time_field: str | None = None  # None: _time
    kfold_cv: int | None = None  # k-fold validation instead of a holdout
    gap: int | None = None  # rows left out between training and validation (time order)
    lags: list[int] | None = None  # lagged copies of numeric fields: [1, 2, 24]
    rolling: list[str] | None = None  # rolling windows: ["mean:12"]


@dataclass(frozen=True)
class AutoMLJob(Body):
    """``POST /v1/jobs/automl``: a ``line``, or the parts; an option left ``None`` takes
    the default of ``kepler.core.automl``."""

    what: ClassVar[str] = "automl job"

    dataset_id: str | None = None
    line: str | None = None
    target: str | None = None
    features: list[str] = field(default_factory=list)
    into: str | None = None
    task: str | None = None
    time_budget: str | float | None = None
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
    split: str | None = None  # time | random; None: time order when _time is a feature
    time_field: str | None = None


@dataclass(frozen=True)
class ApplyJob(Body):
    """``POST /v1/jobs/apply``: a worker scores a dataset with ``model`` and writes every
    row to ``index`` through HEC."""

    what: ClassVar[str] = "apply job"

    dataset_id: str
    model: str
    index: str
    sourcetype: str | None = None
    output_name: str | None = None
    probabilities: bool | None = None
    shadow: str | None = None  # a challenger version: scored alongside, agreement recorded


@dataclass(frozen=True)
class AliasSet(Body):
    """``PUT /v1/models/{name}/aliases/{alias}``: point the alias at ``version``."""

    what: ClassVar[str] = "alias"

    version: int


@dataclass(frozen=True)
class Reproduce(Body):
    """``POST /v1/models/{ref}/reproduce``: ``force`` goes ahead when the installed package
    versions differ from the version's recorded ones (the difference is recorded)."""

    what: ClassVar[str] = "reproduction"

    force: bool = False


@dataclass(frozen=True)
class SpecParse(Body):
    """``POST /v1/specs/parse``: check one SPL-style line."""

    what: ClassVar[str] = "spec to parse"

    line: str


@dataclass(frozen=True)
class ScheduleCreate(Body):
    """``POST /v1/schedules``: every ``every`` run ``search``, score it with ``model`` and
    write the scores via HEC into ``index``; with ``retrain``, fit a new version instead and
    promote it behind ``gate``."""

    what: ClassVar[str] = "schedule"

    name: str
    search: str
    model: str
    every: str = "5m"
    earliest: str | None = None
    latest: str | None = None
    index: str | None = None
    sourcetype: str | None = None
    start_now: bool = False
    shadow: str | None = None  # a challenger scored alongside each run, agreement recorded
    # Retraining: fit ``spec`` (a fit line; default: the model's version's spec) on each
    # interval into a new version and move ``alias`` to it when it passes ``gate``.
    retrain: bool = False
    gate: str | None = None
    alias: str | None = None
    spec: str | None = None


@dataclass(frozen=True)
class MonitorCreate(Body):
    """``POST /v1/monitors``: every ``every`` search ``search`` over the interval just past,
    compare its events with ``model``'s baseline (``method``, ``threshold``) and, with
    ``label``, score the labelled ones; write metric events via HEC into ``index``."""

    what: ClassVar[str] = "monitor"

    name: str
    search: str
    model: str
    every: str = "1h"
    label: str | None = None
    method: str = "auto"
    threshold: float | None = None
    index: str | None = None
    start_now: bool = False


@dataclass(frozen=True)
class ScoreRequest(Body):
    """``POST /v1/score``: MLTK's ``score`` over an uploaded dataset (``kepler score``)."""

    what: ClassVar[str] = "score request"

    dataset_id: str
    metric: str
    fields: list[str]
    against: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelApply(Body):
    """The query options of ``POST /v1/models/{ref}/apply`` (the body is the rows).
    ``echo``: input columns, comma-separated, sent back before the output fields when
    ``include_input`` is false; ``index``: also write every scored row there via HEC."""

    what: ClassVar[str] = "apply options"

    probabilities: bool | None = None
    output_name: str | None = _as()
    include_input: bool = True
    echo: str | None = None
    index: str | None = None
    sourcetype: str | None = None
    shadow: str | None = None  # a challenger version: scored alongside, agreement recorded
    # DensityFunction: thresholds as MLTK writes them, one or several ("0.01,0.005")
    threshold: str | None = None
    lower_threshold: str | None = None
    upper_threshold: str | None = None
    show_density: bool | None = None
    sample: bool | None = None
    full_sample: bool | None = None
    show_options: str | None = None  # "feature_variables,split_by,params"
    # A forecaster: steps forecast from the last event run over (rows, or a time amount
    # such as 2weeks), its interval (%) instead of the fitted one, last events withheld;
    # MLTK's output_metadata and target=.
    forecast_k: int | str | None = None
    conf_interval: float | None = None
    holdback: int | str | None = None
    output_metadata: bool | None = None  # _forecastMetadata: h, f, hf
    target: str | None = None  # the fitted fields to forecast ("a,b"); every one without it
    specialdays: str | None = None  # must be the fitted one (MLTK's apply takes it)
    period: int | None = None  # StateSpaceForecast: must be the fitted one (MLTK's check)


@dataclass(frozen=True)
class DriftOptions(Body):
    """The query options of ``POST /v1/models/{ref}/drift`` (the body is the window, or
    empty with ``dataset_id``, an uploaded dataset read part by part)."""

    what: ClassVar[str] = "drift options"

    method: str = "auto"
    threshold: float | None = None
    dataset_id: str | None = None


@dataclass(frozen=True)
class DatasetApply(Body):
    """The query options of ``POST /v1/datasets/{dataset_id}/apply``."""

    what: ClassVar[str] = "dataset apply options"

    model: str
    probabilities: bool | None = None
    output_name: str | None = _as()


@dataclass(frozen=True)
class ModelRegister(Body):
    """``POST /v1/models/{name}/register``: the JSON half of a model fitted elsewhere (the
    other half is its skops bytes, see :func:`frame_register`). ``features``: the fields
    it reads, in order; ``feature_types``: ``numeric`` or ``categorical`` each (default
    numeric); ``packages``: the client's installed versions (``{"scikit-learn": "1.6"}``);
    ``requirements``: what else the caller says it needs (pip lines). The rows of
    ``data=`` (the version's drift baseline) travel in the same body."""

    what: ClassVar[str] = "model registration"

    features: list[str]
    target: str | None = None
    feature_types: dict[str, str] = field(default_factory=dict)
    requirements: list[str] = field(default_factory=list)
    packages: dict[str, str] = field(default_factory=dict)
    python: str | None = None
    description: str | None = None


# A registration's body, one request (no multipart parser): magic, the JSON's length (4
# bytes, big-endian), the model's length (8 bytes, big-endian), the JSON
# (:class:`ModelRegister`), the model's skops bytes, then the rows of ``data=`` as an Arrow
# IPC stream (nothing without): the version is made with its baseline, or not at all.
REGISTER_MEDIA = "application/vnd.kepler.register"
REGISTER_MAGIC = b"KEPLER-REGISTER-2\n"
REGISTER_JSON_MAX = 1024 * 1024
_REGISTER_HEAD = len(REGISTER_MAGIC) + 4 + 8


class RegisterParts(NamedTuple):
    """A registration body's three parts (``data`` empty when no rows were sent)."""

    meta_json: bytes
    model: bytes
    data: bytes


def frame_register(meta_json: bytes, model: bytes, data: bytes = b"") -> bytes:
    """The body of a registration: ``meta_json`` (a :class:`ModelRegister`), ``model`` (a
    skops file) and ``data`` (an Arrow IPC stream of rows for the baseline, or nothing)."""
    if len(meta_json) > REGISTER_JSON_MAX:
        raise InvalidSpec("the model registration's JSON part is larger than 1 MiB")
    sizes = len(meta_json).to_bytes(4, "big") + len(model).to_bytes(8, "big")
    return REGISTER_MAGIC + sizes + meta_json + model + data


def split_register(body: bytes) -> RegisterParts:
    """The parts of a body :func:`frame_register` made; a body in any other shape is
    refused, saying what was expected."""
    head = len(REGISTER_MAGIC)
    if not body.startswith(REGISTER_MAGIC) or len(body) < _REGISTER_HEAD:
        older = body.startswith(b"KEPLER-REGISTER-")
        raise InvalidSpec(
            f"a model registration is sent as {REGISTER_MEDIA} (as kp.register and "
            "`kepler model register` send it): the body does not start with its header"
            + ("; this one is another kepler-ml version's: upgrade the client" if older else "")
        )
    size = int.from_bytes(body[head : head + 4], "big")
    model_size = int.from_bytes(body[head + 4 : _REGISTER_HEAD], "big")
    model_at = _REGISTER_HEAD + size
    if size > REGISTER_JSON_MAX or model_at + model_size > len(body):
        raise InvalidSpec("the model registration's JSON or model part is cut short or too large")
    return RegisterParts(
        body[_REGISTER_HEAD:model_at],
        body[model_at : model_at + model_size],
        body[model_at + model_size :],
    )


BODIES: tuple[type[Body], ...] = (
    SplunkSource,
    DatasetCreate,
    DatasetComplete,
    FitJob,
    AutoMLJob,
    ApplyJob,
    AliasSet,
    Reproduce,
    SpecParse,
    ScheduleCreate,
    MonitorCreate,
    ScoreRequest,
    ModelApply,
    DriftOptions,
    DatasetApply,
    ModelRegister,
)


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


@dataclass(frozen=True)
class DatasetCreated:
    """The answer to ``POST /v1/datasets``: the new upload's id, where its chunks go."""

    id: str
    format: str = "csv"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetCreated:
        return cls(id=str(data["id"]), format=str(data.get("format") or "csv"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelView:
    """One model version as the bridge describes it (``GET /v1/models/{ref}``): what it
    learned, from what, and every version of the model. A linear model explains itself by
    ``coefficients``, any other by ``importances``: the answer holds one of the two."""

    name: str
    version: int
    aliases: list[str] = field(default_factory=list)
    created: str | None = None
    user: str | None = None
    run_id: str | None = None
    algorithm: str | None = None
    task: str | None = None
    target: str | None = None
    features: list[str] = field(default_factory=list)
    feature_types: dict[str, Any] = field(default_factory=dict)
    classes: list[Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    n_train: int | None = None
    n_holdout: int | None = None
    n_dropped: int | None = None
    # How it was validated (kepler.ml.splits): split random|time, the time field that
    # ordered the rows, and with kfold_cv each fold's scores in MLTK's shape.
    split: str = "random"
    time_field: str | None = None
    kfold_cv: int = 0
    folds: list[dict[str, Any]] = field(default_factory=list)
    probabilities: bool | None = None
    output_name: str | None = None
    kepler_version: str | None = None
    warnings: list[Any] = field(default_factory=list)
    lineage: dict[str, Any] = field(default_factory=dict)
    # A bounded sample of holdout truth and predictions (kepler.ml.metrics.holdout_sample)
    # for the SDK's charts; None for unsupervised models and versions fitted before it.
    holdout_sample: dict[str, Any] | None = None
    versions: list[dict[str, Any]] = field(default_factory=list)
    coefficients: list[dict[str, Any]] | None = None
    importances: list[dict[str, Any]] | None = None
    baseline: dict[str, Any] | None = None  # the drift baseline's summary (None: none kept)
    alias_moves: list[dict[str, Any]] = field(default_factory=list)  # latest first
    # What this version reproduces (``of``, ``verdict``, ``rule``, ``forced``,
    # ``package_differences``; None: it is no reproduction), and the versions that
    # reproduce it (each ``version`` with the same keys).
    reproduces: dict[str, Any] | None = None
    reproductions: list[dict[str, Any]] = field(default_factory=list)
    # A `by` model's groups (kepler.ml.grouped): key, by values, rows, status, metrics.
    groups: list[dict[str, Any]] | None = None
    # A version fitted by a retraining schedule: its gate's decision (``decision``,
    # ``alias``, ``gate``, ``reasons``, ``schedule``); None for any other version.
    retrain: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelView:
        """Read a model answer; fields a newer bridge adds are left out."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("coefficients", "importances", "groups"):
            if out[key] is None:
                del out[key]
        return out

    @property
    def ref(self) -> str:
        """The exact version, as every later request of one search pins it."""
        return f"{self.name}@{self.version}"

    @property
    def explained(self) -> list[dict[str, Any]]:
        """Per-feature coefficients or importances (``feature`` and its number)."""
        return self.coefficients or self.importances or []
