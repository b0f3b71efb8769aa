"""The `[tag:]...dotted.path` keys of the metadata filters, and the documents they walk.

A key such as ``not-null:all:info.classifiers`` names a node of a JSON document and how to
match it. Tags:

- ``any`` (default): some pattern matches some value of the node;
- ``all``: every pattern matches at least one value;
- ``none``: no pattern matches any value;
- ``match-null`` (default) / ``not-null``: whether a missing, null or empty-list node passes.

A node is read as a list of values (a scalar is a one-item list). Non-string values are
matched in their JSON spelling (``true``, ``42``), where bandersnatch would crash.
One deliberate difference from bandersnatch 8: under ``none`` a null node follows the null
tag like every other mode (bandersnatch always rejects it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from frumious.models import DistFile, Project

__all__ = [
    "NodeKey",
    "RegexRule",
    "VersionRangeRule",
    "file_document",
    "find_node",
    "needs_json",
    "parse_key",
    "project_document",
]

# What a project page (PEP 691/700, or 503) fills in the documents filters walk: anything else
# (``info.classifiers``, ``info.license``, ``release_file.comment_text``...) only Warehouse's JSON carries.
_PAGE_INFO = frozenset({"name", "version"})
_PAGE_FILE = frozenset(
    {
        "filename",
        "url",
        "size",
        "digests",
        "packagetype",
        "python_version",
        "requires_python",
        "upload_time_iso_8601",
        "yanked",
        "yanked_reason",
    }
)

MODE_TAGS = frozenset({"any", "all", "none"})
NULL_TAGS = frozenset({"match-null", "not-null"})


class NodeKey(msgspec.Struct, frozen=True):
    key: str
    path: tuple[str, ...]
    mode: str = "any"
    nulls_match: bool = True


def parse_key(key: str, *, allowed_tags: frozenset[str] = MODE_TAGS | NULL_TAGS) -> NodeKey:
    """Parse ``tag:tag:dotted.path``; later tags win, as in bandersnatch. Raises ValueError."""
    *tags, dotted = key.split(":")
    path = tuple(dotted.split("."))
    if not all(path):
        raise ValueError(f"{key!r} does not end in a dotted path such as info.name")
    mode, nulls_match = "any", True
    for tag in tags:
        if tag not in allowed_tags:
            raise ValueError(f"{key!r} has an unknown tag {tag!r} (known: {', '.join(sorted(allowed_tags))})")
        if tag in NULL_TAGS:
            nulls_match = tag == "match-null"
        else:
            mode = tag
    return NodeKey(key, path, mode, nulls_match)


def needs_json(path: Sequence[str]) -> bool:
    """Whether a filter key's path reads a field only Warehouse's JSON carries, not a project page."""
    head, rest = path[0], path[1:]
    if head == "info":
        return not rest or rest[0] not in _PAGE_INFO
    if head == "release_file":
        return not rest or rest[0] not in _PAGE_FILE
    return head not in ("release", "releases", "last_serial")


def find_node(document: Mapping[str, Any], path: Sequence[str]) -> Any:
    """The node at ``path``, or None when any step is missing, null or not an object."""
    node: Any = document
    for step in path:
        if not isinstance(node, Mapping) or node.get(step) is None:
            return None
        node = node[step]
    return node


def _spelling(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def node_values(node: Any) -> list[str]:
    if node is None:
        return []
    items = node if isinstance(node, list) else [node]
    return [_spelling(item) for item in items]


class RegexRule(msgspec.Struct, frozen=True):
    """One key of a regex metadata section and its patterns."""

    node: NodeKey
    patterns: tuple[re.Pattern[str], ...]

    def passes(self, document: Mapping[str, Any]) -> bool:
        values = node_values(find_node(document, self.node.path))
        if not values:
            return self.node.nulls_match
        if self.node.mode == "all":
            return all(any(p.match(v) for v in values) for p in self.patterns)
        hit = any(p.match(v) for p in self.patterns for v in values)
        return not hit if self.node.mode == "none" else hit

    def describe(self) -> list[str]:
        return [self.node.key, *(p.pattern for p in self.patterns)]


class VersionRangeRule(msgspec.Struct, frozen=True):
    """One key of a version-range section: the node, read as a specifier, must admit a version."""

    node: NodeKey
    versions: tuple[Version, ...]

    def passes(self, document: Mapping[str, Any]) -> bool:
        specifier = _as_specifier(find_node(document, self.node.path))
        if specifier is None:
            return self.node.nulls_match
        return any(specifier.contains(version, prereleases=True) for version in self.versions)

    def describe(self) -> list[str]:
        return [self.node.key, *(str(v) for v in self.versions)]


def _as_specifier(node: Any) -> SpecifierSet | None:
    # An empty or unparseable specifier counts as null, the way pip ignores a bad
    # Requires-Python instead of refusing the file (bandersnatch would crash).
    if not node or not isinstance(node, str):
        return None
    try:
        return SpecifierSet(node)
    except InvalidSpecifier:
        return None


def project_document(project: Project) -> Mapping[str, Any]:
    """The upstream JSON the metadata filters see (rebuilt from the model's fields)."""
    return project.document


def file_document(project: Project, file: DistFile) -> dict[str, Any]:
    """What a release-file filter sees: ``info``, ``release`` (the version) and ``release_file``."""
    return {"info": project.info, "release": file.version, "release_file": file.document}
