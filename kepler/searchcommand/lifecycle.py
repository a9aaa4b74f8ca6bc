"""The generating subcommands that act on versions: ``alias``, ``unalias`` and ``compare``.

``| kepler alias pump@4 as production`` points an alias at a version, ``| kepler unalias
pump production`` removes one (both need the ``kepler_admin_actions`` capability: the
admin token; the bridge refuses the user token, naming the role), and ``| kepler compare
pump@3 pump@4`` shows two versions side by side. Arguments are checked at getinfo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kepler.core import wire
from kepler.core.errors import InvalidSpec
from kepler.core.refs import ModelRef, validate_model_name
from kepler.searchcommand.bridge import BridgeClient

VERBS = ("alias", "unalias", "compare")
USAGES = {
    "alias": "alias <model>@<version> as <alias>, e.g. | kepler alias pump@4 as production",
    "unalias": "unalias <model> <alias>, e.g. | kepler unalias pump production",
    "compare": "compare <ref> <ref>, e.g. | kepler compare pump@3 pump@4",
}


def plan(verb: str, args: list[str], bridge: BridgeClient) -> Callable[[], list[dict[str, Any]]]:
    """What ``verb`` over ``args`` will answer. Checked now (getinfo): the arguments, the
    model, and all of ``compare``; an alias moves only when the rows are asked for."""
    if verb == "alias":
        ref, alias = alias_target(args)
        version = ref.version
        if version is None:  # the latest version of the model, fixed now
            version = int(bridge.json("GET", wire.model(ref))["version"])
        else:
            bridge.json("GET", wire.model(ref))  # an unknown version fails now
        return lambda: [move(bridge, ref.name, version, alias)]
    if verb == "unalias":
        name, alias = unalias_target(args)
        bridge.json("GET", wire.model(ModelRef(name, alias=alias)))  # an unknown alias fails now
        return lambda: [remove(bridge, name, alias)]
    first, second = compare_target(args)
    compared = compare(bridge, first, second)
    return lambda: compared


def _refuse(verb: str, args: list[str]) -> InvalidSpec:
    got = " ".join(args) or "nothing"
    return InvalidSpec(f"{verb} takes {USAGES[verb]}; got {got!r}")


def alias_target(args: list[str]) -> tuple[ModelRef, str]:
    """``pump@4 as production`` (``as`` may be left out), checked before the bridge is asked."""
    words = [a for a in args if a.lower() != "as"]
    if len(words) != 2:
        raise _refuse("alias", args)
    ref = ModelRef.parse(words[0])
    if ref.alias is not None:
        raise InvalidSpec(
            f"alias moves to a version, and {words[0]!r} names an alias; name the version, "
            "e.g. | kepler alias pump@4 as production (| kepler summary pump lists them)"
        )
    ModelRef.parse(f"{ref.name}:{words[1]}")  # the alias's own rules
    return ref, words[1]


def unalias_target(args: list[str]) -> tuple[str, str]:
    if len(args) == 1 and ":" in args[0]:  # pump:production
        ref = ModelRef.parse(args[0])
        return ref.name, str(ref.alias)
    if len(args) != 2:
        raise _refuse("unalias", args)
    validate_model_name(args[0], original=args[0])
    ModelRef.parse(f"{args[0]}:{args[1]}")
    return args[0], args[1]


def compare_target(args: list[str]) -> tuple[ModelRef, ModelRef]:
    if len(args) != 2:
        raise _refuse("compare", args)
    return ModelRef.parse(args[0]), ModelRef.parse(args[1])


def move(bridge: BridgeClient, name: str, version: int, alias: str) -> dict[str, Any]:
    answer = bridge.json("PUT", wire.alias(name, alias), json_body=wire.AliasSet(version))
    return _moved(answer, alias, to_version=version)


def remove(bridge: BridgeClient, name: str, alias: str) -> dict[str, Any]:
    answer = bridge.json("DELETE", wire.alias(name, alias))
    return _moved(answer, alias, to_version=None)


def _moved(answer: Any, alias: str, *, to_version: Any) -> dict[str, Any]:
    answer = answer if isinstance(answer, dict) else {}
    before = answer.get("from_version")
    if to_version is None:
        message = f"alias {alias} removed (it pointed at version {before})"
    elif before is None:
        message = f"alias {alias} now points at version {to_version}"
    else:
        message = f"alias {alias} moved from version {before} to version {to_version}"
    return {
        "model": answer.get("model"),
        "alias": alias,
        "from_version": before,
        "to_version": to_version,
        "user": answer.get("user"),
        "message": message,
    }


def compare(bridge: BridgeClient, first: ModelRef, second: ModelRef) -> list[dict[str, Any]]:
    answer = bridge.json("GET", wire.compare(first, second))
    columns = answer.get("columns") or []
    out = []
    for row in answer.get("rows") or []:
        cells: dict[str, Any] = {"item": row.get("item")}
        for column in columns:
            cells[column.strip()] = _cell(row.get(column))
        cells["changed"] = row.get("changed")
        cells["detail"] = row.get("detail")
        out.append(cells)
    return out


def _cell(value: Any) -> Any:
    """A list or mapping as text: a cell of a Splunk result holds a string or a number."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return value
