"""Two versions side by side (``compare pump@3 pump@4``): one row per item with the item,
each version's value and whether it changed.

Items, in order: what the versions are (algorithm, task, target, features), their
parameters (``param.*``), metrics (``metric.*``), training data fingerprints (``data.*``:
the dataset's id, content hash, rows and schema hash, and the search it came from, where
the version's lineage recorded them) and the drift of the second version's training data
against the first's baseline (``drift.<field>``: each side's mean or top category; the
test, statistic and threshold in ``detail``).
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from kepler.core.refs import ModelRef

if TYPE_CHECKING:
    from kepler.ml.store import ModelStore

COLUMNS = ("item", "changed", "detail")  # and one column per version, named by its ref


def compare(models: ModelStore, first: ModelRef, second: ModelRef) -> dict[str, Any]:
    """The comparison of ``first`` and ``second`` (any references; their exact versions
    name the two value columns)."""
    a, b = models.describe(first), models.describe(second)
    left, right = f"{a['name']}@{a['version']}", f"{b['name']}@{b['version']}"
    if left == right:
        right += " "  # one version against itself: two columns all the same
    rows: list[dict[str, Any]] = []

    def add(item: str, x: Any, y: Any, detail: str = "", changed: bool | None = None) -> None:
        rows.append(
            {
                "item": item,
                left: x,
                right: y,
                "changed": (x != y) if changed is None else changed,
                "detail": detail,
            }
        )

    for key in ("algorithm", "task", "target"):
        add(key, a.get(key), b.get(key))
    add("features", ",".join(a.get("features") or []), ",".join(b.get("features") or []))
    for group in ("params", "metrics"):
        ours, theirs = a.get(group) or {}, b.get(group) or {}
        for key in sorted(set(ours) | set(theirs)):
            add(f"{group[:-1]}.{key}", _plain(ours.get(key)), _plain(theirs.get(key)))
    for key in ("n_train", "n_holdout"):
        add(key, a.get(key), b.get(key))
    da, db = _fingerprint(a.get("lineage") or {}), _fingerprint(b.get("lineage") or {})
    for key in ("dataset_id", "content_hash", "rows", "schema_hash", "search"):
        if da.get(key) is not None or db.get(key) is not None:
            add(f"data.{key}", da.get(key), db.get(key))
    rows.extend(_drift_rows(models, a, b, left, right))
    return {"first": left, "second": right.strip(), "columns": [left, right], "rows": rows}


def _fingerprint(lineage: dict[str, Any]) -> dict[str, Any]:
    found, origin = lineage.get("dataset"), lineage.get("source")
    dataset: dict[str, Any] = found if isinstance(found, dict) else {}
    source: dict[str, Any] = origin if isinstance(origin, dict) else {}
    schema = dataset.get("schema")
    return {
        "dataset_id": dataset.get("dataset_id"),
        "content_hash": dataset.get("content_hash"),
        "rows": dataset.get("rows"),
        "schema_hash": _schema_hash(schema) if isinstance(schema, dict) else None,
        "search": source.get("search"),
    }


def _schema_hash(schema: dict[str, Any]) -> str:
    """The same columns with the same types: the same hash (order of columns aside)."""
    text = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _drift_rows(
    models: ModelStore, a: dict[str, Any], b: dict[str, Any], left: str, right: str
) -> list[dict[str, Any]]:
    from kepler.ml.monitoring.versions import baseline_drift

    first = models.baseline(models.resolve(ModelRef(a["name"], version=a["version"])))
    second = models.baseline(models.resolve(ModelRef(b["name"], version=b["version"])))
    if first is None or second is None:
        missing = [r for r, base in ((left, first), (right, second)) if base is None]
        note = f"no drift baseline kept for {' and '.join(missing)} (kp.baseline makes one)"
        return [{"item": "drift", left: None, right: None, "changed": None, "detail": note}]
    profiles = {**(first.get("fields") or {}), **(first.get("outputs") or {})}
    theirs = {**(second.get("fields") or {}), **(second.get("outputs") or {})}
    rows = []
    for row in baseline_drift(first, second):
        name = row["field"]
        detail = row["note"] or (
            f"{row['method']}={row['statistic']:.4g} (threshold {row['threshold']:g})"
        )
        rows.append(
            {
                "item": f"drift.{name}",
                left: _centre(profiles.get(name)),
                right: _centre(theirs.get(name)),
                "changed": row["drifted"],
                "detail": detail,
            }
        )
    return rows


def _centre(profile: Any) -> Any:
    """A field's profile in one cell: the mean of a number, the top category otherwise."""
    if not isinstance(profile, dict):
        return None
    if "mean" in profile:
        return _plain(profile.get("mean"))
    top = profile.get("top") or []
    return f"{top[0][0]} ({top[0][1]})" if top else None


def _plain(value: Any) -> Any:
    """A float rounded for reading; anything else as it is."""
    return round(value, 6) if isinstance(value, float) else value
