"""MLTK's way of scoring, for ``bench.splunk_apply``: a splunklib ``StreamingCommand`` that
holds the model in its own process and predicts as splunklib hands it records.

splunkd starts it as ``python mltk_command.py`` with no arguments, like any protocol v2
command; unlike Kepler's command it needs numpy, pandas and scikit-learn, so it runs on the
benchmark's Python with the vendored splunklib first on ``sys.path``.

    | mltkapply model=<pickled pipeline> features=f00,f01,... [batch=t]

``batch=f`` (the default) predicts record by record: one row per ``predict`` call, as a
record-at-a-time command does. ``batch=t`` collects each chunk's records and predicts them
in one call, so that splunklib's own cost (a ``csv`` reader into dicts, a Python writer)
is measured without the per-record ``predict``.
"""

import pickle
import sys
from pathlib import Path

# As an app's bin/ script does: splunklib from the vendored folder. bench/ -> repo root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "build" / "vendor" / "lib"))

import numpy as np
import pandas as pd
from splunklib.searchcommands import (
    Configuration,
    Option,
    StreamingCommand,
    dispatch,
    validators,
)

OUTPUT = "predicted(label)"


@Configuration()
class MltkApply(StreamingCommand):
    model = Option(require=True, doc="path of the pickled pipeline")
    features = Option(require=True, validate=validators.List(), doc="the model's fields")
    batch = Option(default=False, validate=validators.Boolean(), doc="one predict per chunk")

    def prepare(self):  # once per search, at getinfo: the model stays loaded
        with open(self.model, "rb") as f:
            self._pipeline = pickle.load(f)  # noqa: S301 - the benchmark wrote it

    def stream(self, records):
        names = list(self.features)
        predict = self._pipeline.predict
        if self.batch:
            chunk = list(records)
            if not chunk:
                return
            x = np.array([[float(r[n]) for n in names] for r in chunk], dtype=np.float64)
            for record, label in zip(
                chunk, predict(pd.DataFrame(x, columns=names)).tolist(), strict=True
            ):
                record[OUTPUT] = label
                yield record
            return
        for record in records:
            row = pd.DataFrame([[float(record[n]) for n in names]], columns=names)
            record[OUTPUT] = predict(row)[0].item()
            yield record


if __name__ == "__main__":
    dispatch(MltkApply, sys.argv, sys.stdin, sys.stdout, __name__)
