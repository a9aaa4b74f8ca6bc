"""Kepler's model registry on MLflow: every fit a new immutable version, found by reference.

One :class:`ModelStore` wraps one MLflow tracking/registry URI and one experiment. Each
registered fit is an MLflow run (params, metrics, ``kepler.*`` tags, a
``kepler/summary.json`` artifact with the meta, importances and lineage) plus a logged
model (the pipeline with the ``sklearn`` flavor, its :class:`ModelMeta` in the MLmodel
metadata) registered as the next version of the named model.

Everything goes through an :class:`~mlflow.MlflowClient` bound to this store's URIs, never
MLflow's process-wide "current" tracking URI or active run, so several stores can live in
one process and threads can share one.

Models are pickled (cloudpickle) and unpickled by this module itself, from this store's
own artifact location: Kepler trusts what Kepler wrote. Whoever can write to the artifact
store can therefore run code in the bridge; protect it like code.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as pkg_metadata
from pathlib import Path
from typing import Any

import mlflow.sklearn
from mlflow import MlflowClient
from mlflow.entities import LoggedModelOutput, Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.utils.file_utils import local_file_uri_to_path
from sklearn.pipeline import Pipeline

from kepler._version import __version__
from kepler.core.errors import (
    BadParameter,
    KeplerError,
    ModelNotFound,
    NotFound,
    RegistryUnavailable,
    VersionNotFound,
)
from kepler.core.refs import ModelRef, validate_model_name
from kepler.ml import environment
from kepler.ml.monitoring.baseline import ARTIFACT as BASELINE_ARTIFACT
from kepler.ml.monitoring.baseline import summarize as summarize_baseline
from kepler.ml.sdk_wheel import DIST, wheel_name, write_wheel
from kepler.ml.training import ModelMeta, TrainedModel

# MLflow's codes for "no such model, version or alias". Anything else from a lookup is
# the registry failing (its database locked past SQLite's 20 s busy timeout, unreadable,
# a server down), which must not read as a missing model, nor be retried on top of the
# driver's own wait.
_ABSENT = frozenset({"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"})


def _lookup(call: Any, missing: Any) -> Any:
    """``call()`` against the registry. MLflow's "does not exist" raises ``missing()`` when
    it is an error (a :class:`NotFound`), else returns it; a failing registry raises
    :class:`RegistryUnavailable`, naming MLflow's error code and nothing of its database."""
    try:
        return call()
    except MlflowException as exc:
        if exc.error_code in _ABSENT:
            found = missing()
            if isinstance(found, KeplerError):
                raise found from None
            return found
        raise RegistryUnavailable(
            f"the model registry did not answer ({exc.error_code}); try again in a moment, "
            "and if it persists check the MLflow database the bridge uses",
            detail={"mlflow_error": exc.error_code},
        ) from None


SUMMARY_ARTIFACT = "kepler/summary.json"
MODEL_ARTIFACT = "model"
WHEELS_DIR = "wheels"  # inside the model's folder, as MLflow's add_libraries_to_model does
# MLflow refuses longer tag and param values.
_MAX_TAG = 8000
_MAX_PARAM = 6000
_MAX_BATCH = 100
_JOB_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: int
    run_id: str


@dataclass(frozen=True)
class VersionInfo:
    """One registered version, as :meth:`ModelStore.resolve` finds it."""

    name: str
    version: int
    run_id: str | None
    aliases: tuple[str, ...]
    source: str
    created: str  # ISO 8601, UTC
    job_id: str | None = None
    user: str | None = None  # who fitted it (the version's kepler.user tag)


