"""Model references: ``pump``, ``pump@3`` (version 3), ``pump:production`` (an alias)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kepler.core.errors import InvalidSpec

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@{self.version}"
        if self.alias is not None:
            return f"{self.name}:{self.alias}"
        return self.name

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Read ``name``, ``name@<version>`` or ``name:<alias>``.

        MLTK's ``app:<name>`` namespace prefix is accepted and dropped: Kepler's models
        live in one registry shared by Splunk and notebooks.
        """
        raw = text.strip().strip('"')
        if raw.startswith("app:"):
            raw = raw[4:]
        version: int | None = None
        alias: str | None = None
        name = raw
        if "@" in raw:
            name, _, ver = raw.partition("@")
            if not ver.isdigit() or int(ver) < 1:
                raise InvalidSpec(
                    f"model version in {text!r} must be a positive whole number, as in pump@3"
                )
            version = int(ver)
        elif ":" in raw:
            name, _, alias = raw.partition(":")
            if not _ALIAS.match(alias):
                raise InvalidSpec(
                    f"model alias in {text!r} must be letters, digits, _ or -, "
                    "as in pump:production"
                )
        validate_model_name(name, original=text)
        return cls(name=name, version=version, alias=alias)


def model_to_delete(text: str) -> str:
    """The model name ``text`` names, for deleting the whole model (every version).

    A version (``pump@3``) or alias (``pump:production``) reference is refused, never
    widened to its model: deleting names a model, and versions are never deleted one by
    one (an alias, a schedule or a Splunk search may point at any of them, and version
    numbers are never reused while the model exists). The SPL command, the SDK and the
    bridge all use this rule.
    """
    ref = ModelRef.parse(text)
    if ref.version is not None or ref.alias is not None:
        raise InvalidSpec(
            f"{text!r} names one version of model {ref.name!r}, but versions are never "
            f"deleted one by one; to delete model {ref.name!r} with every version, name "
            f"the model alone: {ref.name}",
            detail={"model": ref.name},
        )
    return ref.name


def validate_model_name(name: str, *, original: str | None = None) -> str:
    if not _NAME.match(name):
        shown = original if original is not None else name
        raise InvalidSpec(
            f"model name {shown!r} is not valid: use letters, digits, _, - and . "
            "(at most 128 characters)"
        )
    return name
