"""No sampling cap: 5,000,000 rows go through the bridge and are trained on in full."""

from __future__ import annotations

import numpy as np
import pandas as pd
import psutil
import pytest

from kepler._stack import LocalStack

pytestmark = [pytest.mark.system, pytest.mark.slow]

ROWS = 5_000_000


def test_fit_on_five_million_rows_uses_every_row(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(ROWS, 5)), columns=[f"f{i}" for i in range(5)])
    frame["y"] = frame["f0"] * 2.0 - frame["f3"] + 0.5
    data_mib = frame.memory_usage(deep=True).sum() / 2**20
    with LocalStack(tmp_path / "home") as stack:
        client = stack.client()
        bridge = psutil.Process(stack.bridge.pid)
        before = bridge.memory_info().rss
        result = client.fit(frame, "LinearRegression", target="y", into="big", progress=False)
        grew_mib = (bridge.memory_info().rss - before) / 2**20
        assert result.rows == ROWS
        assert result.metrics["r2"] == pytest.approx(1.0)
        summary = client.summary("big")
        # Every row was used: split between training and holdout, none sampled away.
        assert summary["n_train"] + summary["n_holdout"] == ROWS, summary
        assert summary["n_holdout"] == pytest.approx(ROWS * 0.2, rel=0.01)
        # The bridge streamed 229 MiB through bounded chunks: it must not hold the dataset.
        assert grew_mib < data_mib * 0.75, (grew_mib, data_mib)
