"""The online path: a few rows scored from memory and answered as JSON
(``POST /v1/models/{ref}/predict``, ``kp.predict``).

A one-row answer must not pay for work that does not depend on its rows, so:

- the reference is resolved through :meth:`ModelCache.fetch_cached` (no registry query
  per request; see :mod:`kepler.server.model_cache` for how a change is seen) and the
  model is loaded once;
- below ``KEPLER_PREDICT_PARALLEL_ROWS`` rows the model predicts on the calling thread,
  through a copy of the fitted pipeline with ``n_jobs=1``
  (:mod:`kepler.server.scoring.threads`); larger batches use the model as trained;
- JSON rows of an all-numeric model become one float64 matrix in one conversion, other
  models' one array per field, as ``frames.conform`` would make them (no per-column
  pandas work): the pipeline gets one DataFrame, already conformed;
- every field the model was trained on must be in every row: a 422 names those missing.

:class:`OnlineScorer` is the plain, synchronous work (read, check, predict); the
event loop runs it through :class:`kepler.server.scoring.service.OnlineService`.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kepler.core.errors import DataError, InvalidSpec, PayloadTooLarge
from kepler.core.refs import ModelRef
from kepler.server.model_cache import Key, Loaded, ModelCache, registration_key
from kepler.server.scoring._tables import read_body, read_csv_for_model
from kepler.server.scoring.threads import single_threaded

JSON_FORMS = ("rows", "dataframe_records", "dataframe_split")
HOW_TO_SEND = (
    'send {"rows": [{"field": value, ...}, ...]}, MLflow\'s {"dataframe_records": [...]} '
    'or {"dataframe_split": {"columns": [...], "data": [[...], ...]}}, or a CSV or Arrow '
    "body with its Content-Type"
)


@dataclass(frozen=True)
class PredictOptions:
    """As ``| kepler apply`` takes them: class probabilities (None: as fitted) and the
    output field's name (``as``)."""

    probabilities: bool | None = None
    output_name: str | None = None


@dataclass
class Prepared:
    """One request's rows, read and checked against its model: ready to predict."""

    info: Any  # the resolved VersionInfo
    model: Loaded
    columns: dict[str, np.ndarray]  # each of the model's fields, as the pipeline takes it
    rows: int
    options: PredictOptions
    matrix: np.ndarray | None = None  # instead of columns: an all-numeric model's rows

    @property
    def key(self) -> tuple[Key, PredictOptions]:
        """Requests with equal keys may be predicted together."""
        return registration_key(self.info), self.options


@dataclass(frozen=True)
class Predicted:
    """The model's output fields for one request's rows."""

    model: str
    version: int
    fields: list[str]
    values: dict[str, list[Any]]  # field -> one JSON value per row

    def to_json(self) -> bytes:
        first = self.fields[0] if self.fields else None
        body = {
            "model": self.model,
            "version": self.version,
            "rows": len(self.values[first]) if first else 0,
            "fields": self.fields,
            "predictions": self.values[first] if first else [],
            "outputs": {f: self.values[f] for f in self.fields[1:]},
        }
        return json.dumps(body, separators=(",", ":")).encode()


