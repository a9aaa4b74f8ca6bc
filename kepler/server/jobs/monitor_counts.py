"""What a monitor run keeps while its search's pages go by: the window's counts on the
baseline's bins (:class:`kepler.ml.monitoring.profile.WindowCounter`) and, with a label,
the live metrics' counts and sums (:class:`kepler.ml.live_metrics.Accumulator`).

:class:`MonitorCounts` folds one page at a time; what it holds does not grow with the
number of events (the baseline's bins, the label's classes, a few running sums), so a run
over millions of events needs the memory of one page. Checks that need the whole window
(no labelled event at all, a label of another type than the model's target) are made at
the end, on what the pages left behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kepler.core.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

# Live metrics a monitor writes, by the model's task: (metric, score options).
LIVE_METRICS: dict[str, tuple[tuple[str, str, dict[str, Any]], ...]] = {
    "classification": (
        ("accuracy", "accuracy_score", {}),
        ("f1", "f1_score", {"average": "weighted"}),
    ),
    "regression": (("r2", "r2_score", {}), ("mae", "mean_absolute_error", {})),
}
PREDICTED = "kepler_predicted"
SEEN_LABELS = 1000  # distinct label values kept to check them against the model's classes


class MonitorCounts:
    """The drift counts of ``model``'s baseline and, with ``label``, its live metrics."""

    def __init__(
        self, model: Any, baseline: dict[str, Any], *, label: str | None, settings: Any
    ) -> None:
        from kepler.ml.monitoring.profile import WindowCounter

        self.model = model
        self.baseline = baseline
        self.rows = 0
        self.window = WindowCounter({**baseline.get("fields", {}), **baseline.get("outputs", {})})
        self.live = LiveCounts(model, label, settings) if label else None

    def add(self, page: pd.DataFrame) -> None:
        from kepler.server.drift import with_outputs

        pipeline, meta = self.model
        self.rows += len(page)
        self.window.add(with_outputs(pipeline, meta, self.baseline, page))
        if self.live is not None:
            self.live.add(page)

    def drift(self, method: str | None, threshold: float | None) -> list[dict[str, Any]]:
        from kepler.ml.monitoring import drift

        return drift(self.baseline, self.window.result(), method=method, threshold=threshold)


class LiveCounts:
    """The version's live metrics over the pages' rows that carry ``label``."""

    def __init__(self, model: Any, label: str, settings: Any) -> None:
        from kepler.core.score import check_score
        from kepler.ml.live_metrics import Accumulator

        self.model = model
        self.label = label
        self.task = {"classifier": "classification", "regressor": "regression"}.get(model[1].task)
        self.columns: list[str] = []  # the first page's, for a message
        self.has_label = False
        self.labelled = 0
        self.seen: set[str] = set()
        self.number_seen = False
        self.example: str | None = None
        self.failure: DataError | None = None  # an accumulator's, raised after the checks
        self.accumulators = [
            (
                name,
                metric,
                Accumulator(
                    check_score(metric, [label], [PREDICTED], options),
                    max_rows=settings.score_max_rows,
                    max_classes=settings.score_max_classes,
                ),
            )
            for name, metric, options in LIVE_METRICS.get(self.task or "", ())
        ]

    def add(self, page: pd.DataFrame) -> None:
        import pandas as pd

        from kepler.ml.outputs import predict_frame

        if not self.columns:
            self.columns = [str(c) for c in page.columns[:20]]
        label = self.label
        if label not in page.columns:
            return
        self.has_label = True
        if self.task is None:
            return
        values = page[label]
        labelled = page[values.notna() & (values.astype(str) != "")]
        if not len(labelled):
            return
        self.labelled += len(labelled)
        self._note_types(labelled[label])
        if self.failure is not None:
            return
        pipeline, meta = self.model
        out = predict_frame(pipeline, meta, labelled, probabilities=False)
        pairs = pd.DataFrame(
            {label: labelled[label].to_numpy(), PREDICTED: out.iloc[:, 0].to_numpy()}
        )
        try:
            for _, _, acc in self.accumulators:
                acc.add(pairs)
        except DataError as exc:
            self.failure = exc

    def _note_types(self, values: pd.Series) -> None:
        import pandas as pd

        if self.example is None:
            self.example = str(values.iloc[0])
        if self.task == "regression":
            self.number_seen = self.number_seen or bool(
                pd.to_numeric(values, errors="coerce").notna().any()
            )
        elif len(self.seen) < SEEN_LABELS:
            self.seen.update(_as_label(v) for v in values.unique()[:SEEN_LABELS])

    def metrics(self) -> dict[str, Any]:
        """Each metric's value and ``rows``, how many were scored; or the :class:`DataError`
        that says why they cannot be."""
        meta = self.model[1]
        label = self.label
        if not self.has_label:
            raise DataError(
                f"the monitor's label field {label!r} is not in the events (they have: "
                f"{', '.join(self.columns)}); check --label and the search",
                detail={"label": label},
            )
        if self.task is None:
            raise DataError(
                f"live metrics need a classifier or a regressor; {meta.algorithm} is a "
                f"{meta.task}: remove the monitor's --label",
                detail={"label": label, "task": meta.task},
            )
        self._check_label_type()
        if self.failure is not None:
            raise self.failure
        metrics: dict[str, Any] = {"rows": self.labelled}
        for name, metric, acc in self.accumulators:
            metrics[name] = float(acc.answer()["rows"][0][metric])
        return metrics

    def _check_label_type(self) -> None:
        """A label of another type than the model's target is refused, saying which."""
        meta, label = self.model[1], self.label
        if not self.labelled:
            raise DataError(
                f"no event in the window has a value in the label field {label!r}; labels "
                "that arrive later are scored by the run whose window holds them",
                detail={"label": label},
            )
        if self.task == "regression":
            if not self.number_seen:
                raise DataError(
                    f"the label field {label!r} holds text such as {self.example!r} but "
                    f"model's target {meta.target!r} is a number (a regressor); name the "
                    "field that holds the true value",
                    detail={"label": label, "target": meta.target},
                )
            return
        classes = {str(c) for c in meta.classes or ()}
        if classes and not self.seen & classes:
            raise DataError(
                f"the label field {label!r} holds values such as {sorted(self.seen)[:5]} but "
                f"the model's target {meta.target!r} has the classes {sorted(classes)[:10]}; "
                "name the field that holds the true class",
                detail={"label": label, "target": meta.target},
            )


def _as_label(value: Any) -> str:
    """A label as the model's classes are written: whole numbers without ``.0``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else str(value)