class ModelStore:
    """Register, find, load, describe and delete Kepler models in one MLflow registry."""

    def __init__(self, tracking_uri: str, artifact_location: str, experiment: str = "kepler"):
        _quiet_mlflow()
        self.tracking_uri = tracking_uri
        self.artifact_location = artifact_location
        self.experiment = experiment
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        self._experiment_id: str | None = None

    # ----------------------------------------------------------------- registering

    @property
    def experiment_id(self) -> str:
        """The experiment's id, creating it at ``artifact_location`` on first use (else
        MLflow would write ``./mlruns`` in whatever the working directory is)."""
        if self._experiment_id is None:
            exp = self.client.get_experiment_by_name(self.experiment)
            if exp is None:
                try:
                    self._experiment_id = self.client.create_experiment(
                        self.experiment, artifact_location=self.artifact_location or None
                    )
                except MlflowException:  # another process created it first
                    exp = self.client.get_experiment_by_name(self.experiment)
                    if exp is None:
                        raise
            if exp is not None:
                if exp.lifecycle_stage == "deleted":
                    self.client.restore_experiment(exp.experiment_id)
                self._experiment_id = exp.experiment_id
        assert self._experiment_id is not None
        return self._experiment_id

    def register(
        self,
        trained: TrainedModel,
        name: str,
        *,
        lineage: dict[str, Any] | None = None,
        job_id: str | None = None,
        parent_run_id: str | None = None,
        user: str | None = None,
        tags: dict[str, str] | None = None,
        notes: dict[str, Any] | None = None,
    ) -> RegisteredVersion:
        """Log ``trained`` as a new run and register it as the next version of ``name``.

        With ``job_id``, registering is idempotent: a redelivered job finds the version it
        registered before and returns it. ``parent_run_id`` nests the run under another
        (AutoML's search run). ``user`` (who asked for the fit) becomes the ``kepler.user``
        tag of the run and of the model version; ``tags`` go on both too (a reproduction's
        ``kepler.reproduces``, a registered model's environment), ``notes`` into the run's
        summary beside the meta.
        The versions of the packages that decide the fit's numbers are recorded as
        ``kepler.package.<name>`` tags of the run (:mod:`kepler.ml.environment`).
        """
        validate_model_name(name)
        if job_id is not None:
            if not _JOB_ID.match(job_id):
                raise BadParameter(f"job id {job_id!r} is not valid")
            done = self._version_of_job(name, job_id)
            if done is not None:
                return done
        meta = trained.meta
        run_tags = {
            "kepler.model": name,
            "kepler.algorithm": meta.algorithm,
            "kepler.task": meta.task,
            "kepler.version": __version__,
            **({"kepler.job_id": job_id} if job_id else {}),
            **({"kepler.user": user} if user else {}),
            **({"kepler.target": meta.target} if meta.target else {}),
            **lineage_tags(lineage or {}),
            **({"mlflow.parentRunId": parent_run_id} if parent_run_id else {}),
            **environment.as_tags(environment.packages(meta.algorithm)),
            **(tags or {}),
        }
        client = self.client
        run = client.create_run(self.experiment_id, run_name=name, tags=_tag_values(run_tags))
        run_id = run.info.run_id
        try:
            self._log_run(run_id, trained, lineage, notes)
            model_id, source = self._log_model(run_id, trained.pipeline, meta)
            version = self._create_version(name, source, run_id, model_id, job_id, user, tags=tags)
        except BaseException:
            client.set_terminated(run_id, status="FAILED")
            raise
        client.set_terminated(run_id)
        return RegisteredVersion(name=name, version=version, run_id=run_id)

    def _version_of_job(self, name: str, job_id: str) -> RegisteredVersion | None:
        # A busy registry must not read as "not registered yet": that would register twice.
        found = _lookup(
            lambda: self.client.search_model_versions(
                f"name = '{name}' and tags.`kepler.job_id` = '{job_id}'"
            ),
            lambda: [],
        )
        mv = next(iter(found), None)
        if mv is None:
            return None
        return RegisteredVersion(name=mv.name, version=int(mv.version), run_id=mv.run_id or "")

    def _log_run(
        self,
        run_id: str,
        trained: TrainedModel,
        lineage: dict[str, Any] | None,
        notes: dict[str, Any] | None = None,
    ) -> None:
        meta = trained.meta
        params: dict[str, Any] = {
            "algorithm": meta.algorithm,
            "target": meta.target or "",
            "features": ",".join(meta.features),
            "holdout": meta.holdout,
            "split": meta.split,
        }
        if meta.time_field:
            params["time_field"] = meta.time_field
        if meta.kfold_cv:
            params["kfold_cv"] = meta.kfold_cv
        if meta.gap:
            params["gap"] = meta.gap
        if meta.lags or meta.rolling:
            params["lags"] = ",".join(str(k) for k in meta.lags)
            params["rolling"] = ",".join(meta.rolling)
        for key, value in meta.params.items():
            params[key if key not in params else f"param.{key}"] = value
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, 0) for k, v in trained.metrics.items()]
        param_list = [Param(k, _clip(_text(v), _MAX_PARAM)) for k, v in params.items()]
        for i in range(0, max(len(param_list), len(metrics), 1), _MAX_BATCH):
            self.client.log_batch(
                run_id,
                metrics=metrics[i : i + _MAX_BATCH],
                params=param_list[i : i + _MAX_BATCH],
            )
        summary = {
            "meta": meta.to_dict(),
            "metrics": trained.metrics,
            "importances": trained.importances,
            "warnings": trained.warnings,
            "lineage": lineage or {},
            "holdout_sample": trained.holdout,
            "spec": trained.spec,
            "python": environment.python_version(),
            **(notes or {}),
        }
        if trained.groups is not None:
            summary["groups"] = trained.groups
        self.client.log_dict(run_id, summary, SUMMARY_ARTIFACT)
        if trained.baseline is not None:
            self.client.log_dict(run_id, trained.baseline, BASELINE_ARTIFACT)

    def _log_model(self, run_id: str, pipeline: Pipeline, meta: ModelMeta) -> tuple[str, str]:
        """Save the pipeline as an MLflow logged model of the run: ``(model_id, location)``."""
        client = self.client
        logged = client.create_logged_model(
            self.experiment_id,
            name=MODEL_ARTIFACT,
            source_run_id=run_id,
            tags={"kepler.algorithm": meta.algorithm},
        )
        client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, step=0)])
        with tempfile.TemporaryDirectory(prefix="kepler-model-") as tmp:
            path = os.path.join(tmp, MODEL_ARTIFACT)
            mlflow_model = Model(
                artifact_path=logged.artifact_location,
                model_uuid=logged.model_id,
                run_id=run_id,
                metadata={"kepler": meta.to_dict()},
                model_id=logged.model_id,
            )
            mlflow.sklearn.save_model(
                pipeline,
                path,
                mlflow_model=mlflow_model,
                serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
                # Explicit: MLflow's inference of requirements imports and profiles the model.
                pip_requirements=pip_requirements(meta),
            )
            # The kepler requirement names this file, relative to the model's folder.
            write_wheel(Path(path) / WHEELS_DIR)
            client.log_model_artifacts(logged.model_id, path)
        client.finalize_logged_model(logged.model_id, "READY")
        return logged.model_id, logged.artifact_location

    def _create_version(
        self,
        name: str,
        source: str,
        run_id: str,
        model_id: str,
        job_id: str | None,
        user: str | None = None,
        *,
        tags: dict[str, str] | None = None,
    ) -> int:
        try:
            self.client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        # The artifact location, not models:/<id>: MLflow's SQL registry resolves the
        # latter through the process-wide tracking URI, which may be another store's.
        mv = self.client.create_model_version(
            name,
            source=source,
            run_id=run_id,
            model_id=model_id,
            tags={
                **({"kepler.job_id": job_id} if job_id else {}),
                **({"kepler.user": _clip(user, _MAX_TAG)} if user else {}),
                **_tag_values(tags or {}),
            }
            or None,
        )
        return int(mv.version)

    # --------------------------------------------------------------------- finding

    def resolve(self, ref: ModelRef) -> VersionInfo:
        """The version ``ref`` names: ``name@3``, ``name:alias``, or the latest."""
        registered = self._registered(ref.name)
        aliases: dict[str, str] = dict(getattr(registered, "aliases", {}) or {})
        if ref.alias is not None:
            mv = _lookup(
                lambda: self.client.get_model_version_by_alias(ref.name, ref.alias),
                lambda: VersionNotFound(
                    f"model {ref.name!r} has no alias {ref.alias!r}; "
                    f"{self._what_exists(ref.name, aliases)}",
                    detail={"model": ref.name, "alias": ref.alias},
                ),
            )
        elif ref.version is not None:
            mv = _lookup(
                lambda: self.client.get_model_version(ref.name, str(ref.version)),
                lambda: VersionNotFound(
                    f"model {ref.name!r} has no version {ref.version}; "
                    f"{self._what_exists(ref.name, aliases)}",
                    detail={"model": ref.name, "version": ref.version},
                ),
            )
        else:
            versions = self._versions(ref.name)
            if not versions:
                raise VersionNotFound(
                    f"model {ref.name!r} has no versions; fit it again with `into {ref.name}`",
                    detail={"model": ref.name},
                )
            mv = versions[-1]
        return self._info(mv, aliases)

    def load(self, name: str, version: int) -> tuple[Pipeline, ModelMeta]:
        """The fitted pipeline and its meta, for ``apply``."""
        return self.load_version(self.resolve(ModelRef(name, version=int(version))))

    def load_version(self, info: VersionInfo) -> tuple[Pipeline, ModelMeta]:
        """The pipeline and meta of the registration ``info`` was resolved as: read from
        its own artifact location, so a name deleted and fitted again since cannot hand
        back the new registration's model under the old one's identity."""
        name, version = info.name, info.version
        uri = info.source
        if not uri or uri.startswith("models:/"):  # not registered by Kepler
            uri = self.client.get_model_version_download_uri(name, str(version))
        with self._local(uri) as path:
            mlmodel = Model.load(os.path.join(path, "MLmodel"))
            flavor = mlmodel.flavors["sklearn"]
            fmt = flavor.get("serialization_format", "pickle")
            with open(os.path.join(path, flavor["pickled_model"]), "rb") as fh:
                if fmt == mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE:
                    import cloudpickle

                    pipeline = cloudpickle.load(fh)
                elif fmt == mlflow.sklearn.SERIALIZATION_FORMAT_PICKLE:
                    pipeline = pickle.load(fh)  # noqa: S301 - Kepler's own artifact
                else:
                    raise VersionNotFound(
                        f"model {name!r} version {version} was not saved by Kepler "
                        f"(format {fmt!r}); register it again with kepler",
                    )
        meta = ModelMeta.from_dict((mlmodel.metadata or {})["kepler"])
        return pipeline, meta

    @contextlib.contextmanager
    def _local(self, uri: str) -> Iterator[str]:
        """A local folder holding the artifacts at ``uri``: the folder itself when the
        artifact store is local, else a temporary download."""
        if uri.startswith("file:") or "://" not in uri:
            yield local_file_uri_to_path(uri) if uri.startswith("file:") else uri
            return
        from mlflow.artifacts import download_artifacts

        with tempfile.TemporaryDirectory(prefix="kepler-load-") as tmp:
            yield download_artifacts(artifact_uri=uri, dst_path=tmp, tracking_uri=self.tracking_uri)

    # ------------------------------------------------------------------ describing

    def list_models(self) -> list[dict[str, Any]]:
        """Every model with its latest version's algorithm, task and metrics."""
        out: list[dict[str, Any]] = []
        for rm in self._all_registered():
            versions = self._versions(rm.name)
            if not versions:
                continue
            latest = versions[-1]
            run = self._run(latest.run_id)
            out.append(
                {
                    "name": rm.name,
                    "latest_version": int(latest.version),
                    "versions": [int(v.version) for v in versions],
                    "aliases": {
                        a: int(v)
                        for a, v in (
                            getattr(self._registered(rm.name), "aliases", None) or {}
                        ).items()
                    },
                    "algorithm": run.data.tags.get("kepler.algorithm") if run else None,
                    "task": run.data.tags.get("kepler.task") if run else None,
                    "metrics": dict(run.data.metrics) if run else {},
                    "user": (latest.tags or {}).get("kepler.user"),
                    "created": _iso(rm.creation_timestamp),
                    "updated": _iso(rm.last_updated_timestamp),
                }
            )
        return sorted(out, key=lambda m: m["name"])

    def list_versions(self) -> list[dict[str, Any]]:
        """Every version of every model, each with its own algorithm, task and metrics."""
        out: list[dict[str, Any]] = []
        for rm in self._all_registered():
            # Listing does not carry aliases; the registered model itself does.
            aliases = dict(getattr(self._registered(rm.name), "aliases", None) or {})
            versions = self._versions(rm.name)
            latest = int(versions[-1].version) if versions else None
            for mv in versions:
                run = self._run(mv.run_id)
                tags = run.data.tags if run else {}
                out.append(
                    {
                        "name": rm.name,
                        "version": int(mv.version),
                        "latest": int(mv.version) == latest,
                        "aliases": sorted(
                            a for a, v in aliases.items() if str(v) == str(mv.version)
                        ),
                        "algorithm": run.data.tags.get("kepler.algorithm") if run else None,
                        "task": run.data.tags.get("kepler.task") if run else None,
                        "metrics": dict(run.data.metrics) if run else {},
                        "run_id": mv.run_id,
                        "user": (mv.tags or {}).get("kepler.user"),
                        "created": _iso(mv.creation_timestamp),
                        "dataset_id": tags.get("kepler.dataset.dataset_id"),
                    }
                )
        return sorted(out, key=lambda m: (m["name"], m["version"]))

    def describe(self, ref: ModelRef) -> dict[str, Any]:
        """Everything known about one version, and a summary of the model's versions."""
        info = self.resolve(ref)
        run = self._run(info.run_id)
        summary = self._summary(run)
        meta = summary.get("meta", {})
        registered = self._registered(info.name)
        aliases = dict(getattr(registered, "aliases", {}) or {})
        explained = summary.get("importances", [])
        versions = self._versions(info.name)
        exact = f"{info.name}@{info.version}"
        own = next((mv for mv in versions if int(mv.version) == info.version), None)
        body: dict[str, Any] = {
            "name": info.name,
            "version": info.version,
            "aliases": list(info.aliases),
            "created": info.created,
            "user": info.user,
            "run_id": info.run_id,
            "algorithm": meta.get("algorithm"),
            "task": meta.get("task"),
            "target": meta.get("target"),
            "features": meta.get("features", []),
            "feature_types": meta.get("feature_types", {}),
            "classes": meta.get("classes"),
            "params": meta.get("params", {}),
            "metrics": dict(run.data.metrics) if run else summary.get("metrics", {}),
            "n_train": meta.get("n_train"),
            "n_holdout": meta.get("n_holdout"),
            "n_dropped": meta.get("n_dropped"),
            "split": meta.get("split", "random"),
            "time_field": meta.get("time_field"),
            "kfold_cv": meta.get("kfold_cv", 0),
            "folds": meta.get("folds", []),
            "probabilities": meta.get("probabilities"),
            "output_name": meta.get("output_name"),
            "kepler_version": meta.get("kepler_version"),
            "warnings": summary.get("warnings", []),
            "lineage": summary.get("lineage", {}),
            "baseline": summarize_baseline(self._artifact_json(run, BASELINE_ARTIFACT, quiet=True)),
            "holdout_sample": summary.get("holdout_sample"),
            "retrain": _retrain_tags(self._version_tags(info.name, info.version)),
            "versions": [
                {
                    "version": int(mv.version),
                    "created": _iso(mv.creation_timestamp),
                    "run_id": mv.run_id,
                    "user": (mv.tags or {}).get("kepler.user"),
                    "aliases": sorted(a for a, v in aliases.items() if str(v) == str(mv.version)),
                }
                for mv in versions
            ],
            # What this version reproduces, and the versions that reproduce it.
            "reproduces": reproduction_of((own.tags or {}) if own is not None else {}),
            "reproductions": [
                {"version": int(mv.version), **(reproduction_of(mv.tags or {}) or {})}
                for mv in versions
                if (mv.tags or {}).get(REPRODUCES_TAG) == exact
            ],
        }
        if summary.get("groups") is not None:
            body["groups"] = summary["groups"]
        if explained and "coefficient" in explained[0]:
            body["coefficients"] = explained
        else:
            body["importances"] = explained
        return body

    def record(self, info: VersionInfo) -> dict[str, Any]:
        """What the version's run recorded: its ``tags``, ``metrics`` and ``summary``
        (meta, spec, lineage): what reproducing it replays."""
        run = self._run(info.run_id)
        if run is None:
            raise VersionNotFound(
                f"model {info.name!r} version {info.version} has no MLflow run; "
                "it was not registered by Kepler",
                detail={"model": info.name, "version": info.version},
            )
        return {
            "tags": dict(run.data.tags),
            "metrics": dict(run.data.metrics),
            "summary": self._summary(run),
        }

    # -------------------------------------------------------------------- changing

    def delete(self, name: str) -> None:
        """Delete a model and all its versions (their runs stay, for the record)."""
        self._registered(name)
        self.client.delete_registered_model(name)

    def tag_version(self, name: str, version: int, tags: dict[str, str]) -> None:
        """Set ``tags`` on version ``version`` of ``name`` (a retraining gate's decision)."""
        for key, value in tags.items():
            self.client.set_model_version_tag(name, str(version), key, _clip(value, _MAX_PARAM))

    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point ``name:alias`` at ``version`` (moving it if it pointed elsewhere)."""
        ModelRef.parse(f"{name}:{alias}")  # same rules as references use
        self.resolve(ModelRef(name, version=int(version)))
        try:
            self.client.set_registered_model_alias(name, alias, str(int(version)))
        except MlflowException as exc:
            raise BadParameter(
                f"alias {alias!r} cannot be used: {exc.message}", detail={"alias": alias}
            ) from None

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove ``name:alias``; the version it pointed at stays. A missing alias is a
        :class:`NotFound` naming the model's aliases."""
        ModelRef.parse(f"{name}:{alias}")  # same rules as references use
        aliases = dict(getattr(self._registered(name), "aliases", None) or {})
        if alias not in aliases:
            have = ", ".join(sorted(aliases)) or "none"
            raise NotFound(
                f"model {name} has no alias {alias!r} (its aliases: {have})",
                detail={"model": name, "alias": alias},
            )
        self.client.delete_registered_model_alias(name, alias)

    # --------------------------------------------------------------------- helpers

    def _registered(self, name: str) -> Any:
        return _lookup(
            lambda: self.client.get_registered_model(name),
            lambda: ModelNotFound(
                f"no model named {name!r}; list the models with `kepler models` "
                "(`| kepler models` in Splunk)",
                detail={"model": name},
            ),
        )

    def _all_registered(self) -> list[Any]:
        found: list[Any] = []
        token: str | None = None
        while True:
            page = self.client.search_registered_models(max_results=1000, page_token=token)
            found.extend(page)
            token = page.token
            if not token:
                return found

    def _versions(self, name: str) -> list[Any]:
        """All versions of ``name``, oldest first."""
        found: list[Any] = []
        token: str | None = None
        while True:
            page = self.client.search_model_versions(
                f"name = '{name}'", max_results=10_000, page_token=token
            )
            found.extend(page)
            token = page.token
            if not token:
                return sorted(found, key=lambda mv: int(mv.version))

    def _version_tags(self, name: str, version: int) -> dict[str, str]:
        try:
            mv = self.client.get_model_version(name, str(version))
        except MlflowException:
            return {}
        return dict(mv.tags or {})

    def _what_exists(self, name: str, aliases: dict[str, str]) -> str:
        versions = ", ".join(str(int(mv.version)) for mv in self._versions(name)) or "none"
        named = ", ".join(f"{a} (version {v})" for a, v in sorted(aliases.items())) or "none"
        return f"its versions: {versions}; its aliases: {named}"

    def _info(self, mv: Any, aliases: dict[str, str]) -> VersionInfo:
        own = tuple(sorted(a for a, v in aliases.items() if str(v) == str(mv.version)))
        return VersionInfo(
            name=mv.name,
            version=int(mv.version),
            run_id=mv.run_id,
            aliases=own or tuple(getattr(mv, "aliases", ()) or ()),
            source=mv.source,
            created=_iso(mv.creation_timestamp),
            job_id=(mv.tags or {}).get("kepler.job_id"),
            user=(mv.tags or {}).get("kepler.user"),
        )

    def _run(self, run_id: str | None) -> Any:
        if not run_id:
            return None
        try:
            return self.client.get_run(run_id)
        except MlflowException:
            return None

    def _summary(self, run: Any) -> dict[str, Any]:
        return self._artifact_json(run, SUMMARY_ARTIFACT) or {}

    def _artifact_json(self, run: Any, artifact: str, *, quiet: bool = False) -> Any:
        """The JSON artifact ``artifact`` of ``run``, or None where it has none."""
        if run is None:
            return None
        folder, _, filename = f"{run.info.artifact_uri}/{artifact}".rpartition("/")
        try:
            with self._local(folder) as path:
                return json.loads(Path(path, filename).read_text())
        except (MlflowException, OSError, ValueError):
            if not quiet:
                log.warning("run %s has no readable %s", run.info.run_id, artifact)
            return None

    def baseline(self, info: VersionInfo) -> dict[str, Any] | None:
        """The drift baseline stored with the version ``info`` (None: fitted without one)."""
        found = self._artifact_json(self._run(info.run_id), BASELINE_ARTIFACT, quiet=True)
        return found if isinstance(found, dict) else None

    def set_baseline(self, info: VersionInfo, baseline: dict[str, Any]) -> None:
        """Store (or replace) the drift baseline of the version ``info``."""
        if not info.run_id:
            raise VersionNotFound(
                f"model {info.name!r} version {info.version} has no MLflow run to keep a "
                "baseline in; register it again with kepler"
            )
        self.client.log_dict(info.run_id, baseline, BASELINE_ARTIFACT)


