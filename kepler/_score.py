"""``kp.score``: MLTK's ``score`` metrics on a DataFrame, computed by the bridge.

The frame's compared columns go up as a dataset (Arrow, in pieces, as ``kp.fit`` sends
them), the bridge answers MLTK's table for the metric, and the dataset is deleted. The
same route answers ``| kepler score`` in Splunk, so both give the same table.
"""

from __future__ import annotations

import contextlib
from typing import Any

from kepler.core import wire
from kepler.core.errors import DataError, KeplerError
from kepler.core.score import check_score


def score(
    client: Any,
    df: Any,
    metric: str,
    fields: str | list[str],
    against: str | list[str] | None = None,
    **options: Any,
) -> Any:
    """MLTK's output table for ``metric`` comparing ``fields`` with ``against`` in ``df``
    (a DataFrame); ``.attrs`` holds the rows scored and left out, and notes."""
    import pandas as pd

    spec = check_score(metric, fields, against, options)  # bad input fails before upload
    absent = [c for c in spec.columns if c not in df.columns]
    if absent:
        raise DataError(
            f"{', '.join(repr(c) for c in absent)} not in the DataFrame (its columns: "
            f"{', '.join(map(str, list(df.columns)[:20]))}); check the spelling",
            detail={"fields": absent},
        )
    dataset_id = client.upload(df[spec.columns])
    try:
        answer = client._json(
            "POST",
            wire.SCORE,
            json=wire.ScoreRequest(dataset_id=dataset_id, **spec.to_dict()).to_dict(),
        )
    finally:
        with contextlib.suppress(KeplerError):  # the answer matters more than tidying
            client._request("DELETE", wire.dataset(dataset_id))
    out = pd.DataFrame(answer["rows"], columns=answer["columns"])
    out.attrs.update(
        metric=answer["metric"],
        rows_scored=answer["rows_scored"],
        rows_dropped=answer["rows_dropped"],
        notes=list(answer.get("notes") or []),
    )
    return out
