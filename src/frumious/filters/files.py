"""Release-file filters: keep or drop single files of a release."""

from __future__ import annotations

from typing import Any

from frumious.errors import ConfigError
from frumious.filters.base import FilterContext, ReleaseFileFilter
from frumious.filters.metadata import regex_rules
from frumious.filters.paths import NULL_TAGS, VersionRangeRule, file_document, parse_key
from frumious.filters.platforms import KNOWN_TOKENS, exclusions_for
from frumious.filters.specs import parse_version
from frumious.models import DistFile, Project

__all__ = ["ExcludePlatform", "RegexReleaseFileMetadata", "VersionRangeReleaseFileMetadata"]


class ExcludePlatform(ReleaseFileFilter):
    """Drops binaries for the platforms and Pythons in ``[blocklist] platforms`` (by filename
    substring or package type). Source distributions are never dropped."""

    name = "exclude_platform"
    aliases = ("exclude_platforms",)

    def __init__(self, context: FilterContext) -> None:
        super().__init__(context)
        tokens = (context.get("blocklist", "platforms") or "").split()
        self.exclusions, unknown = exclusions_for(tokens)
        if unknown:
            names = ", ".join(repr(t) for t in unknown)
            raise ConfigError(f"[blocklist] platforms: unknown platform {names}; use {KNOWN_TOKENS}")
        if not tokens:
            context.inert("[blocklist] platforms is not set")

    def keeps_file(self, project: Project, file: DistFile) -> bool:
        if file.packagetype == "sdist":
            return True
        if file.packagetype in self.exclusions.packagetypes:
            return False
        return not any(s in file.filename for s in self.exclusions.substrings)

    def describe(self) -> object:
        return {"substrings": sorted(self.exclusions.substrings), "packagetypes": sorted(self.exclusions.packagetypes)}


class _RuleFileFilter(ReleaseFileFilter):
    """A file filter made of rules over ``{"info", "release", "release_file"}``; all must pass."""

    rules: tuple[Any, ...]

    def __init__(self, context: FilterContext) -> None:
        super().__init__(context)
        self.rules = self._rules(context)
        if not self.rules:
            context.inert(f"section [{self.name}] is empty or missing")

    def _rules(self, context: FilterContext) -> tuple[Any, ...]:
        raise NotImplementedError

    def keeps_file(self, project: Project, file: DistFile) -> bool:
        if not self.rules:
            return True
        document = file_document(project, file)
        return all(rule.passes(document) for rule in self.rules)

    def describe(self) -> object:
        return sorted(rule.describe() for rule in self.rules)


class RegexReleaseFileMetadata(_RuleFileFilter):
    """Keeps a file only when every key of ``[regex_release_file_metadata]`` passes, over the
    document ``{"info": ..., "release": version, "release_file": file}``."""

    name = "regex_release_file_metadata"

    def _rules(self, context: FilterContext) -> tuple[Any, ...]:
        return tuple(regex_rules(context, self.name))


def _version_rules(context: FilterContext, section: str) -> tuple[VersionRangeRule, ...]:
    rules: list[VersionRangeRule] = []
    problems: list[str] = []
    for key, value in context.section(section).items():
        try:
            node = parse_key(key, allowed_tags=NULL_TAGS)
        except ValueError as e:
            problems.append(f"[{section}] {e}")
            continue
        versions = []
        for line in [line.strip() for line in value.split("\n") if line.strip()]:
            version = parse_version(line)
            if version is None:
                problems.append(f"[{section}] {key}: {line!r} is not a version")
            versions.append(version)
        if not versions:
            problems.append(f"[{section}] {key}: no version given")
        rules.append(VersionRangeRule(node, tuple(v for v in versions if v is not None)))
    if problems:
        raise ConfigError(problems)
    return tuple(rules)


class VersionRangeReleaseFileMetadata(_RuleFileFilter):
    """Keeps a file when the specifier at each key (e.g. ``release_file.requires_python``)
    admits at least one of the listed versions; a missing specifier passes unless ``not-null``."""

    name = "version_range_release_file_metadata"

    def _rules(self, context: FilterContext) -> tuple[Any, ...]:
        return _version_rules(context, self.name)