REPRODUCES_TAG = "kepler.reproduces"


def reproduction_tags(
    original: str, verdict: str, rule: str, forced: bool, differences: list[dict[str, Any]]
) -> dict[str, str]:
    """The tags a reproduction's version carries (``kepler.reproduces=pump@3``, ...)."""
    tags = {
        REPRODUCES_TAG: original,
        "kepler.reproduce.verdict": verdict,
        "kepler.reproduce.rule": rule,
        "kepler.reproduce.forced": "true" if forced else "false",
    }
    if differences:
        tags["kepler.reproduce.packages"] = json.dumps(differences, sort_keys=True)
    return tags


def reproduction_of(tags: dict[str, str]) -> dict[str, Any] | None:
    """What a version's tags say it reproduces (None: it reproduces nothing)."""
    of = tags.get(REPRODUCES_TAG)
    if not of:
        return None
    try:
        differences = json.loads(tags.get("kepler.reproduce.packages") or "[]")
    except ValueError:
        differences = []
    return {
        "of": of,
        "verdict": tags.get("kepler.reproduce.verdict"),
        "rule": tags.get("kepler.reproduce.rule"),
        "forced": tags.get("kepler.reproduce.forced") == "true",
        "package_differences": differences,
    }


def _retrain_tags(tags: dict[str, str]) -> dict[str, Any] | None:
    """A retraining gate's decision from a version's ``kepler.retrain.*`` tags."""
    prefix = "kepler.retrain."
    found = {k[len(prefix) :]: v for k, v in tags.items() if k.startswith(prefix)}
    if not found:
        return None
    reasons = found.get("reasons") or ""
    return {**found, "reasons": [r for r in reasons.split("; ") if r]}


