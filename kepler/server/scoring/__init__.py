"""Scoring: one way to score a table with a model, and one way to write scores to Splunk.

Two steps, and every job kind goes through both:

- **score** (:func:`score`): a loaded model, an Arrow table and :class:`ScoreOptions` in,
  the scored table out. With ``shadow=`` (a :class:`Shadow`), a challenger scores the
  same table after the champion and its agreement goes to Splunk as a ``kepler:shadow``
  event, on every job kind below;
- **deliver** (:func:`deliver`): scored rows to HEC events through the one event builder,
  :func:`rows_to_events`, sent all or none and settled (in Splunk or in the disk queue).

Models come from the one model cache (:mod:`kepler.server.model_cache`), which resolves the
reference against the registry on every fetch. The job kinds, each in one place:

==========================  ==========================================  =================
job                         where                                       model cache
==========================  ==========================================  =================
apply (a chunk, sync)       :func:`apply_chunk`, behind the apply route  the bridge's
dataset apply (CSV stream)  :func:`score_dataset_csv`, dataset route     the bridge's
async apply (a dataset)     ``jobs.apply.run_apply``                     the worker's
scheduled scoring           ``jobs.score.run_score``                     the worker's
==========================  ==========================================  =================

Where HEC events may go (the caller's target, allow-listed) is ``senders.hec_target``;
which sender carries them is the process's pool, :mod:`kepler.server.senders`.
"""

from kepler.server.scoring._apply import Applied, Writeback, apply_chunk
from kepler.server.scoring._deliver import (
    DEFAULT_SOURCETYPE,
    NOT_CONFIGURED,
    Delivered,
    deliver,
    rows_to_events,
    settle,
)
from kepler.server.scoring._score import (
    Loaded,
    ScoreOptions,
    algorithm_options,
    score,
    score_dataset_csv,
    score_table,
)
from kepler.server.scoring._tables import (
    read_body,
    read_csv_as_strings,
    read_csv_for_model,
    write_body,
)
from kepler.server.scoring.shadow import Shadow

__all__ = [
    "DEFAULT_SOURCETYPE",
    "NOT_CONFIGURED",
    "Applied",
    "Delivered",
    "Loaded",
    "ScoreOptions",
    "Shadow",
    "Writeback",
    "algorithm_options",
    "apply_chunk",
    "deliver",
    "read_body",
    "read_csv_as_strings",
    "read_csv_for_model",
    "rows_to_events",
    "score",
    "score_dataset_csv",
    "score_table",
    "settle",
    "write_body",
]
