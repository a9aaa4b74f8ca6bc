"""kp.predict against a real stack (bridge, worker, MLflow on SQLite): records in, records
out; a DataFrame in, a DataFrame out; a fit seen by the very next predict."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import kepler as kp
from kepler._stack import LocalStack

pytestmark = pytest.mark.system


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    # A long TTL: what the very next predict sees after a fit comes from the bridge
    # forgetting the name, not from the TTL running out.
    env = {"KEPLER_PREDICT_RESOLVE_TTL_S": "600"}
    with LocalStack(Path(tmp_path_factory.mktemp("stack")), extra_env=env, beat=False) as s:
        yield s


def lines(slope: float) -> pd.DataFrame:
    x = np.arange(40, dtype=float)
    return pd.DataFrame({"x": x, "y": slope * x})


def test_predict_sees_each_new_fit_at_once(stack: LocalStack) -> None:
    client = stack.client()
    client.fit(lines(2.0), "LinearRegression", target="y", features=["x"], into="slope")
    first = client.predict([{"x": 10.0}], "slope")
    assert first == [{"predicted(y)": pytest.approx(20.0)}]
    client.fit(lines(3.0), "LinearRegression", target="y", features=["x"], into="slope")
    assert client.predict([{"x": 10.0}], "slope") == [{"predicted(y)": pytest.approx(30.0)}]
    assert client.predict([{"x": 10.0}], "slope@1") == [{"predicted(y)": pytest.approx(20.0)}]


def test_predict_dataframe_gives_output_fields_on_its_index(stack: LocalStack) -> None:
    client = stack.user_client()  # the user level may predict
    frame = pd.DataFrame({"x": [1.0, 2.0, None]}, index=["a", "b", "c"])
    scored = client.predict(frame, "slope@1", as_="guess")
    assert list(scored.columns) == ["guess"] and list(scored.index) == ["a", "b", "c"]
    assert scored["guess"].iloc[:2].tolist() == pytest.approx([2.0, 4.0])
    assert np.isfinite(scored["guess"].iloc[2])  # a missing value is imputed


def test_predict_errors_are_typed(stack: LocalStack) -> None:
    client = stack.client()
    with pytest.raises(kp.ModelNotFound, match="ghost"):
        client.predict([{"x": 1.0}], "ghost")
    with pytest.raises(kp.DataError, match="x") as err:
        client.predict([{"z": 1.0}], "slope")
    assert err.value.detail["missing_fields"] == ["x"]