def lineage_tags(lineage: dict[str, Any]) -> dict[str, str]:
    """``kepler.dataset.*`` and ``kepler.splunk.*`` tags from a fit's lineage.

    Accepts ``{"dataset": <manifest>, "source": {search, earliest, latest, sid}}`` (what
    the worker passes) or the same keys flat.
    """
    dataset = lineage.get("dataset") if isinstance(lineage.get("dataset"), dict) else lineage
    assert isinstance(dataset, dict)
    source = lineage.get("source") or dataset.get("source") or lineage.get("splunk") or {}
    tags: dict[str, str] = {}
    for key in ("dataset_id", "content_hash", "rows", "columns", "schema"):
        value = dataset.get(key)
        if value is not None:
            tags[f"kepler.dataset.{key}"] = _text(value)
    for key in ("search", "earliest", "latest", "sid"):
        value = source.get(key) if isinstance(source, dict) else None
        if value is None:
            value = lineage.get(key)
        if value is not None:
            tags[f"kepler.splunk.{key}"] = _text(value)
    if lineage.get("continued_from") is not None:  # partial_fit: the version it continued
        tags["kepler.partial_fit.from"] = _text(lineage["continued_from"])
    return tags


def pip_requirements(meta: ModelMeta) -> list[str]:
    """What a Python environment needs to load this model, pinned to what trained it.

    Kepler itself is the wheel the model carries in ``wheels/`` (no public index serves
    ``kepler-ml``; see :mod:`kepler.ml.sdk_wheel`): MLflow installs a model's requirements
    from inside the model's folder, so the relative path resolves there, offline.
    """
    from kepler.ml.registry import get_algorithm

    names = ["scikit-learn", "cloudpickle", "numpy", "pandas"]
    with contextlib.suppress(Exception):  # a plugin since uninstalled: the core list
        extra = get_algorithm(meta.algorithm).extra
        if extra in ("xgboost", "torch"):
            names.append(extra)
    reqs = [f"{WHEELS_DIR}/{wheel_name(_version(DIST) or __version__)}"]
    for n in names:
        v = _version(n)
        reqs.append(f"{n}=={v}" if v else n)
    return reqs