class OnlineScorer:
    """Read, check and predict small requests (the synchronous part of the online path)."""

    def __init__(self, cache: ModelCache, *, max_rows: int, parallel_rows: int) -> None:
        self.cache = cache
        self.max_rows = max_rows
        self.parallel_rows = parallel_rows
        self._single: OrderedDict[Key, Any] = OrderedDict()  # registration -> n_jobs=1 copy
        self._lock = threading.Lock()

    def predict_body(self, ref: ModelRef, fmt: str, body: bytes, options: PredictOptions) -> bytes:
        """The JSON answer for ``body`` (``fmt``: json, csv or arrow) scored by ``ref``."""
        return self.predict([self.prepare(ref, fmt, body, options)])[0].to_json()

    def prepare(
        self,
        ref: ModelRef,
        fmt: str,
        body: bytes,
        options: PredictOptions,
        fetched: tuple[Any, Loaded] | None = None,
    ) -> Prepared:
        """``body``'s rows read and checked against the model ``ref`` names (``fetched``:
        what the cache already answered for it)."""
        info, model = fetched or self.cache.fetch_cached(ref)
        meta = model[1]
        if fmt == "json":
            rows, missing = _read_json(body, meta.features, self.max_rows)
            self._check(info, meta, missing)
            matrix = _numeric_matrix(rows, meta)
            if matrix is not None:
                return Prepared(info, model, {}, len(rows), options, matrix)
            by_field = list(zip(*rows, strict=True)) if rows else [()] * len(meta.features)
            columns = {
                f: _conform(list(values), meta.feature_types[f])
                for f, values in zip(meta.features, by_field, strict=True)
            }
            n = len(rows)
        else:
            table = read_csv_for_model(body, meta) if fmt == "csv" else read_body(fmt, body)
            n = table.num_rows
            self._check_rows(n)
            self._check(info, meta, [f for f in meta.features if f not in table.column_names])
            columns = _table_columns(table, meta)
        return Prepared(info, model, columns, n, options)

    def predict(self, items: Sequence[Prepared]) -> list[Predicted]:
        """Predict ``items`` (one registration, one set of options) in one call; each
        gets its own rows' answers."""
        import pandas as pd

        from kepler.ml.frames import NUMERIC
        from kepler.ml.outputs import predict_frame

        first = items[0]
        pipeline, meta = first.model
        total = sum(p.rows for p in items)
        features = list(meta.features)
        if all(meta.feature_types[f] == NUMERIC for f in features):
            # One float64 block: a third of the cost of one column per field to build.
            blocks = [_block(p, features) for p in items]
            block = blocks[0] if len(blocks) == 1 else np.vstack(blocks)
            frame = pd.DataFrame(block, columns=features, copy=False)
        else:
            columns = first.columns
            if len(items) > 1:
                columns = {f: np.concatenate([p.columns[f] for p in items]) for f in features}
            frame = pd.DataFrame(columns, columns=features, copy=False)
        if total < self.parallel_rows:
            pipeline = self._single_threaded(first.info, pipeline)
        out = predict_frame(
            pipeline,
            meta,
            frame,
            probabilities=first.options.probabilities,
            output_name=first.options.output_name,
            conformed=True,
        )
        fields = [str(c) for c in out.columns]
        values = {str(c): _json_values(out[c].to_numpy()) for c in out.columns}
        answers, start = [], 0
        for p in items:
            end = start + p.rows
            answers.append(
                Predicted(
                    p.info.name,
                    int(p.info.version),
                    fields,
                    {f: v[start:end] for f, v in values.items()},
                )
            )
            start = end
        return answers

    def _single_threaded(self, info: Any, pipeline: Any) -> Any:
        key = registration_key(info)
        with self._lock:
            if key in self._single:
                self._single.move_to_end(key)
                return self._single[key]
        one = single_threaded(pipeline)
        with self._lock:
            self._single[key] = one
            while len(self._single) > self.cache.size:
                self._single.popitem(last=False)
        return one

    def _check_rows(self, n: int) -> None:
        if n > self.max_rows:
            raise PayloadTooLarge(
                f"the request has {n:,} rows, more than the {self.max_rows:,} a predict "
                "request may carry (KEPLER_PREDICT_MAX_ROWS); send fewer rows per request, "
                "or score a large table with kp.apply (POST /v1/models/{ref}/apply)",
                detail={"setting": "KEPLER_PREDICT_MAX_ROWS", "limit_rows": self.max_rows},
            )

    def _check(self, info: Any, meta: Any, missing: list[str]) -> None:
        if missing:
            raise DataError(
                f"the rows lack {len(missing)} of the fields model {info.name}@{info.version} "
                f"needs: {_names(missing)}; send every field it was trained on in every row "
                f"(null where a value is unknown). It needs: {_names(meta.features)}",
                detail={
                    "missing_fields": missing,
                    "model": info.name,
                    "version": int(info.version),
                },
            )


