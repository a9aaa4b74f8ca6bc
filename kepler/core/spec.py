"""The model-spec language shared by SPL and the SDK: MLTK's grammar and more.

::

    fit <algorithm> [<param>=<value> ...] [<target>] from <field> ... [into <model>] [as <out>]
    fit <algorithm> [<param>=<value> ...] <field> ... [into <model>] [as <out>]   (unsupervised)
    fit <algorithm> ... by <field>[,<field>...]   (one model per group, any algorithm)
    fit DensityFunction <field> [by <field>[,<field>...]] [threshold=0.01] ... [into <model>]
    fit <algorithm> ... into <model> partial_fit=true    (continue the latest version)
    fit ... [holdout=0.2] [split=time|random] [time_field=<field>] [kfold_cv=<k>] [gap=<rows>]
                               (validation: see kepler.ml.splits)
    apply <model>[@<version>|:<alias>] [as <out>] [probabilities=<bool>]
          [threshold=<floats>] [lower_threshold=<floats>] [upper_threshold=<floats>]
          [show_density=<bool>] [sample=<bool>] [full_sample=<bool>]
          [show_options="<names>"]                      (DensityFunction models)
          [index=<index> [sourcetype=<sourcetype>]]      (also write each score via HEC)
    summary <model>[@<version>|:<alias>]
    models                     (alias: listmodels)
    deletemodel <model>
    automl <target> from <field> ... into <model> [time_budget=10m] [metric=f1] ...
                               (see kepler.core.automl)

``<param>=<value>`` pairs may stand anywhere after the algorithm, as in MLTK. Field names
may be double-quoted and may hold ``*`` wildcards, expanded against the data's columns.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Union

from kepler.core.automl import AutoMLSpec, parse_automl
from kepler.core.errors import DataError, InvalidSpec
from kepler.core.refs import ModelRef, model_to_delete

# Options Kepler itself reads on fit; everything else is an algorithm parameter.
FIT_OPTIONS = (
    *("probabilities", "holdout", "partial_fit"),
    *("split", "time_field", "kfold_cv", "gap", "lags", "rolling"),
)
SPLITS = ("random", "time")
# k-fold validation fits k models: bounded so a caller cannot make a worker fit hundreds.
MAX_FOLDS = 20
MAX_GAP = 100_000
# lags= and rolling=: how far back one may reach, and how many columns they may add.
MAX_LAG = 1000
MAX_LAG_STEPS = 24
ROLLING_STATS = ("mean", "min", "max", "std", "sum")
APPLY_OPTIONS = ("probabilities", "index", "sourcetype")
# A DensityFunction model's outlier rule and outputs, chosen again at apply without
# refitting, as MLTK's DensityFunction.apply reads them; the thresholds travel as text
# ("0.01,0.005"). dist= and metric= are fit's: apply discards them with a warning, as MLTK.
APPLY_ALGORITHM_OPTIONS = (
    *("threshold", "lower_threshold", "upper_threshold"),
    *("show_density", "sample", "full_sample", "show_options"),
)
APPLY_DISCARDED_OPTIONS = ("dist", "metric")
# A forecaster's, as MLTK's apply takes them: steps to forecast after the last event
# run over, another interval, last events withheld (rows, or time amounts: 2weeks),
# _forecastMetadata, the fitted fields to forecast (target=a,b), the fitted specialdays
# field named again (MLTK's apply takes it; another one is an error).
APPLY_FORECAST_OPTIONS = (
    *("forecast_k", "conf_interval", "holdback"),
    *("output_metadata", "target", "specialdays", "period"),
)
# Splunk index names: lowercase letters, digits, underscores and hyphens.
INDEX_NAME = re.compile(r"^[a-z0-9_][a-z0-9_-]{0,79}$")


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
    by: tuple[str, ...] = ()  # `by f1,f2`: one model per group of their values
    # Continue the latest version of `into` with these events (kepler.ml.partial).
    partial_fit: bool = False
    # Validation: `split=time|random` (None: time order when the data is time-indexed, see
    # kepler.ml.splits.resolve), its time field (None: `_time`), `kfold_cv=<k>` folds
    # instead of a holdout, and `gap=<rows>` left out between training and validation rows.
    split: str | None = None
    time_field: str | None = None
    kfold_cv: int = 0
    gap: int = 0
    # Features from each numeric field's past, in time order: `lags=1,2,24` (rows back),
    # `rolling=mean:12,max:24` (statistic over a window of rows); see kepler.ml.lags.
    lags: tuple[int, ...] = ()
    rolling: tuple[str, ...] = ()
    verb: str = "fit"

    def __post_init__(self) -> None:
        if not self.partial_fit:
            return
        from kepler.core.algorithms import refuse_partial_fit

        if not self.into:
            raise InvalidSpec(
                "partial_fit=true continues a saved model: name it with `into <model>` "
                "(a model that does not exist yet is fitted from scratch)"
            )
        if self.kfold_cv:  # as MLTK's FitPartialProcessor refuses it
            raise InvalidSpec(
                "kfold_cv cannot be used with partial_fit=true: a continuation scores on the "
                "new events' holdout; validate with kfold_cv on a fit without partial_fit"
            )
        refuse_partial_fit(self.algorithm)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["features"] = list(self.features)
        d["by"] = list(self.by)
        d["lags"], d["rolling"] = list(self.lags), list(self.rolling)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitSpec:
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k != "verb"}
        d["features"] = tuple(d.get("features", ()))
        d["by"] = tuple(d.get("by", ()))
        d["lags"], d["rolling"] = tuple(d.get("lags", ())), tuple(d.get("rolling", ()))
        return cls(**d)


@dataclass(frozen=True)
class ApplySpec:
    model: ModelRef
    output_name: str | None = None
    probabilities: bool | None = None  # None: as the model was fitted
    index: str | None = None  # also write each scored row to this index through HEC
    sourcetype: str | None = None
    # APPLY_ALGORITHM_OPTIONS and APPLY_FORECAST_OPTIONS given
    options: dict[str, Any] = field(default_factory=dict)
    # APPLY_DISCARDED_OPTIONS given ({"dist": "norm"}): the command warns they are ignored
    discarded: dict[str, str] = field(default_factory=dict)
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


# Union, not `|`: this module also runs on Splunk's Python 3.9.
Spec = Union[FitSpec, ApplySpec, SummarySpec, ModelsSpec, DeleteModelSpec, AutoMLSpec]


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


# ---------------------------------------------------------------------------------------
# Parsing


@dataclass(frozen=True)
class _Tok:
    text: str
    quoted: bool = False
    key: str | None = None  # set for key=value tokens

    @property
    def word(self) -> str:
        return "" if self.quoted or self.key is not None else self.text.lower()


def tokenize(line: str) -> list[_Tok]:
    """Split a spec line as SPL does: whitespace separates, double quotes group
    (``\\"`` escapes a quote), ``key=value`` pairs stay together (``key="a b"`` too)."""
    toks: list[_Tok] = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        buf: list[str] = []
        quoted_all = line[i] == '"'
        key: str | None = None
        while i < n and not line[i].isspace():
            ch = line[i]
            if ch == '"':
                i += 1
                while i < n and line[i] != '"':
                    if line[i] == "\\" and i + 1 < n and line[i + 1] in '"\\':
                        i += 1
                    buf.append(line[i])
                    i += 1
                if i >= n:
                    raise InvalidSpec(f"unclosed double quote in: {line.strip()}")
                i += 1
                continue
            if ch == "=" and key is None and not quoted_all and buf:
                key = "".join(buf)
                buf = []
                i += 1
                quoted_all = i < n and line[i] == '"'
                continue
            buf.append(ch)
            i += 1
        text = "".join(buf)
        if key is not None:
            toks.append(_Tok(text, quoted_all, key))
        else:
            toks.append(_Tok(text, quoted_all))
    return toks


def _strip_prefix(toks: list[_Tok]) -> list[_Tok]:
    if toks and toks[0].word == "|":
        toks = toks[1:]
    if toks and toks[0].word == "kepler":
        toks = toks[1:]
    return toks


def parse(line: str, *, catalog: Any = None, allow_unknown: bool = False) -> Spec:
    """Parse one spec line (``fit ...``, ``apply ...``, ...) into a typed spec.

    ``catalog`` is an iterable of extra :class:`~kepler.core.algorithms.AlgorithmInfo`
    (plugins). An algorithm Kepler does not know is an :class:`UnknownAlgorithm` unless
    ``allow_unknown`` (Splunk's side, where plugins are not installed: the bridge checks).
    Parameters of known algorithms are checked here, before any data moves.
    """
    toks = _strip_prefix(tokenize(line))
    if not toks:
        raise InvalidSpec(
            "empty command; expected fit, apply, automl, summary, models or deletemodel"
        )
    verb, rest = toks[0].word, toks[1:]
    if verb == "fit":
        return _parse_fit(rest, catalog=catalog, allow_unknown=allow_unknown)
    if verb == "apply":
        return _parse_apply(rest)
    if verb == "automl":
        return parse_automl(rest)
    if verb == "summary":
        return SummarySpec(ModelRef.parse(_one_name(rest, "summary <model>")))
    if verb in ("models", "listmodels"):
        if rest:
            raise InvalidSpec(f"{verb} takes no arguments")
        return ModelsSpec()
    if verb == "deletemodel":
        return DeleteModelSpec(model_to_delete(_one_name(rest, "deletemodel <model>")))
    raise InvalidSpec(
        f"unknown command {toks[0].text!r}; "
        "expected fit, apply, automl, summary, models or deletemodel"
    )


def _one_name(rest: list[_Tok], usage: str) -> str:
    if len(rest) != 1 or rest[0].key is not None:
        raise InvalidSpec(f"usage: {usage}")
    return rest[0].text


_FIT_USAGE = "fit <algorithm> [<param>=<value> ...] [<target> from] <field> ... [into <model>]"


@dataclass
class _FitWords:
    """What a fit clause names, before the algorithm's catalog entry checks it."""

    before: list[str] = field(default_factory=list)  # fields before `from`, or all of them
    after: list[str] = field(default_factory=list)  # fields after `from`
    seen_from: bool = False
    by: list[str] = field(default_factory=list)  # fields after `by`
    into: str | None = None
    output_name: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


def _parse_fit(rest: list[_Tok], *, catalog: Any, allow_unknown: bool) -> FitSpec:
    if not rest or rest[0].key is not None:
        raise InvalidSpec(f"fit needs an algorithm; usage: {_FIT_USAGE}")
    words = _scan_fit(rest[1:])
    target, features = _target_and_features(words)
    algo_name, params = _checked_algorithm(
        rest[0].text, words.params, target, features, catalog=catalog, allow_unknown=allow_unknown
    )
    return FitSpec(
        algorithm=algo_name,
        target=target,
        features=features,
        params=params,
        into=words.into,
        output_name=words.output_name,
        by=tuple(words.by),
        **_fit_options(words.options),
    )


def _scan_fit(rest: list[_Tok]) -> _FitWords:
    words = _FitWords()
    i = 0
    while i < len(rest):
        tok = rest[i]
        if tok.key is not None:
            bucket = words.options if tok.key.lower() in FIT_OPTIONS else words.params
            name = tok.key.lower() if bucket is words.options else tok.key
            if name in bucket:
                raise InvalidSpec(f"parameter {tok.key!r} is given twice")
            bucket[name] = tok.text
        elif tok.word == "from":
            if words.seen_from:
                raise InvalidSpec(f"`from` appears twice; usage: {_FIT_USAGE}")
            words.seen_from = True
        elif tok.word == "by":
            if words.by:
                raise InvalidSpec("`by` appears twice; list every group field after one `by`")
            i = _scan_by(rest, i + 1, words.by)
            continue
        elif tok.word in ("into", "as"):
            if i + 1 >= len(rest) or rest[i + 1].key is not None:
                raise InvalidSpec(f"`{tok.word}` must be followed by a name")
            if tok.word == "into":
                words.into = ModelRef.parse(rest[i + 1].text).name
            else:
                words.output_name = rest[i + 1].text
            i += 1
        else:
            (words.after if words.seen_from else words.before).append(tok.text)
        i += 1
    return words


def _scan_by(rest: list[_Tok], i: int, into: list[str]) -> int:
    """The fields after `by`, as MLTK writes them (`by a,b`, `by "a,b"`, `by a, b`, `by a b`),
    up to the next option, keyword or end; the position after them."""
    while i < len(rest) and rest[i].key is None and rest[i].word not in ("into", "as", "from"):
        into.extend(f.strip() for f in rest[i].text.split(",") if f.strip())
        i += 1
    if not into:
        raise InvalidSpec('`by` must be followed by field names, as in `by host` or `by "a,b"`')
    return i


def _target_and_features(words: _FitWords) -> tuple[str | None, tuple[str, ...]]:
    if not words.seen_from:
        if not words.before:
            raise InvalidSpec(f"name the fields to train on; usage: {_FIT_USAGE}")
        return None, tuple(words.before)
    if len(words.before) != 1:
        raise InvalidSpec(
            f"exactly one target field goes before `from` (got {len(words.before)}); "
            f"usage: {_FIT_USAGE}"
        )
    if not words.after:
        raise InvalidSpec(f"name the feature fields after `from`; usage: {_FIT_USAGE}")
    return words.before[0], tuple(words.after)


def _checked_algorithm(
    algo_name: str,
    raw_params: dict[str, Any],
    target: str | None,
    features: tuple[str, ...],
    *,
    catalog: Any,
    allow_unknown: bool,
) -> tuple[str, dict[str, Any]]:
    """The algorithm's canonical name and its checked parameters; an algorithm outside the
    catalog passes unchecked only when ``allow_unknown`` (the worker checks it later)."""
    from kepler.core.algorithms import find_algorithm

    try:
        info = find_algorithm(algo_name, catalog or ())
    except InvalidSpec:
        if not allow_unknown:
            raise
        return algo_name, dict(raw_params)
    params = info.check(raw_params)
    if info.supervised and target is None:
        raise InvalidSpec(
            f"{info.name} predicts a field: name it before `from`, as in "
            f"fit {info.name} <target> from {' '.join(features)}"
        )
    if not info.supervised and target is not None:
        raise InvalidSpec(
            f"{info.name} is {_article(info.task)} and learns without a target: "
            f"drop `{target} from` and list the fields"
        )
    return info.name, params


def _article(task: str) -> str:
    names = {
        "clusterer": "a clustering algorithm",
        "outlier": "an anomaly detector",
        "transformer": "a preprocessing step",
        "forecaster": "a forecaster",
    }
    return names.get(task, task)


def _fit_options(options: dict[str, Any]) -> dict[str, Any]:
    from kepler.core.params import Param, coerce

    out: dict[str, Any] = {}
    if "probabilities" in options:
        out["probabilities"] = coerce(Param("probabilities", "bool"), options["probabilities"])
    if "partial_fit" in options:
        out["partial_fit"] = coerce(Param("partial_fit", "bool"), options["partial_fit"])
    if "holdout" in options:
        out["holdout"] = coerce(
            Param("holdout", "float", minimum=0.0, maximum=0.9), options["holdout"]
        )
    out.update(validation_options(options))
    return out


def validation_options(options: dict[str, Any]) -> dict[str, Any]:
    """``split``, ``time_field``, ``kfold_cv`` and ``gap`` checked and typed, from SPL text
    or the SDK's values (those given; the rest keep FitSpec's defaults)."""
    from kepler.core.params import Param, coerce

    out: dict[str, Any] = {}
    if "split" in options:
        out["split"] = coerce(Param("split", "str", choices=SPLITS), options["split"])
    if "time_field" in options:
        name = str(options["time_field"]).strip()
        if not name:
            raise InvalidSpec("time_field= names the field that orders the rows, e.g. _time")
        out["time_field"] = name
    if "kfold_cv" in options:
        out["kfold_cv"] = coerce(
            Param("kfold_cv", "int", minimum=2, maximum=MAX_FOLDS), options["kfold_cv"]
        )
    if "gap" in options:
        out["gap"] = coerce(Param("gap", "int", minimum=0, maximum=MAX_GAP), options["gap"])
    if "lags" in options:
        lag = Param("lags", "int", minimum=1, maximum=MAX_LAG)
        out["lags"] = tuple(sorted({coerce(lag, v) for v in _items(options["lags"], "lags")}))
    if "rolling" in options:
        out["rolling"] = tuple(_window(v) for v in _items(options["rolling"], "rolling"))
    return out


def _items(value: Any, name: str) -> list[Any]:
    """A comma-separated SPL value (``1,2,24``) or the SDK's list, at most MAX_LAG_STEPS."""
    items = list(value) if isinstance(value, (list, tuple)) else str(value).split(",")
    items = [v.strip() if isinstance(v, str) else v for v in items]
    items = [v for v in items if v != ""]
    if not items or len(items) > MAX_LAG_STEPS:
        raise InvalidSpec(
            f"{name}= takes 1 to {MAX_LAG_STEPS} comma-separated values, as in "
            + ("lags=1,2,24" if name == "lags" else "rolling=mean:12,max:24")
        )
    return items


def _window(item: Any) -> str:
    """``mean:12``: a statistic of ROLLING_STATS over a window of 2..MAX_LAG rows."""
    from kepler.core.params import Param, coerce

    stat, _, size = str(item).partition(":")
    stat = stat.strip().lower()
    if stat not in ROLLING_STATS or not size.strip():
        raise InvalidSpec(
            f"rolling={item!r} is not <statistic>:<rows>; use one of "
            f"{', '.join(ROLLING_STATS)}, as in rolling=mean:12"
        )
    window = coerce(Param("rolling", "int", minimum=2, maximum=MAX_LAG), size)
    return f"{stat}:{window}"


def _parse_apply(rest: list[_Tok]) -> ApplySpec:
    usage = (
        "apply <model>[@<version>|:<alias>] [as <out>] [probabilities=<bool>] "
        "[forecast_k=<steps>] [holdback=<steps>] [conf_interval=<percent>] "
        "[output_metadata=<bool>] [target=<field>[,<field>]] [specialdays=<field>] "
        "[period=<int>] [index=<index> [sourcetype=<sourcetype>]]"
    )
    algorithm_options = APPLY_ALGORITHM_OPTIONS + APPLY_FORECAST_OPTIONS
    if not rest or rest[0].key is not None:
        raise InvalidSpec(f"apply needs a model; usage: {usage}")
    ref = ModelRef.parse(rest[0].text)
    output_name: str | None = None
    probabilities: bool | None = None
    targets: dict[str, str] = {}
    options: dict[str, Any] = {}
    discarded: dict[str, str] = {}
    i = 1
    while i < len(rest):
        tok = rest[i]
        if tok.key is not None:
            key = tok.key.lower()
            if key in APPLY_DISCARDED_OPTIONS:
                discarded[key] = tok.text
                i += 1
                continue
            if key not in APPLY_OPTIONS + algorithm_options:
                allowed = ", ".join(APPLY_OPTIONS + algorithm_options)
                raise InvalidSpec(f"apply has no option {tok.key!r}; allowed: {allowed}")
            if key in algorithm_options:
                options[key] = apply_algorithm_option(key, tok.text)
            elif key == "probabilities":
                probabilities = _fit_options({"probabilities": tok.text})["probabilities"]
            else:
                targets[key] = tok.text
        elif tok.word == "as" and i + 1 < len(rest) and rest[i + 1].key is None:
            output_name = rest[i + 1].text
            i += 1
        else:
            raise InvalidSpec(f"unexpected {tok.text!r}; usage: {usage}")
        i += 1
    from kepler.core.density import outlier_thresholds

    outlier_thresholds(
        *(options.get(k) for k in ("threshold", "lower_threshold", "upper_threshold"))
    )
    index, sourcetype = targets.get("index"), targets.get("sourcetype")
    if index is not None and not INDEX_NAME.match(index):
        raise InvalidSpec(
            f"index={index!r} is not a Splunk index name: lowercase letters, digits, '_' "
            "and '-', at most 80 characters"
        )
    if sourcetype is not None and (index is None or not sourcetype.strip()):
        raise InvalidSpec("sourcetype= names the scores' sourcetype: give index=<index> too")
    return ApplySpec(
        model=ref,
        output_name=output_name,
        probabilities=probabilities,
        index=index,
        sourcetype=sourcetype,
        options=options,
        discarded=discarded,
    )


def apply_algorithm_option(key: str, text: str) -> Any:
    """An apply-time algorithm option (DensityFunction's, a forecaster's) as ``key=text``
    gives it, checked and typed: the search bar and the bridge's query read them alike."""
    from kepler.core.density import floats, mltk_text, show_option_names
    from kepler.core.params import Param, coerce

    if key in ("show_density", "sample", "full_sample", "output_metadata"):
        return coerce(Param(key, "bool"), text)
    if key == "show_options":
        show_option_names(text)
        return text.replace(" ", "")
    if key in ("forecast_k", "holdback"):  # rows, or MLTK's time amounts (2weeks, 3days)
        from kepler.core.algorithms import MAX_FORECAST_K

        bound = MAX_FORECAST_K if key == "forecast_k" else None
        return coerce(Param(key, "steps", minimum=0, maximum=bound), text)
    if key == "target":  # a forecaster's fields, as MLTK writes them: a,b or "a b"
        fields = [f for f in re.split(r"[,\s]+", text.strip()) if f]
        if not fields:
            raise InvalidSpec("target= names the fitted field(s) to forecast: target=<field>[,...]")
        return ",".join(fields)
    if key == "period":  # StateSpaceForecast's: MLTK's apply checks it against the fit's
        from kepler.core.algorithms import MAX_PERIOD

        return coerce(Param(key, "int", minimum=1, maximum=MAX_PERIOD), text)
    if key == "specialdays":  # a field name, as fit takes it
        if not text.strip():
            raise InvalidSpec("specialdays= names the field of special days: specialdays=<field>")
        return text.strip()
    if key == "conf_interval":  # a percentage, as fit takes it
        return coerce(Param(key, "float", minimum=1.0, maximum=99.9), text)
    # threshold, lower_threshold, upper_threshold: one value or several (MLTK's range and
    # message), kept as text
    return mltk_text(floats(key, text))