def _version(dist: str) -> str | None:
    try:
        return pkg_metadata.version(dist)
    except pkg_metadata.PackageNotFoundError:
        return None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    return json.dumps(value, default=str)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _tag_values(tags: dict[str, str]) -> dict[str, str]:
    return {k: _clip(str(v), _MAX_TAG) for k, v in tags.items()}


def _iso(millis: int | None) -> str:
    if not millis:
        return ""
    return datetime.fromtimestamp(millis / 1000, tz=UTC).isoformat(timespec="seconds")


class _DropPickleAdvice(logging.Filter):
    """MLflow warns on every cloudpickle save; Kepler chose the format knowingly (see the
    module docstring), so the warning would only be noise in every fit's log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pickle or cloudpickle format" not in record.getMessage()


_quieted = False


def _quiet_mlflow() -> None:
    """MLflow and alembic log each database migration and save at INFO; keep WARNING up
    unless the application configured those loggers itself."""
    global _quieted
    if _quieted:
        return
    _quieted = True
    # MLflow 3 reports usage to its developers unless told not to; Kepler's servers keep
    # their traffic to what the operator configured (set it to "false" to opt in).
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in ("mlflow", "alembic"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET or logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
    logging.getLogger("mlflow.sklearn").addFilter(_DropPickleAdvice())
