"""The score step: a loaded model, a table and the options of `| kepler apply` in, the
scored table out. Every way of scoring goes through :func:`score` (see the package's
docstring), a challenger's too (``shadow=``, :mod:`kepler.server.scoring.shadow`);
:func:`score_table` is the same step with the options spelt out."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from kepler.core.errors import BadParameter, DataError

if TYPE_CHECKING:
    from kepler.server.scoring.shadow import Shadow

Loaded = tuple[Any, Any]  # (pipeline, ModelMeta), as the model cache holds it
# A field whose values are lines, each one value of a Splunk multivalue field.
MULTIVALUE = {b"kepler.multivalue": b"lines"}


@dataclass(frozen=True)
class ScoreOptions:
    """How rows are scored: ``probabilities``, the output name (``as``), and which input
    columns come back (all, or only those in ``echo`` such as splunkd's ``_chunked_idx``)."""

    probabilities: bool | None = None
    output_name: str | None = None
    include_input: bool = True
    echo: tuple[str, ...] = ()
    algorithm_options: tuple[tuple[str, Any], ...] = ()  # DensityFunction's threshold=, ...
    model_name: str | None = None  # the scoring model's name (show_options="model_name")

    @classmethod
    def of_job(cls, spec: Mapping[str, Any]) -> ScoreOptions:
        """The options a queued job's spec holds (an async apply's)."""
        return cls(probabilities=spec.get("probabilities"), output_name=spec.get("output_name"))


def score(
    model: Loaded, table: pa.Table, options: ScoreOptions, *, shadow: Shadow | None = None
) -> pa.Table:
    """``table``'s rows with ``model``'s output fields (see :func:`score_table`). With
    ``shadow``, its challenger scores the same rows after the champion and the agreement
    is recorded (:meth:`Shadow.batch`); the answer is the champion's alone."""
    pipeline, meta = model
    scored = score_table(
        pipeline,
        meta,
        table,
        probabilities=options.probabilities,
        output_name=options.output_name,
        include_input=options.include_input,
        echo=options.echo,
        algorithm_options=dict(options.algorithm_options),
        model_name=options.model_name,
    )
    if shadow is not None:
        shadow.batch(model, table)
    return scored


def algorithm_options(**given: Any) -> tuple[tuple[str, Any], ...]:
    """The apply-time algorithm options that were given (not None), as ScoreOptions holds them."""
    return tuple((k, v) for k, v in given.items() if v is not None)


def _names(names: Sequence[str], most: int = 20) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def score_table(
    pipeline: Any,
    meta: Any,
    table: pa.Table,
    *,
    probabilities: bool | None = None,
    output_name: str | None = None,
    include_input: bool = True,
    echo: Sequence[str] = (),
    algorithm_options: Mapping[str, Any] | None = None,
    model_name: str | None = None,
) -> pa.Table:
    """The model's output fields for ``table``'s rows, after its input columns if asked,
    else after the input columns named in ``echo`` (such as splunkd's ``_chunked_idx``).
    A multivalue output field (DensityFunction's BoundaryRanges) carries
    :data:`MULTIVALUE` in its field metadata, for the CSV splunkd receives."""
    from kepler.ml.frames import NUMERIC, arrow_floats
    from kepler.ml.outputs import predict_frame

    if table.num_rows == 0:
        return table  # a header-only chunk is answered with its header
    wanted = [c for c in meta.features if c in table.column_names]
    if meta.features and not wanted:
        raise DataError(
            f"none of the model's fields are in the data: it needs "
            f"{_names(meta.features)}, and the data has {_names(table.column_names)}; "
            "rename the fields to the model's (`| rename`), or apply a model trained on them",
            detail={"missing_fields": list(meta.features)},
        )
    # Splunk's CSV arrives as text: numeric fields become float64 here, in Arrow, rather
    # than as Python strings in pandas; a field with non-numbers in it is left as text for
    # the model's own conversion (non-numbers become missing values).
    columns = []
    for name in wanted:
        column = table.column(name)
        floats = arrow_floats(column) if meta.feature_types.get(name) == NUMERIC else None
        columns.append(column if floats is None else floats)
    frame = pa.table(columns, names=wanted).to_pandas()
    if len(frame) != table.num_rows:  # none of the model's fields came: all missing
        frame = frame.reindex(range(table.num_rows))
    out = predict_frame(
        pipeline,
        meta,
        frame,
        probabilities=probabilities,
        output_name=output_name,
        options=algorithm_options,
        model_name=model_name,
    )
    scored = _mark_multivalue(
        pa.Table.from_pandas(out, preserve_index=False), out.attrs.get("multivalue") or ()
    )
    if scored.num_rows != table.num_rows:  # a forecaster's forecast_k rows after the events
        if include_input:
            raise BadParameter(
                "forecast_k= answers _time and the forecast fields only: apply with "
                "include_input=false (kp.forecast does)",
                detail={"parameter": "forecast_k"},
            )
        return scored
    if not include_input:
        for name in reversed([c for c in echo if c in table.column_names]):
            if name not in scored.column_names:
                scored = scored.add_column(0, name, table.column(name))
        return scored
    result = table
    for name in scored.column_names:
        if name in result.column_names:
            result = result.drop_columns([name])
        result = result.append_column(scored.schema.field(name), scored.column(name))
    return result


def _mark_multivalue(table: pa.Table, names: Sequence[str]) -> pa.Table:
    if not names:
        return table
    fields = [
        f.with_metadata(MULTIVALUE) if f.name in names else f.remove_metadata()
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def score_dataset_csv(
    batches: Iterator[pa.RecordBatch], model: Loaded, options: ScoreOptions
) -> Iterator[bytes]:
    """A stored dataset's rows with the model's output fields, as CSV, batch by batch:
    the bridge's memory holds one batch, never the dataset."""
    import pyarrow.csv as pacsv

    from kepler.server.scoring._tables import with_multivalue

    first = True
    for batch in batches:
        scored = with_multivalue(score(model, pa.Table.from_batches([batch]), options))
        sink = io.BytesIO()
        pacsv.write_csv(
            scored,
            sink,
            write_options=pacsv.WriteOptions(include_header=first, quoting_style="needed"),
        )
        first = False
        yield sink.getvalue()
