"""The SDK's client of the bridge: frames up as Arrow, typed errors back."""

from __future__ import annotations

import contextlib
import ssl
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import httpx

from kepler import _frames
from kepler._home import read_token
from kepler._progress import progress_bar
from kepler._results import (
    AutoMLResult,
    FitResult,
    ModelSummary,
    ReproduceResult,
    jobs_frame,
    leaderboard_frame,
    models_frame,
    run_url,
)
from kepler._settings import ClientSettings
from kepler.core import wire
from kepler.core.durations import duration_seconds
from kepler.core.errors import BridgeUnavailable, JobFailed, KeplerError, from_dict
from kepler.core.identity import identity_headers
from kepler.core.refs import ModelRef, model_to_delete, validate_model_name

UPLOAD_STREAMS = 2
LONG_POLL_S = 10.0  # the longest the bridge holds a job request open


class Client:
    """A connection to one bridge.

    ``url`` and ``token`` default to ``KEPLER_URL`` / ``KEPLER_TOKEN``, then to the local
    embedded stack (``kepler up``) and the token file it keeps.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        verify: bool | str | None = None,
        timeout: float | None = None,
        settings: ClientSettings | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        s = settings or ClientSettings()
        self.settings = s
        self.url = (url or s.url).rstrip("/")
        self._auth = _TokenAuth(token or (s.token.get_secret_value() if s.token else None), s)
        if verify is None:
            verify = str(s.ca_bundle) if s.ca_bundle else s.verify_tls
        tls: bool | ssl.SSLContext = (
            ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify
        )
        self._http = httpx.Client(
            base_url=self.url,
            headers={"User-Agent": "kepler-sdk", **identity_headers(s.who())},
            auth=self._auth,
            verify=tls,
            timeout=timeout or s.timeout,
            transport=transport,
        )

    def __repr__(self) -> str:  # never shows the token
        return f"Client(url={self.url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.ConnectError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "SSL" in str(exc):
                raise BridgeUnavailable(
                    f"TLS verification of the bridge at {self.url} failed ({_reason(exc)}); "
                    "set KEPLER_CA_BUNDLE to the certificate of the authority that signed it"
                ) from None
            raise BridgeUnavailable(
                f"cannot reach the Kepler bridge at {self.url} ({_reason(exc)}); start it "
                "with `kepler up`, or set KEPLER_URL to where it runs"
            ) from None
        except httpx.TimeoutException:
            raise BridgeUnavailable(
                f"the Kepler bridge at {self.url} did not answer in time; "
                "raise KEPLER_TIMEOUT or check the bridge's load"
            ) from None
        if resp.status_code >= 400:
            raise _error(resp)
        return resp

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        return self._request(method, path, **kw).json()

    @contextlib.contextmanager
    def _stream(self, method: str, path: str, **kw: Any) -> Iterator[httpx.Response]:
        """A response read as it arrives; a refusal raises its typed error."""
        try:
            with self._http.stream(method, path, **kw) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise _error(resp)
                yield resp
        except httpx.TransportError as exc:
            raise BridgeUnavailable(
                f"reading from the Kepler bridge at {self.url} failed ({_reason(exc)}); "
                "check that it runs (`kepler up`) and try again"
            ) from None

    # -- API ----------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        out: dict[str, Any] = self._json("GET", wire.HEALTH)
        return out

    def algorithms(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self._json("GET", wire.ALGORITHMS)
        return out

    def upload(
        self, df: Any, *, source: dict[str, Any] | None = None, name: str | None = None
    ) -> str:
        """Send a DataFrame as a dataset (Arrow, in pieces); return its id. ``name`` (unused
        by any other dataset, else 409) then reads wherever the id does."""
        table = _frames.to_arrow(df)
        body = wire.DatasetCreate(
            "arrow", wire.SplunkSource.from_dict(source) if source else None, name=name
        )
        dataset_id = wire.DatasetCreated.from_dict(
            self._json("POST", wire.DATASETS, json=body.to_dict())
        ).id
        # Two requests in flight: the next piece is serialized and sent while the bridge
        # writes the last one; never more than two pieces in memory.
        chunks = 0
        piece_bytes = min(self.settings.upload_chunk_bytes, self.settings.chunk_bytes)
        with ThreadPoolExecutor(max_workers=UPLOAD_STREAMS) as pool:
            pending: deque[Future[Any]] = deque()
            for seq, piece in enumerate(_frames.slices(table, piece_bytes)):
                if len(pending) >= UPLOAD_STREAMS:
                    pending.popleft().result()
                pending.append(pool.submit(self._put_chunk, dataset_id, seq, piece))
                chunks = seq + 1
            for future in pending:
                future.result()
        self._json(
            "POST",
            wire.complete(dataset_id),
            json=wire.DatasetComplete(chunks=chunks, rows=table.num_rows).to_dict(),
        )
        return dataset_id

    def _put_chunk(self, dataset_id: str, seq: int, piece: Any) -> None:
        self._request(
            "PUT",
            wire.chunk(dataset_id, seq),
            content=_frames.ipc_bytes(piece),
            headers={"Content-Type": _frames.ARROW},
        )

    def fit(
        self,
        df: Any,
        algorithm: str,
        *,
        target: str | None = None,
        features: list[str] | None = None,
        into: str | None = None,
        as_: str | None = None,
        probabilities: bool = False,
        holdout: float = 0.2,
        partial_fit: bool = False,
        split: str | None = None,
        time_field: str | None = None,
        kfold_cv: int | None = None,
        gap: int | None = None,
        lags: list[int] | None = None,
        rolling: list[str] | None = None,
        wait: bool = True,
        progress: bool = True,
        source: dict[str, Any] | None = None,
        dataset_name: str | None = None,
        by: list[str] | str | None = None,
        **params: Any,
    ) -> FitResult:
        """Train ``algorithm`` on ``df`` in a worker. ``source`` records where the data came
        from (``search``, ``earliest``, ``latest``, ``sid``) in the model's lineage; a frame
        from :func:`kepler.from_splunk` brings its own. ``dataset_name`` names the uploaded
        dataset (``kp.dataset("sensors-2026-w48")``); a name in use is refused (409).
        ``by``: one model per group of these fields' values, in one version.
        ``partial_fit``: continue the latest version of ``into`` with these rows (a new
        version, tagged with the one it continued); see :mod:`kepler.ml.partial`.

        Validation: ``split="time"`` holds out the latest rows by ``time_field`` (default
        ``_time``; the default split when ``_time`` is a feature or ``time_field`` is
        given), ``split="random"`` a shuffled share; ``kfold_cv=k`` validates on k folds
        instead (time-ordered, as ``TimeSeriesSplit`` with ``gap`` rows between the sides,
        when the split is time), the result's ``folds`` holding each fold's scores.
        ``lags=[1, 24]`` and ``rolling=["mean:12"]`` add features from each numeric
        field's past in time order, recomputed by ``apply`` (see ``kp.fit``)."""
        if into is not None:
            validate_model_name(into)
        spec = wire.FitJob(
            algorithm=algorithm,
            target=target,
            features=list(features) if features else ["*"],
            params=params,
            into=into,
            output_name=as_,
            probabilities=probabilities,
            holdout=holdout,
            by=[by] if isinstance(by, str) else list(by or ()),
            partial_fit=partial_fit,
            split=split,
            time_field=time_field,
            kfold_cv=kfold_cv,
            gap=gap,
            lags=list(lags) if lags else None,
            rolling=list(rolling) if rolling else None,
        )
        # The bridge checks the spec first, so bad input is refused before data moves.
        self._json("POST", wire.FIT_JOBS, params={"dry_run": "true"}, json=spec.to_dict())
        if source is None:  # a frame from kp.from_splunk knows its search
            pulled = getattr(df, "attrs", {}).get("splunk")
            if isinstance(pulled, dict) and pulled.get("search"):
                source = {k: pulled.get(k) for k in ("search", "earliest", "latest", "sid")}
        dataset_id = self.upload(df, source=source, name=dataset_name)
        job = self._create_job(wire.FIT_JOBS, replace(spec, dataset_id=dataset_id))
        if not wait:
            return FitResult(job_id=job.id, model=into, version=None, run_id=None, client=self)
        return self.wait(job.id, progress=progress)

    def job(self, job_id: str, *, wait: float = 0.0, since: float | None = None) -> dict[str, Any]:
        """A job's state. With ``wait`` (seconds, at most 30) a long poll: the bridge
        answers once the job changed after ``since`` (its ``updated_at``) or finished."""
        if not wait:
            out: dict[str, Any] = self._json("GET", wire.job(job_id))
            return out
        params: dict[str, Any] = {"wait": wait}
        if since is not None:
            params["since"] = since
        out = self._json(
            "GET", wire.job(job_id), params=params, timeout=wait + self.settings.timeout
        )
        return out

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a queued or running job; returns the job, now ``cancelled``. A job that
        already succeeded or failed raises :class:`~kepler.Conflict`."""
        out: dict[str, Any] = self._json("DELETE", wire.job(job_id))
        return out

    def wait(self, job_id: str, *, progress: bool = True) -> FitResult:
        """Wait for a job, with a progress bar in terminals and notebooks."""
        job = self._wait_job(job_id, progress=progress, desc="fit")
        res = job.outcome
        return FitResult(
            job_id=job_id,
            model=res.get("model"),
            version=res.get("version"),
            run_id=res.get("run_id"),
            metrics=dict(res.get("metrics") or {}),
            rows=res.get("rows"),
            duration_s=job.duration_s,
            url=self.run_url(res.get("run_id")),
            client=self,
            split=res.get("split"),
            folds=list(res.get("folds") or []),
        )

    def automl(
        self,
        df: Any,
        *,
        target: str,
        into: str,
        features: list[str] | None = None,
        time_budget: str | float = "10m",
        metric: str | None = None,
        task: str | None = None,
        algorithms: list[str] | None = None,
        seed: int | None = None,
        max_trials: int | None = None,
        parallel: int | None = None,
        cv: int | None = None,
        holdout: float | None = None,
        max_latency_ms_per_row: float | None = None,
        max_model_mb: float | None = None,
        max_false_positive_rate: float | None = None,
        interpretable: bool | None = None,
        use_case: str | None = None,
        split: str | None = None,
        time_field: str | None = None,
        wait: bool = True,
        progress: bool = True,
        source: dict[str, Any] | None = None,
    ) -> AutoMLResult:
        """Search algorithms, parameters and feature work for ``target`` within
        ``time_budget`` (seconds or ``"10m"``), trials spread over every worker; the best
        model becomes a new version of ``into``. See ``kepler.core.automl`` for options."""
        validate_model_name(into)
        spec = wire.AutoMLJob(
            target=target,
            into=into,
            features=list(features) if features else ["*"],
            time_budget=time_budget,
            metric=metric,
            task=task,
            algorithms=list(algorithms) if algorithms else None,
            seed=seed,
            max_trials=max_trials,
            parallel=parallel,
            cv=cv,
            holdout=holdout,
            max_latency_ms_per_row=max_latency_ms_per_row,
            max_model_mb=max_model_mb,
            max_false_positive_rate=max_false_positive_rate,
            interpretable=interpretable,
            use_case=use_case,
            split=split,
            time_field=time_field,
        )
        # Bad options are refused before any data moves; bad data before workers start.
        self._json("POST", wire.AUTOML_JOBS, params={"dry_run": "true"}, json=spec.to_dict())
        dataset_id = self.upload(df, source=source)
        job = self._create_job(wire.AUTOML_JOBS, replace(spec, dataset_id=dataset_id))
        if not wait:
            return AutoMLResult(
                job_id=job.id,
                model=into,
                version=None,
                run_id=None,
                parent_run_id=None,
                algorithm=None,
                params={},
                metric=None,
                best_cv_score=None,
                metrics={},
                leaderboard=leaderboard_frame([]),
                client=self,
            )
        return self.automl_result(job.id, progress=progress)

    def automl_result(self, job_id: str, *, progress: bool = True) -> AutoMLResult:
        """Wait for an AutoML job (progress bar: trials done, best so far); its result."""
        job = self._wait_job(job_id, progress=progress, desc="automl")
        res = job.outcome
        return AutoMLResult(
            job_id=job_id,
            model=res.get("model"),
            version=res.get("version"),
            run_id=res.get("run_id"),
            parent_run_id=res.get("parent_run_id"),
            algorithm=res.get("algorithm"),
            params=dict(res.get("params") or {}),
            metric=res.get("metric"),
            best_cv_score=res.get("best_cv_score"),
            metrics=dict(res.get("metrics") or {}),
            leaderboard=leaderboard_frame(res.get("leaderboard") or []),
            counts=dict(res.get("counts") or {}),
            workers=list(res.get("workers") or []),
            duration_s=job.duration_s,
            url=self.run_url(res.get("run_id")),
            client=self,
        )

    def _create_job(self, path: str, body: wire.Body) -> wire.JobView:
        return wire.JobView.from_dict(self._json("POST", path, json=body.to_dict()))

    def _wait_job(self, job_id: str, *, progress: bool, desc: str) -> wire.JobView:
        job = wire.JobView.from_dict(self.job(job_id))
        budget = duration_seconds(job.spec.get("time_budget")) if desc == "automl" else None
        bar = progress_bar(desc, enabled=progress, budget_s=budget)
        try:
            while not job.finished:
                bar.update(job.percent, job.message)
                # Long poll: the bridge answers when the job moves, so the SDK neither
                # spins (taking CPU from the fit) nor lags behind it.
                answer = self._json(
                    "GET",
                    wire.job(job_id),
                    params={"wait": LONG_POLL_S, "since": job.updated_at},
                    timeout=LONG_POLL_S + self.settings.timeout,
                )
                job = wire.JobView.from_dict(answer)
            bar.update(job.percent, job.message)
        finally:
            bar.close()
        if not job.succeeded:
            rebuilt = from_dict(job.error or {"message": f"job {job_id} {job.state}"})
            if type(rebuilt) is KeplerError:
                rebuilt = JobFailed(rebuilt.message, detail=rebuilt.detail)
            raise rebuilt
        return job

    def apply(
        self,
        df: Any,
        model: str,
        *,
        probabilities: bool | None = None,
        as_: str | None = None,
        shadow: str | None = None,
        threshold: float | Sequence[float] | str | None = None,
        lower_threshold: float | Sequence[float] | str | None = None,
        upper_threshold: float | Sequence[float] | str | None = None,
        show_density: bool | None = None,
        sample: bool | None = None,
        full_sample: bool | None = None,
        show_options: str | None = None,
    ) -> Any:
        """Score ``df`` with ``model`` (``pump``, ``pump@3``, ``pump:production``); return
        ``df`` with the model's output fields added. ``shadow="pump@5"`` scores the rows
        with that version too (champion/challenger): the answer is ``model``'s alone, and
        the challenger's agreement goes to Splunk as a ``kepler:shadow`` event.
        ``threshold``, ``lower_threshold``, ``upper_threshold`` (a number, several as a
        list or ``"0.01,0.005"``), ``show_density``, ``sample``, ``full_sample``,
        ``show_options``: a DensityFunction model's outlier rule and outputs for these
        rows, without refitting (MLTK's apply options; BoundaryRanges comes back as its
        ``\\n``-joined text). A large ``df`` goes in pieces of ``chunk_bytes``, except to a
        forecaster, which runs over the whole series at once (``kp.forecast`` takes its
        options)."""
        import pandas as pd

        ref = ModelRef.parse(model)
        if shadow is not None:
            ModelRef.parse(shadow)  # a bad reference fails here, before any row is sent
        table = _frames.to_arrow(df)
        query = wire.ModelApply(
            probabilities=probabilities,
            output_name=as_ or None,
            include_input=False,
            shadow=shadow,
            threshold=_floats_text(threshold),
            lower_threshold=_floats_text(lower_threshold),
            upper_threshold=_floats_text(upper_threshold),
            show_density=show_density,
            sample=sample,
            full_sample=full_sample,
            show_options=show_options,
        ).to_params()

        def score(piece: Any) -> Any:
            resp = self._request(
                "POST",
                wire.apply(ref),
                params=query,
                content=_frames.ipc_bytes(piece),
                headers={"Content-Type": _frames.ARROW},
            )
            return _frames.from_ipc(resp.content)

        # Pieces go two at a time (the bridge scores one while the next is sent); map()
        # keeps their order. A forecaster runs over the whole series at once: its rows go
        # in one request, however large (the bridge bounds it by KEPLER_MAX_CHUNK_BYTES).
        pieces: Any = list(_frames.slices(table, self.settings.chunk_bytes))
        if len(pieces) > 1:
            found = wire.ModelView.from_dict(self._json("GET", wire.model(ref)))
            if found.task == "forecaster":
                pieces = [table]
        with ThreadPoolExecutor(max_workers=UPLOAD_STREAMS) as pool:
            parts = list(pool.map(score, pieces))
        import pyarrow as pa

        scored = pa.concat_tables(parts, promote_options="default").to_pandas()
        scored.index = df.index
        base = df.drop(columns=[c for c in scored.columns if c in df.columns])
        return pd.concat([base, scored], axis=1)

    def forecast(
        self,
        df: Any,
        model: str,
        *,
        k: int | str = 0,
        as_: str | None = None,
        conf_interval: float | None = None,
        holdback: int | str | None = None,
        output_metadata: bool | None = None,
        target: str | Sequence[str] | None = None,
        specialdays: str | None = None,
        period: int | None = None,
    ) -> Any:
        """A forecaster's (StateSpaceForecast, ARIMA) apply, as MLTK's: the saved model run
        over ``df``'s series (its field(s) and ``_time``), then ``k`` steps forecast after
        the last row run over (rows, or a time amount such as ``"2weeks"``); ``df`` with
        only ``_time`` reads the trained forecast at those times instead, the ``k`` rows
        after the later of the series' end and ``df``'s last row. Answers ``df``'s
        columns, ``predicted(<field>)``, ``lower<ci>(predicted(<field>))`` and
        ``upper<ci>(predicted(<field>))``, sorted by ``_time``. MLTK's apply options:
        ``conf_interval`` (percent, another interval than the fitted one), ``holdback``
        (the last rows left out of the run, forecast instead), ``output_metadata``
        (``_forecastMetadata``: h, f, hf), ``target`` (StateSpaceForecast: only these
        fitted fields' outputs), ``specialdays`` (the fitted special-days field, read from
        ``df``), ``period`` (StateSpaceForecast's fitted period, checked). One request:
        ``df`` is one series, not a large table."""
        import pandas as pd

        ref = ModelRef.parse(model)
        query = wire.ModelApply(
            output_name=as_ or None,
            include_input=False,
            forecast_k=k,
            conf_interval=conf_interval,
            holdback=holdback,
            output_metadata=output_metadata,
            target=target if target is None or isinstance(target, str) else ",".join(target),
            specialdays=specialdays,
            period=period,
        )
        resp = self._request(
            "POST",
            wire.apply(ref),
            params=query.to_params(),
            content=_frames.ipc_bytes(_frames.to_arrow(df)),
            headers={"Content-Type": _frames.ARROW},
        )
        scored = _frames.from_ipc(resp.content).to_pandas()
        outputs = scored.drop(columns=["_time"], errors="ignore")
        base = df.drop(columns=[c for c in outputs.columns if c in df.columns])
        merged = pd.concat([base.reset_index(drop=True), outputs], axis=1)
        if "_time" in scored.columns:
            if pd.api.types.is_datetime64_any_dtype(df.get("_time", pd.Series()).dtype):
                zone = getattr(df["_time"].dtype, "tz", None)
                stamps = pd.to_datetime(scored["_time"], unit="s", utc=True)
                merged["_time"] = (
                    stamps.dt.tz_convert(zone) if zone else stamps.dt.tz_localize(None)
                )
            else:
                merged["_time"] = scored["_time"]
            merged = merged.sort_values("_time", kind="stable", ignore_index=True)
        return merged

    def predict(
        self,
        data: Any,
        model: str,
        *,
        probabilities: bool | None = None,
        as_: str | None = None,
    ) -> Any:
        """Score a few rows with ``model`` (``pump``, ``pump@3``, ``pump:production``) on
        the bridge's online path, answered from memory.

        ``data``: a list of records (dicts, each with every field the model was trained
        on), answered with a list of dicts holding the model's output fields, one per
        record; or a DataFrame, answered with a DataFrame of the output fields on its
        index. For large tables use :meth:`apply` (the bridge refuses more than
        ``KEPLER_PREDICT_MAX_ROWS`` rows a request)."""
        ref = ModelRef.parse(model)
        query: dict[str, Any] = {}
        if probabilities is not None:
            query["probabilities"] = str(probabilities).lower()
        if as_:
            query["as"] = as_
        records = isinstance(data, list | tuple)
        if records:
            resp = self._request("POST", wire.predict(ref), params=query, json={"rows": data})
        else:
            resp = self._request(
                "POST",
                wire.predict(ref),
                params=query,
                content=_frames.ipc_bytes(_frames.to_arrow(data)),
                headers={"Content-Type": _frames.ARROW},
            )
        answer = resp.json()
        columns = {answer["fields"][0]: answer["predictions"], **answer["outputs"]}
        if records:
            names = list(columns)
            return [
                dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)
            ]
        import pandas as pd

        return pd.DataFrame(columns, index=data.index)

    def drift(
        self,
        df: Any,
        model: str,
        *,
        method: str = "auto",
        threshold: float | None = None,
    ) -> Any:
        """Drift of ``df`` (a window of events) against ``model``'s baseline: a DataFrame
        with one row per field and one per model output. A window larger than
        ``chunk_bytes`` is sampled uniformly to fit (``.attrs["sampled_from"]``)."""
        import pandas as pd

        table = _frames.to_arrow(df)
        sampled_from = None
        if table.nbytes > self.settings.chunk_bytes and table.num_rows > 1:
            import numpy as np

            keep = max(1, int(table.num_rows * self.settings.chunk_bytes / table.nbytes))
            rows = np.sort(np.random.default_rng(0).choice(table.num_rows, keep, replace=False))
            sampled_from, table = table.num_rows, table.take(rows)
        answer = self._json(
            "POST",
            wire.drift(ModelRef.parse(model)),
            params=wire.DriftOptions(method=method, threshold=threshold).to_params(),
            content=_frames.ipc_bytes(table),
            headers={"Content-Type": _frames.ARROW},
        )
        out = pd.DataFrame(answer["rows"])
        out.attrs.update(
            model=answer["model"], version=answer["version"], sampled_from=sampled_from
        )
        return out

    def baseline(self, model: str, df: Any, *, replace: bool = False) -> dict[str, Any]:
        """Make ``model``'s drift baseline (``pump@3``) from ``df``, rows you trust (what
        it was trained on); ``replace=True`` overwrites one it has (admin)."""
        answer: dict[str, Any] = self._json(
            "POST",
            wire.baseline(ModelRef.parse(model)),
            params={"replace": str(replace).lower()},
            content=_frames.ipc_bytes(_frames.to_arrow(df)),
            headers={"Content-Type": _frames.ARROW},
        )
        return answer

    def register(
        self,
        fitted: Any,
        into: str,
        *,
        features: list[str] | None = None,
        target: str | None = None,
        requirements: list[str] | None = None,
        data: Any = None,
        description: str | None = None,
    ) -> ModelSummary:
        """Register ``fitted`` (a scikit-learn estimator or pipeline, an XGBoost model, an
        installed plugin's estimator, Kepler's ``TorchMLPClassifier``/``Regressor``,
        fitted anywhere) as the next version of ``into``, for ``apply``, schedules and
        monitors like any fitted version. It travels in skops' secure format, never as a
        pickle (``pip install 'kepler-ml[register]'``). ``features``: the fields it reads,
        in order (default: what it was fitted on); ``target``: the field a classifier or
        regressor predicts; ``requirements``: pip lines it needs beyond the packages
        recorded from here; ``data``: rows it was trained on, for the version's drift
        baseline (and the features' types), sent in the same request: the version is
        made with its baseline, or not at all."""
        from kepler._register import register_body

        validate_model_name(into)
        body = register_body(
            fitted,
            features=features,
            target=target,
            requirements=requirements,
            data=data,
            description=description,
        )
        return self.register_body(into, body)

    def register_body(self, into: str, body: bytes) -> ModelSummary:
        """Send a registration body as ``kepler._register`` frames it (``kepler model
        register`` sends a skops file it did not load, and a data file's rows)."""
        answer: dict[str, Any] = self._json(
            "POST",
            wire.register(into),
            content=body,
            headers={"Content-Type": wire.REGISTER_MEDIA},
        )
        return ModelSummary(answer)

    def models(self) -> Any:
        """Every model with its latest version, one flat row each (see ``models_frame``)."""
        return models_frame(self.model_list())

    def model_list(self) -> list[dict[str, Any]]:
        """Every model as the bridge answers it (``versions`` a list of numbers,
        ``aliases`` a mapping to versions): what ``kepler models --json`` prints."""
        rows: list[dict[str, Any]] = self._json("GET", wire.MODELS)
        return rows

    def summary(self, model: str) -> ModelSummary:
        """Everything known about one version (``pump``, ``pump@3``, ``pump:prod``): a
        mapping that renders as HTML in notebooks and draws with ``.plot()``."""
        out = ModelSummary(self._json("GET", wire.model(ModelRef.parse(model))))
        out.url = self.run_url(out.get("run_id"))
        return out

    def reproduce(
        self, ref: str, *, force: bool = False, wait: bool = True, progress: bool = True
    ) -> ReproduceResult:
        """Retrain version ``ref`` (``pump@3``) from its stored dataset, spec, parameters,
        seed and split into a new version of the same model tagged
        ``kepler.reproduces=pump@3``, and compare the two metric by metric (see
        :class:`ReproduceResult`). Refused (:class:`~kepler.NotReproducible`) when the
        dataset was deleted, or when the worker's package versions differ from the
        recorded ones (``detail["packages"]`` lists them) unless ``force=True``, which
        goes ahead and records the difference on the new version."""
        job = wire.JobView.from_dict(
            self._json(
                "POST", wire.reproduce(ModelRef.parse(ref)), json=wire.Reproduce(force).to_dict()
            )
        )
        if not wait:
            return ReproduceResult(job.id, job.model, None, None, None, client=self)
        return self.reproduction(job.id, progress=progress)

    def reproduction(self, job_id: str, *, progress: bool = True) -> ReproduceResult:
        """Wait for reproduce job ``job_id`` and read its result."""
        job = self._wait_job(job_id, progress=progress, desc="reproduce")
        res = job.outcome
        return ReproduceResult(
            job_id=job_id,
            model=res.get("model"),
            version=res.get("version"),
            reproduces=res.get("reproduces"),
            verdict=res.get("verdict"),
            rule=dict(res.get("rule") or {}),
            comparison=list(res.get("comparison") or []),
            forced=bool(res.get("forced")),
            package_differences=list(res.get("package_differences") or []),
            run_id=res.get("run_id"),
            metrics=dict(res.get("metrics") or {}),
            duration_s=job.duration_s,
            url=self.run_url(res.get("run_id")),
            client=self,
        )

    def datasets(self) -> Any:
        """Every dataset, newest first, with the model versions trained on each."""
        from kepler._datasets import datasets

        return datasets(self)

    def dataset(self, dataset: str) -> Any:
        """Dataset ``dataset`` (its id or name) read back as a DataFrame."""
        from kepler._datasets import read

        return read(self, dataset)

    def delete_dataset(self, dataset: str) -> dict[str, Any]:
        """Delete a dataset no version was trained on (a named one: admin level)."""
        out: dict[str, Any] = self._json("DELETE", wire.dataset(dataset))
        return out

    def run_url(self, run_id: str | None) -> str | None:
        """``run_id``'s page in the MLflow UI at ``KEPLER_MLFLOW_UI_URL``; None unset."""
        return run_url(self.settings.mlflow_ui_url, run_id)

    def delete_model(self, model: str) -> None:
        """Delete ``model`` with every version; ``pump@3`` is refused, never widened."""
        self._request("DELETE", wire.model(model_to_delete(model)))

    def set_alias(self, model: str, alias: str, version: int) -> None:
        self._request("PUT", wire.alias(model, alias), json=wire.AliasSet(version).to_dict())

    def delete_alias(self, model: str, alias: str) -> None:
        """Remove alias ``alias`` of ``model`` (admin level); its version stays."""
        self._request("DELETE", wire.alias(model, alias))

    def promote(self, ref: str, alias: str) -> dict[str, Any]:
        """Point ``alias`` of the model ``ref`` names at that version (admin level):
        ``promote("pump@4", "production")``; ``pump:staging`` or ``pump`` (its latest)
        name a version too. The answer says which version the alias left."""
        parsed = ModelRef.parse(ref)
        version = parsed.version
        if version is None:
            version = int(self._json("GET", wire.model(parsed))["version"])
        answer: dict[str, Any] = self._json(
            "PUT", wire.alias(parsed.name, alias), json=wire.AliasSet(version).to_dict()
        )
        return answer

    def unalias(self, model: str, alias: str) -> dict[str, Any]:
        """Remove ``alias`` of ``model`` (admin level); the version stays. Recorded as a move."""
        answer: dict[str, Any] = self._json("DELETE", wire.alias(model, alias))
        return answer

    def alias_moves(self, limit: int = 100, name: str | None = None) -> Any:
        """Every alias move, latest first (who, when, alias, from which version to which),
        as a DataFrame; ``name`` keeps one model's."""
        import pandas as pd

        params: dict[str, Any] = {"limit": limit}
        if name:
            params["name"] = name
        rows = self._json("GET", wire.AUDIT_ALIASES, params=params)
        columns = ["at", "user", "roles", "model", "alias", "from_version", "to_version"]
        frame = pd.DataFrame(rows, columns=columns)
        frame["at"] = pd.to_datetime(frame["at"], unit="s", utc=True)
        return frame

    def compare(self, first: str, second: str) -> Any:
        """Two versions side by side (``compare("pump@3", "pump@4")``), as a DataFrame of
        ``item``, one column per version, ``changed`` and ``detail``: parameters, metrics,
        features, data fingerprints and drift between their training data's baselines."""
        import pandas as pd

        a, b = ModelRef.parse(first), ModelRef.parse(second)
        answer = self._json("GET", wire.compare(a, b))
        return pd.DataFrame(
            answer["rows"], columns=["item", *answer["columns"], "changed", "detail"]
        )

    def deletions(self, limit: int = 100, name: str | None = None) -> Any:
        """The bridge's deletion log, latest first: who deleted which model or schedule,
        when, and what went with it, as a DataFrame."""
        import pandas as pd

        params: dict[str, Any] = {"limit": limit}
        if name:
            params["name"] = name
        rows = self._json("GET", wire.AUDIT_DELETIONS, params=params)
        frame = pd.DataFrame(rows, columns=["at", "user", "roles", "kind", "name", "detail"])
        frame["at"] = pd.to_datetime(frame["at"], unit="s", utc=True)
        return frame

    def jobs(self, limit: int = 100, state: str | None = None) -> Any:
        """The newest ``limit`` jobs, one flat row each, times as UTC datetimes; ``state``
        keeps one state only (``queued``, ``running``, ``succeeded``, ``failed``,
        ``cancelled``)."""
        params: dict[str, Any] = {"limit": limit}
        if state:
            params["status"] = state
        return jobs_frame(self._json("GET", wire.JOBS, params=params))

    # -- scheduled scoring ----------------------------------------------------------------

    def schedule(
        self,
        name: str,
        search: str,
        model: str,
        *,
        every: str = "5m",
        earliest: str | None = None,
        latest: str | None = None,
        index: str | None = None,
        sourcetype: str | None = None,
        start_now: bool = False,
        shadow: str | None = None,
        retrain: bool = False,
        gate: str | None = None,
        alias: str | None = None,
        spec: str | None = None,
    ) -> dict[str, Any]:
        """Every ``every`` (``5m``, ``30s``, ``1h``) run ``search`` in Splunk over
        ``earliest``..``latest`` (default: the interval just past), score the results with
        ``model`` (latest version, or ``pump@3`` / ``pump:production``) and write the scores
        via HEC into ``index``. ``shadow="pump@5"``: that version scores every run too
        (champion/challenger), its agreement sent as ``kepler:shadow`` events.

        ``retrain=True``: each run fits ``spec`` (a fit line such as ``"RandomForestClassifier
        failure from temp site"``; default: the spec of ``model``'s version) on the
        interval's events into a new version of the model, and moves ``alias`` (default:
        the one the gate names, else ``production``) to it only when it passes ``gate``,
        e.g. ``"f1>=production.f1-0.01"``: both versions are scored on the new fit's
        holdout. A malformed gate is refused here, showing the grammar."""
        if gate is not None:
            from kepler.core.gate import parse_gate

            parse_gate(gate)  # refused before the request, with the grammar
        body = wire.ScheduleCreate(
            name=name,
            search=search,
            model=model,
            every=str(every),
            earliest=earliest,
            latest=latest,
            index=index,
            sourcetype=sourcetype,
            start_now=start_now,
            shadow=shadow,
            retrain=retrain,
            gate=gate,
            alias=alias,
            spec=spec,
        )
        return self._post(wire.SCHEDULES, body)

    def schedules(self) -> Any:
        return self._frame(wire.SCHEDULES)

    def unschedule(self, name: str) -> None:
        self._request("DELETE", wire.schedule(name))

    def run_schedule(self, name: str) -> dict[str, Any]:
        """Queue one run of schedule ``name`` now; returns its job."""
        return self._post(wire.schedule_run(name))

    def schedule_runs(self, name: str, limit: int = 20) -> list[dict[str, Any]]:
        return self._runs(wire.schedule_runs(name), limit)

    # -- monitors -------------------------------------------------------------------------

    def monitor(
        self,
        name: str,
        search: str,
        model: str,
        *,
        every: str = "1h",
        label: str | None = None,
        method: str = "auto",
        threshold: float | None = None,
        index: str | None = None,
        start_now: bool = False,
    ) -> dict[str, Any]:
        """Every ``every`` search ``search`` over the interval just past, compare its events
        with ``model``'s baseline (``method``, ``threshold``: as ``kp.drift``) and, with
        ``label``, score the labelled events; write ``kepler.drift.<method>`` and
        ``kepler.live.<metric>`` metric events via HEC into ``index`` (a metrics index),
        and a ``kepler:drift`` event when a field drifted. The bridge also makes the
        monitor's saved search ``kepler_drift_<name>`` in Splunk, disabled; ``alert`` in the
        answer says whether it did, else why not and the savedsearches.conf stanza."""
        body = wire.MonitorCreate(
            name=name,
            search=search,
            model=model,
            every=str(every),
            label=label,
            method=method,
            threshold=threshold,
            index=index,
            start_now=start_now,
        )
        return self._post(wire.MONITORS, body)

    def monitors(self) -> Any:
        return self._frame(wire.MONITORS)

    def remove_monitor(self, name: str) -> dict[str, Any]:
        """Remove monitor ``name`` and its saved search in Splunk (``alert``: removed, or
        why not)."""
        out: dict[str, Any] = self._json("DELETE", wire.monitor(name))
        return out

    def run_monitor(self, name: str) -> dict[str, Any]:
        """Queue one run of monitor ``name`` now; returns its job."""
        return self._post(wire.monitor_run(name))

    def monitor_runs(self, name: str, limit: int = 20) -> list[dict[str, Any]]:
        return self._runs(wire.monitor_runs(name), limit)

    # -- what schedules and monitors share ------------------------------------------------

    def _frame(self, path: str) -> Any:
        """A listing as a DataFrame, one row per item."""
        import pandas as pd

        return pd.DataFrame(self._json("GET", path))

    def _post(self, path: str, body: Any = None) -> dict[str, Any]:
        out: dict[str, Any] = self._json("POST", path, json=body.to_dict() if body else None)
        return out

    def _runs(self, path: str, limit: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = self._json("GET", path, params={"limit": limit})
        return out


class _TokenAuth(httpx.Auth):
    """``Authorization: Bearer`` with the token given, else the one ``kepler up`` keeps in
    its home, read when first needed (the stack may start after the client is made)."""

    def __init__(self, token: str | None, settings: ClientSettings) -> None:
        self._token = token
        self._home = settings.home

    def auth_flow(self, request: httpx.Request) -> Any:
        if self._token is None:
            self._token = read_token(self._home)
        if self._token:
            request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


def _floats_text(value: float | Sequence[float] | str | None) -> str | None:
    """A threshold as the wire carries it: MLTK's text, ``0.01`` or ``0.01,0.005``."""
    if value is None or isinstance(value, str):
        return value
    from kepler.core.density import mltk_text

    return mltk_text(list(value) if isinstance(value, Sequence) else float(value))


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.split("]")[-1].strip() or text


def _error(resp: httpx.Response) -> KeplerError:
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return from_dict(body["error"], status=resp.status_code)
    return KeplerError(f"the bridge answered HTTP {resp.status_code} without a Kepler error body")
