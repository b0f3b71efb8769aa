"""Metadata filters: accept or refuse a whole project once its upstream JSON is known.

The size and version-count limits exempt the names in ``[allowlist] packages``; combine them
with ``allowlist_project`` to get "listed AND small" instead of "listed OR small".
"""

from __future__ import annotations

import re

from frumious.errors import ConfigError
from frumious.filters.base import FilterContext, MetadataFilter
from frumious.filters.paths import RegexRule, parse_key, project_document
from frumious.filters.specs import allowlist_names
from frumious.models import Project

__all__ = ["RegexProjectMetadata", "SizeProjectMetadata", "VersionsCountProjectMetadata", "parse_size", "regex_rules"]

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([A-Za-z]*)")
# humanfriendly (bandersnatch's parser, binary=True) reads any unit by its first letter.
_SIZE_PREFIXES = "kmgtpezy"


def parse_size(text: str) -> int:
    """``1024``, ``10K``, ``1.5 GB``, ``2GiB``: bytes, with every prefix binary (1G = 2**30)."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a size such as 500M or 1G")
    number, unit = float(match.group(1)), match.group(2).lower()
    if not unit or unit.startswith("b"):
        return int(number)
    power = _SIZE_PREFIXES.find(unit[0])
    if power < 0:
        raise ValueError(f"{text!r} has an unknown unit {match.group(2)!r}")
    return int(number * 1024 ** (power + 1))


def regex_rules(context: FilterContext, section: str) -> tuple[RegexRule, ...]:
    """Every key of ``[section]`` as a rule; raises ConfigError listing bad keys and patterns."""
    rules: list[RegexRule] = []
    problems: list[str] = []
    for key, value in context.section(section).items():
        try:
            node = parse_key(key)
        except ValueError as e:
            problems.append(f"[{section}] {e}")
            continue
        patterns: list[re.Pattern[str]] = []
        for line in [line.strip() for line in value.split("\n") if line.strip()]:
            try:
                patterns.append(re.compile(line))
            except re.error as e:
                problems.append(f"[{section}] {key}: bad regular expression {line!r}: {e}")
        if not patterns:
            problems.append(f"[{section}] {key}: no pattern given")
        rules.append(RegexRule(node, tuple(patterns)))
    if problems:
        raise ConfigError(problems)
    return tuple(rules)


class RegexProjectMetadata(MetadataFilter):
    """Keeps a project only when every key of ``[regex_project_metadata]`` passes."""

    name = "regex_project_metadata"

    def __init__(self, context: FilterContext) -> None:
        super().__init__(context)
        self.rules = regex_rules(context, self.name)
        if not self.rules:
            context.inert(f"section [{self.name}] is empty or missing")

    def allows_metadata(self, project: Project) -> bool:
        if not self.rules:
            return True
        document = project_document(project)
        return all(rule.passes(document) for rule in self.rules)

    def describe(self) -> object:
        return sorted(rule.describe() for rule in self.rules)


def _optional_count(context: FilterContext, section: str, key: str, problems: list[str]) -> int:
    text = (context.get(section, key) or "").strip()
    if not text:
        return 0
    if not text.isdigit():
        problems.append(f"[{section}] {key}: {text!r} is not a whole number >= 0")
        return 0
    return int(text)


class SizeProjectMetadata(MetadataFilter):
    """Refuses projects whose files, over all releases, add up to more than ``max_package_size``."""

    name = "size_project_metadata"

    def __init__(self, context: FilterContext) -> None:
        super().__init__(context)
        text = context.get(self.name, "max_package_size")
        self.max_size = 0
        if text is None or not text.strip():
            context.inert(f"[{self.name}] max_package_size is not set")
        else:
            try:
                self.max_size = parse_size(text)
            except ValueError as e:
                raise ConfigError(f"[{self.name}] max_package_size: {e}") from None
        self.exempt = allowlist_names(context) if self.max_size > 0 else frozenset()

    def allows_metadata(self, project: Project) -> bool:
        if self.max_size <= 0 or project.canonical in self.exempt:
            return True
        return sum(f.size or 0 for f in project.files) <= self.max_size

    def describe(self) -> object:
        return {"max": self.max_size, "exempt": sorted(self.exempt)}


class VersionsCountProjectMetadata(MetadataFilter):
    """Refuses projects with fewer than ``min_versions`` or more than ``max_versions`` releases."""

    name = "versions_count_project_metadata"

    def __init__(self, context: FilterContext) -> None:
        super().__init__(context)
        problems: list[str] = []
        self.min_versions = _optional_count(context, self.name, "min_versions", problems)
        self.max_versions = _optional_count(context, self.name, "max_versions", problems)
        if self.max_versions and self.min_versions > self.max_versions:
            problems.append(f"[{self.name}] min_versions ({self.min_versions}) > max_versions ({self.max_versions})")
        if problems:
            raise ConfigError(problems)
        active = bool(self.min_versions or self.max_versions)
        if not active:
            context.inert(f"[{self.name}] sets neither min_versions nor max_versions")
        self.exempt = allowlist_names(context) if active else frozenset()

    def allows_metadata(self, project: Project) -> bool:
        if project.canonical in self.exempt:
            return True
        count = len(project.releases)
        if self.min_versions and count < self.min_versions:
            return False
        return not (self.max_versions and count > self.max_versions)

    def describe(self) -> object:
        return {"min": self.min_versions, "max": self.max_versions, "exempt": sorted(self.exempt)}
