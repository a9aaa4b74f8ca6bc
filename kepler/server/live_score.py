"""The score route's work: MLTK's ``score`` metrics over an uploaded dataset.

The search command and the SDK upload the events (or a DataFrame) as a dataset and name
it; :func:`dataset_score` checks the spec again (it came over the network), refuses fields
the dataset lacks, and reads the dataset part by part into
:func:`kepler.ml.live_metrics.score_frames`, which keeps counts and sums, or values up to
``KEPLER_SCORE_MAX_ROWS`` for the metrics that need them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kepler.core.score import check_score

if TYPE_CHECKING:
    from kepler.server.datasets import DatasetStore


def dataset_score(
    datasets: DatasetStore,
    dataset_id: str,
    metric: str,
    fields: list[str],
    against: list[str] | None,
    options: dict[str, Any],
    *,
    max_rows: int,
    max_classes: int,
) -> dict[str, Any]:
    """MLTK's output table for ``metric`` over the dataset ``dataset_id``."""
    from kepler.ml.live_metrics import check_columns, score_frames

    spec = check_score(metric, fields, against or None, options)
    check_columns(spec, datasets.schema(dataset_id).names)

    def frames() -> Iterator[Any]:
        for batch in datasets.iter_batches(dataset_id, columns=spec.columns):
            yield batch.to_pandas()

    answer = score_frames(spec, frames(), max_rows=max_rows, max_classes=max_classes)
    return {**answer, "spec": spec.to_dict()}
