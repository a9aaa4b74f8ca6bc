"""The dataset store: uploaded chunks kept as Parquet parts, read back as one Arrow table.

A dataset is uploaded as numbered chunks and then completed; only a completed dataset can
be read, so a worker never trains on half an upload. Layout under the store's root (a
folder, ``memory://`` in tests, or any fsspec URL such as ``gs://bucket/kepler``)::

    <root>/<dataset_id>/dataset.json                 state: format, source, and once
                                                     completed the manifest and schema
    <root>/<dataset_id>/parts/part-000000.parquet    chunk 0, and so on
    <root>/<dataset_id>/parts/.tmp-...               a part being written (never read)

Each part is written under a temporary name and renamed into place only once complete,
so a chunk cut off halfway never becomes a part and re-sending a chunk replaces it
whole. The SHA-256 and size of the bytes the client sent travel inside the part's
Parquet footer (``kepler.sha256``, ``kepler.raw_bytes``), committed by the same rename.

Several bridge threads write parts of one dataset at once; workers on other machines read
completed datasets. Writes after completion are refused: ``write_part`` checks the state
again just before its rename. A re-send whose rename lands while ``complete()`` runs
(the manifest would name the sha of the part it replaced) is closed two ways: on a local
store (the default, and a shared volume) the check-and-rename and the whole of
``complete()`` hold the dataset's lock file (``flock``); on every store ``complete()``
reads the parts' footers again after sealing and rewrites the manifest if a part changed
meanwhile, so the manifest always names the parts that are there.

A writer that dies leaves its temporary file: each is named after its owner
(``.tmp-<what>~<host>~<pid>~<uuid>``), and :meth:`DatasetStore.sweep` (run when a bridge
starts) removes those whose process is gone on this host, and any older than a day.
"""

from __future__ import annotations

from kepler.server.datasets.read import Reading
from kepler.server.datasets.seal import Sealing, complete_upload
from kepler.server.datasets.store import (
    FORMATS,
    MAX_SEQ,
    SOURCE_KEYS,
    DatasetInfo,
    Manifest,
    PartInfo,
    check_name,
    check_seq,
    owner_tag,
    process_gone,
)

__all__ = [
    "FORMATS",
    "MAX_SEQ",
    "SOURCE_KEYS",
    "DatasetInfo",
    "DatasetStore",
    "Manifest",
    "PartInfo",
    "check_name",
    "check_seq",
    "complete_upload",
    "owner_tag",
    "process_gone",
]


class DatasetStore(Sealing, Reading):
    """Datasets under one fsspec URL; safe to share between threads.

    Its jobs live apart: the layout and writing in :mod:`.store`, completing an upload in
    :mod:`.seal`, reading it back in :mod:`.read`, column types and encodings in
    :mod:`.schema`.
    """
