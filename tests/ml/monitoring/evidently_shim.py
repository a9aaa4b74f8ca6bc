"""Evidently 0.7.23, the reference the drift statistics are checked against (test-only).

It installs under packaging/constraints.txt but does not import with the pinned pandas
3.1: it imports ``pandas.core.dtypes.common.infer_dtype_from_object``, which pandas 3
removed. This shim restores that one private helper (``np.dtype(x).type``, what pandas
1.x/2.x returned for the dtypes Evidently passes) before the import, and Evidently's and
plotly's deprecation warnings (pandas 4 notices) are silenced around its calls only.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def stattests() -> tuple[Any, Any]:
    """Evidently's ``ColumnType`` and ``get_stattest`` (its default choice, or a test by
    name)."""
    import pandas.core.dtypes.common as common

    if not hasattr(common, "infer_dtype_from_object"):
        common.infer_dtype_from_object = lambda dtype: np.dtype(dtype).type  # type: ignore[attr-defined]
    with quiet():
        from evidently.legacy.calculations.stattests.registry import get_stattest
        from evidently.legacy.core import ColumnType
    return ColumnType, get_stattest
