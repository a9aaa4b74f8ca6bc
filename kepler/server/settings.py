"""The one settings object of a bridge or worker process (prefix ``KEPLER_``).

Every default points into ``KEPLER_HOME`` (``~/.kepler``) so the embedded stack needs no
configuration; a team or the cloud sets URLs instead (a Redis broker, a Postgres jobs
database, a ``gs://`` dataset store, an MLflow server).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kepler._home import default_home
from kepler.core.algorithms import DEFAULT_MAX_GROUPS, MAX_GROUPS
from kepler.hec import HecSettings
from kepler.splunk.settings import SplunkSettings

MiB = 1024 * 1024
GiB = 1024 * MiB

# Values the shipped examples (packaging/kepler.env.example, docs) put where a secret goes:
# a stack started with one of them would accept a token anyone can read in the repository.
PLACEHOLDER_SECRETS = frozenset({"change-me", "changeme", "change_me", "replace-me", "secret"})


def refuse_placeholder(name: str, value: SecretStr | None) -> None:
    """Raise when the secret ``name`` is still an example placeholder."""
    if value is not None and value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
        raise ValueError(
            f"{name} is still the example placeholder; set it to a long random value, e.g. "
            "the output of: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEPLER_", extra="ignore")

    home: Path = default_home()
    # Two permission levels, one token each (kepler.core.identity): KEPLER_TOKEN may do
    # everything; KEPLER_USER_TOKEN fits, applies and reads, but cannot delete models, move
    # aliases or manage schedules. Empty user token: the embedded stack's generated one.
    token: SecretStr | None = None
    user_token: SecretStr | None = None

    host: str = "127.0.0.1"
    port: int = 8765
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None

    # Where datasets live: a folder, or any fsspec URL (gs://bucket/kepler, s3://...).
    dataset_store: str = ""
    # Largest single upload request (one chunk), and largest dataset in all.
    max_chunk_bytes: int = 512 * MiB
    max_dataset_bytes: int = 200 * GiB
    # Largest model file `kp.register` may upload (skops bytes); it may unpack to 8 times this.
    register_max_bytes: int = Field(default=256 * MiB, ge=1024)
    # Retention, done by the beat: a completed dataset no model version was trained on, and
    # an upload never completed, are removed this many seconds after they were created (0:
    # kept for ever). A dataset a version was trained on stays while that version exists.
    dataset_retention_unreferenced_s: float = Field(default=30 * 24 * 3600.0, ge=0)
    dataset_retention_incomplete_s: float = Field(default=24 * 3600.0, ge=0)
    # How often the beat looks for datasets retention removes.
    dataset_retention_every_s: float = Field(default=300.0, gt=0)
    # Deleting a model also removes the datasets its versions were trained on (those no
    # other version uses); off: they stay until retention removes them.
    dataset_delete_with_model: bool = False
    # Largest JSON request body (a fit, an AutoML run, a schedule): refused with 413 by its
    # Content-Length, or as soon as more bytes than this arrive.
    max_json_bytes: int = Field(default=4 * MiB, ge=1024)
    # Seconds a request body may go silent before the bridge answers 408 and frees the
    # connection (a client that declared more bytes than it sends would hold it for ever).
    body_read_timeout: float = Field(default=60.0, gt=0)
    # Seconds uvicorn keeps an idle keep-alive connection open between requests.
    keep_alive_timeout: int = Field(default=5, ge=1)
    # Failed token checks a client (its address) may make per minute before the bridge
    # answers 429 with Retry-After: guessing tokens is slowed to a crawl.
    auth_failures_per_minute: int = Field(default=20, ge=1)
    # Requests each token (each permission level) may make per minute before the bridge
    # answers 429 with Retry-After; 0: no limit. A Splunk search sends one request per
    # chunk (50,000 events), so the default leaves room for many searches at once.
    requests_per_minute: int = Field(default=6000, ge=0)
    # Predict requests (POST /v1/models/{ref}/predict) each token may make per minute,
    # counted apart from the above: an online caller (a dashboard, an alert, a service)
    # sends one small request per answer. 120,000 (2,000 a second) is above what one
    # bridge answers on a few cores, so it stops a runaway loop, not a real load; 0: none.
    predict_requests_per_minute: int = Field(default=120_000, ge=0)
    # Seconds a request's headers may take to arrive before the connection is closed.
    header_timeout: float = Field(default=10.0, gt=0)

    tracking_uri: str = ""
    artifact_location: str = ""
    experiment: str = "kepler"

    broker_url: str = ""
    database_url: str = ""

    model_cache_size: int = 8
    # `score` (live evaluation): rows kept in memory by the metrics that need every value
    # (roc_auc_score, roc_curve, ks_2samp, the t-tests), and classes per label field.
    score_max_rows: int = Field(default=1_000_000, ge=1)
    score_max_classes: int = Field(default=100, ge=2)
    # A retraining run's search is held whole to fit on: the most rows it may bring.
    retrain_max_rows: int = Field(default=10_000_000, ge=1)
    # The online path (POST /v1/models/{ref}/predict, kp.predict): small requests answered
    # from memory. Seconds a reference's resolution (pump -> pump@3) is reused; the bridge
    # forgets it at once on the changes it sees (fits it answers, alias moves, deletes),
    # this bounds how long a change made elsewhere (another bridge, MLflow) takes to show.
    predict_resolve_ttl_s: float = Field(default=5.0, ge=0)
    # Most rows one predict request may carry; more: 413 naming this setting.
    predict_max_rows: int = Field(default=10_000, ge=1)
    # Below this many rows a model predicts single-threaded (a thread pool per call costs
    # more than one row's work); at or above it, with the threads it was trained with.
    predict_parallel_rows: int = Field(default=1_000, ge=1)
    # Predictions running at once (0: one per CPU); the rest wait their turn, bounded by
    # KEPLER_PREDICT_TIMEOUT_S, so many clients cannot oversubscribe the cores.
    predict_threads: int = Field(default=0, ge=0)
    predict_timeout_s: float = Field(default=30.0, gt=0)
    # Micro-batching: small requests for one model version that arrive while its predict
    # runs go together as the next batch, up to this many rows (a lone request goes at
    # once). A window makes each batch also wait this many milliseconds for company.
    predict_batch_window_ms: float = Field(default=0.0, ge=0, le=1000)
    predict_batch_max_rows: int = Field(default=256, ge=1)
    # AutoML's Optuna studies: a database URL every worker reaches. Empty: a journal file
    # under the home with the embedded SQLite jobs database, else the jobs database.
    automl_storage: str = ""
    # Models the bridge loads before it answers /health ("pump@3,churn:production"): a
    # Cloud Run model service (`kepler deploy model`) takes no traffic until its model is in.
    preload_models: str = ""
    worker_concurrency: int = 2
    # Most groups one `fit ... by <field>` may train into one version (one model each).
    max_groups: int = Field(default=DEFAULT_MAX_GROUPS, ge=1, le=MAX_GROUPS)

    # Jobs' lifecycle (kepler.server.liveness). The longest one attempt of a job of each
    # kind may run, in seconds (0: no limit); past it the job fails naming the setting.
    job_time_limit_fit: float = Field(default=6 * 3600.0, ge=0)
    job_time_limit_automl: float = Field(default=24 * 3600.0, ge=0)
    job_time_limit_apply: float = Field(default=6 * 3600.0, ge=0)
    job_time_limit_score: float = Field(default=3600.0, ge=0)
    # A job whose worker died this many times fails (a fit that runs out of memory every
    # time would otherwise restart for ever).
    job_max_attempts: int = Field(default=3, ge=1)
    # How often a worker shows that the job it runs is alive, and how long the beat waits
    # for a sign of life before it re-queues (or fails) the job.
    job_heartbeat_s: float = Field(default=5.0, gt=0)
    job_stale_s: float = Field(default=60.0, gt=0)
    # A job still queued after this long is sent to the workers again (its message may
    # have been lost with a broker); a duplicate message is harmless, the job runs once.
    job_resend_queued_s: float = Field(default=600.0, gt=0)

    # Splunk's HTTP Event Collector (KEPLER_HEC_*): scores, model events and metrics.
    hec: HecSettings = Field(default_factory=HecSettings)
    # splunkd's REST API (KEPLER_SPLUNK_*): what scheduled scoring searches.
    splunk: SplunkSettings = Field(default_factory=SplunkSettings)

    @model_validator(mode="after")
    def _fill_defaults(self) -> ServerSettings:
        refuse_placeholder("KEPLER_TOKEN", self.token)
        refuse_placeholder("KEPLER_USER_TOKEN", self.user_token)
        if (
            self.token is not None
            and self.user_token is not None
            and self.token.get_secret_value() == self.user_token.get_secret_value()
        ):
            raise ValueError(
                "KEPLER_USER_TOKEN equals KEPLER_TOKEN: the user level would be the admin "
                "level; give each its own random value"
            )
        if self.job_stale_s <= 2 * self.job_heartbeat_s:
            raise ValueError(
                f"KEPLER_JOB_STALE_S ({self.job_stale_s:g}) must be more than twice "
                f"KEPLER_JOB_HEARTBEAT_S ({self.job_heartbeat_s:g}), or the beat would "
                "re-queue jobs whose worker is alive; raise KEPLER_JOB_STALE_S"
            )
        home = self.home.expanduser()
        self.home = home
        if not self.dataset_store:
            self.dataset_store = str(home / "datasets")
        if not self.tracking_uri:
            self.tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
        if not self.artifact_location:
            self.artifact_location = (home / "mlartifacts").as_uri()
        if not self.broker_url:
            self.broker_url = f"sqla+sqlite:///{home / 'broker.db'}"
        if not self.database_url:
            self.database_url = f"sqlite:///{home / 'kepler.db'}"
        if self.hec.queue_dir is None:
            self.hec.queue_dir = home / "hec-queue"
        if (self.tls_certfile is None) != (self.tls_keyfile is None):
            raise ValueError("set both KEPLER_TLS_CERTFILE and KEPLER_TLS_KEYFILE, or neither")
        return self

    @property
    def tls(self) -> bool:
        return self.tls_certfile is not None