def _read_json(
    body: bytes, features: Sequence[str], max_rows: int
) -> tuple[list[list[Any]], list[str]]:
    """``(each row's values of the features, features missing)`` from one of the JSON
    forms; with fields missing, the rows are not read."""
    try:
        doc = json.loads(body) if body.strip() else None
    except ValueError as exc:
        raise InvalidSpec(f"the body is not JSON ({exc}); {HOW_TO_SEND}") from None
    forms = [k for k in JSON_FORMS if isinstance(doc, dict) and k in doc]
    if len(forms) != 1:
        raise InvalidSpec(f"the body names no rows in a form the bridge reads; {HOW_TO_SEND}")
    assert isinstance(doc, dict)
    form = forms[0]
    if form == "dataframe_split":
        return _read_split(doc[form], features, max_rows)
    records = doc[form]
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InvalidSpec(f'"{form}" must be a list of objects, one per row; {HOW_TO_SEND}')
    _too_many(len(records), max_rows)
    missing = [f for f in features if any(f not in r for r in records)]
    if missing:
        return [], missing
    return [[r[f] for f in features] for r in records], []


def _read_split(
    split: Any, features: Sequence[str], max_rows: int
) -> tuple[list[list[Any]], list[str]]:
    if not isinstance(split, dict) or not isinstance(split.get("columns"), list):
        raise InvalidSpec(f'"dataframe_split" needs "columns" and "data"; {HOW_TO_SEND}')
    columns, data = split["columns"], split.get("data", [])
    if not isinstance(data, list):
        raise InvalidSpec(f'"dataframe_split"."data" must be a list of rows; {HOW_TO_SEND}')
    _too_many(len(data), max_rows)
    width = len(columns)
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != width:
            raise InvalidSpec(
                f'row {i} of "dataframe_split"."data" is not a list of {width} values, one '
                'per name in "columns"'
            )
    position = {c: i for i, c in enumerate(columns) if isinstance(c, str)}
    missing = [f for f in features if f not in position]
    if missing:
        return [], missing
    at = [position[f] for f in features]
    return [[row[i] for i in at] for row in data], []


def _too_many(n: int, max_rows: int) -> None:
    if n > max_rows:
        raise PayloadTooLarge(
            f"the request has {n:,} rows, more than the {max_rows:,} a predict request may "
            "carry (KEPLER_PREDICT_MAX_ROWS); send fewer rows per request, or score a large "
            "table with kp.apply (POST /v1/models/{ref}/apply)",
            detail={"setting": "KEPLER_PREDICT_MAX_ROWS", "limit_rows": max_rows},
        )


def _numeric_matrix(rows: list[list[Any]], meta: Any) -> np.ndarray | None:
    """An all-numeric model's rows as one float64 matrix in one C loop (NaN where null
    or infinite), or None: text or nested values in them, or a categorical field."""
    from kepler.ml.frames import NUMERIC

    if not all(meta.feature_types[f] == NUMERIC for f in meta.features):
        return None
    try:
        matrix = np.array(rows, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if matrix.shape != (len(rows), len(meta.features)):
        return None
    matrix[np.isinf(matrix)] = np.nan
    return matrix


def _block(item: Prepared, features: list[str]) -> np.ndarray:
    if item.matrix is not None:
        return item.matrix
    return np.column_stack([item.columns[f] for f in features])


def _conform(values: list[Any], kind: str) -> np.ndarray:
    """One field's JSON values as ``frames.conform`` makes them: float64 (NaN where
    missing, not a number, or infinite) or strings (NaN where missing or blank)."""
    import pandas as pd

    from kepler.ml import frames

    if kind == frames.NUMERIC:
        try:  # numbers, nulls and numeric text: one C loop
            array = np.array(values, dtype=np.float64)
        except (TypeError, ValueError):
            array = np.empty(0)
        if array.ndim != 1 or len(array) != len(values):  # blanks, words, nested values
            return frames.numeric_values(pd.Series(values, dtype=object))
        array[np.isinf(array)] = np.nan
        return array
    return frames.categorical_values(pd.Series(values, dtype=object))


def _table_columns(table: Any, meta: Any) -> dict[str, np.ndarray]:
    from kepler.ml import frames

    frame = table.select(list(meta.features)).to_pandas()
    conformed = frames.conform(frame, {f: meta.feature_types[f] for f in meta.features})
    return {f: conformed[f].to_numpy() for f in meta.features}


def _json_values(array: np.ndarray) -> list[Any]:
    """Python values JSON can carry: NaN and infinities become null."""
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array)
        if bad.any():
            out = array.astype(object)
            out[bad] = None
            return list(out.tolist())
    return list(array.tolist())


def _names(names: Sequence[str], most: int = 20) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
