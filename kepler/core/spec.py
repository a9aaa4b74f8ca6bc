"""The model-spec language shared by SPL and the SDK: MLTK's grammar and more.

::

    fit <algorithm> [<param>=<value> ...] [<target>] from <field> ... [into <model>] [as <out>]
    fit <algorithm> [<param>=<value> ...] <field> ... [into <model>] [as <out>]   (unsupervised)
    apply <model>[@<version>|:<alias>] [as <out>] [probabilities=<bool>]
    summary <model>[@<version>|:<alias>]
    models                     (alias: listmodels)
    deletemodel <model>

``<param>=<value>`` pairs may stand anywhere after the algorithm, as in MLTK. Field names
may be double-quoted and may hold ``*`` wildcards, expanded against the data's columns.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass, field
from typing import Any

from kepler.core.errors import DataError, InvalidSpec
from kepler.core.refs import ModelRef

# Options Kepler itself reads on fit; everything else is an algorithm parameter.
FIT_OPTIONS = ("probabilities", "holdout")
APPLY_OPTIONS = ("probabilities",)


@dataclass(frozen=True)
class FitSpec:
    algorithm: str  # canonical name from the catalog (or a plugin's name)
    target: str | None = None
    features: tuple[str, ...] = ()  # may hold wildcards until expand_features()
    params: dict[str, Any] = field(default_factory=dict)  # declared name -> typed value
    into: str | None = None
    output_name: str | None = None  # `as <out>`
    probabilities: bool = False
    holdout: float = 0.2
    verb: str = "fit"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["features"] = list(self.features)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitSpec:
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k != "verb"}
        d["features"] = tuple(d.get("features", ()))
        return cls(**d)


@dataclass(frozen=True)
class ApplySpec:
    model: ModelRef
    output_name: str | None = None
    probabilities: bool | None = None  # None: as the model was fitted
    verb: str = "apply"


@dataclass(frozen=True)
class SummarySpec:
    model: ModelRef
    verb: str = "summary"


@dataclass(frozen=True)
class ModelsSpec:
    verb: str = "models"


@dataclass(frozen=True)
class DeleteModelSpec:
    model: str
    verb: str = "deletemodel"


Spec = FitSpec | ApplySpec | SummarySpec | ModelsSpec | DeleteModelSpec


def expand_features(
    patterns: tuple[str, ...] | list[str], columns: list[str], *, exclude: tuple[str, ...] = ()
) -> list[str]:
    """Resolve field names and wildcards against ``columns``, keeping the data's order
    within a wildcard and the user's order across patterns.

    ``*`` alone skips Splunk's internal fields (``_time``, ``_raw``, ...). A plain name
    missing from the data, or a wildcard matching nothing, is a :class:`DataError`.
    """
    out: list[str] = []
    seen = set(exclude)
    for pat in patterns:
        if any(ch in pat for ch in "*?["):
            matches = [c for c in columns if fnmatch.fnmatchcase(c, pat)]
            if pat == "*":
                matches = [c for c in matches if not c.startswith("_")]
            matches = [c for c in matches if c not in seen]
            if not matches and pat not in exclude:
                raise DataError(
                    f"no field matches {pat!r}; the data has: {_preview(columns)}",
                    detail={"pattern": pat},
                )
        else:
            if pat not in columns:
                raise DataError(
                    f"field {pat!r} is not in the data; the data has: {_preview(columns)}",
                    detail={"field": pat},
                )
            matches = [pat] if pat not in seen else []
        for m in matches:
            seen.add(m)
            out.append(m)
    if not out:
        raise DataError("no feature fields left to train on; name them after `from`")
    return out


def _preview(columns: list[str], n: int = 12) -> str:
    shown = ", ".join(columns[:n])
    return shown + (f" and {len(columns) - n} more" if len(columns) > n else "")


def _unused() -> None:  # pragma: no cover - placeholder removed by the parser below
    raise InvalidSpec("")
