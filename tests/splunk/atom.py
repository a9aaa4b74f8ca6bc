"""splunkd's two ways of writing a REST answer: an Atom feed (the default, what
``splunklib.client`` parses with ``splunklib.data.load``) and JSON (``output_mode=json``).

An entity is one ``<entry>``: ``title`` (its name), ``id``, ``updated``, ``link`` elements
(``alternate``, ``list``, ``edit``, ``remove``: what ``splunklib.client`` builds an entity's
own path from), ``author`` and a ``content`` holding an ``s:dict``, whose ``eai:acl`` key
(``owner``, ``app``, ``sharing``) tells splunklib which namespace to update or delete it in.
A collection wraps its entries in a ``<feed>`` with ``opensearch:totalResults``, which
splunklib reads as "no entries" when it is 0. In JSON the same entity is
``{"name", "id", "updated", "links", "author", "acl", "content"}`` in an ``entry`` list
beside ``paging``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any

ATOM_NS = (
    'xmlns="http://www.w3.org/2005/Atom" xmlns:s="http://dev.splunk.com/ns/rest" '
    'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"'
)
UPDATED = "2026-01-01T00:00:00+00:00"
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def atom_dict(content: Mapping[str, Any]) -> str:
    """``content`` as splunkd's ``s:dict`` (nested dicts, lists as ``s:list``)."""
    keys = []
    for name, value in content.items():
        if isinstance(value, Mapping):
            keys.append(f'<s:key name="{escape(name)}">{atom_dict(value)}</s:key>')
        elif isinstance(value, list):
            items = "".join(f"<s:item>{escape(str(v))}</s:item>" for v in value)
            keys.append(f'<s:key name="{escape(name)}"><s:list>{items}</s:list></s:key>')
        elif isinstance(value, bool):
            keys.append(f'<s:key name="{escape(name)}">{int(value)}</s:key>')
        else:
            keys.append(f'<s:key name="{escape(name)}">{escape(str(value))}</s:key>')
    return "<s:dict>" + "".join(keys) + "</s:dict>"


@dataclass
class Entity:
    """One entry of an answer; ``path`` is its URL-encoded path (``/servicesNS/...``)."""

    title: str
    path: str
    content: dict[str, Any]
    acl: dict[str, Any] | None = None
    author: str = "system"
    links: dict[str, str] = field(default_factory=dict)

    def all_links(self) -> dict[str, str]:
        return {"alternate": self.path, **self.links}

    def xml(self, base: str) -> str:
        content = dict(self.content)
        if self.acl is not None:
            content["eai:acl"] = self.acl
        links = "".join(
            f'<link href="{escape(href)}" rel="{escape(rel)}"/>'
            for rel, href in self.all_links().items()
        )
        return (
            f"<entry><title>{escape(self.title)}</title><id>{escape(base + self.path)}</id>"
            f"<updated>{UPDATED}</updated>{links}"
            f"<author><name>{escape(self.author)}</name></author>"
            f'<content type="text/xml">{atom_dict(content)}</content></entry>'
        )

    def json(self, base: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.title,
            "id": base + self.path,
            "updated": UPDATED,
            "links": self.all_links(),
            "author": self.author,
            "content": {**self.content, "eai:acl": None} if self.acl else dict(self.content),
        }
        if self.acl is not None:
            entry["acl"] = self.acl
        return entry


def feed(
    base: str,
    title: str,
    path: str,
    entities: Iterable[Entity],
    *,
    version: str,
    total: int | None = None,
    per_page: int = 30,
    offset: int = 0,
    links: Mapping[str, str] | None = None,
) -> bytes:
    """A collection's answer as an Atom feed."""
    entries = list(entities)
    link_xml = "".join(
        f'<link href="{escape(href)}" rel="{escape(rel)}"/>' for rel, href in (links or {}).items()
    )
    return (
        f"{DECLARATION}<feed {ATOM_NS}><title>{escape(title)}</title>"
        f"<id>{escape(base + path)}</id><updated>{UPDATED}</updated>"
        f'<generator build="a8e3b1b2c4d5" version="{escape(version)}"/>'
        f"<author><name>Splunk</name></author>{link_xml}"
        f"<opensearch:totalResults>{len(entries) if total is None else total}"
        "</opensearch:totalResults>"
        f"<opensearch:itemsPerPage>{per_page}</opensearch:itemsPerPage>"
        f"<opensearch:startIndex>{offset}</opensearch:startIndex><s:messages/>"
        + "".join(e.xml(base) for e in entries)
        + "</feed>"
    ).encode()


def json_feed(
    base: str,
    path: str,
    entities: Iterable[Entity],
    *,
    version: str,
    total: int | None = None,
    per_page: int = 30,
    offset: int = 0,
    links: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The same collection as ``output_mode=json`` writes it."""
    entries = [e.json(base) for e in entities]
    return {
        "links": dict(links or {}),
        "origin": base + path,
        "updated": UPDATED,
        "generator": {"build": "a8e3b1b2c4d5", "version": version},
        "entry": entries,
        "paging": {
            "total": len(entries) if total is None else total,
            "perPage": per_page,
            "offset": offset,
        },
        "messages": [],
    }
