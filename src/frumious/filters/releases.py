"""Release filters: keep or drop whole versions of a project.

A version survives when every release filter keeps it, with two refinements over
bandersnatch, whose answer depended on set and dict ordering:

- ``project_requirements_pinned``, for a project its requirements files constrain, decides
  alone (the other release filters are bypassed), as bandersnatch documents;
- ``latest_release`` ranks only the versions the other filters kept, so "keep 3" yields three
  versions even when a pre-release filter removed the newest one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import ClassVar

from packaging.utils import canonicalize_name
from packaging.version import Version

from frumious.errors import ConfigError
from frumious.filters.base import FilterContext, ReleaseFilter
from frumious.filters.names import compile_patterns
from frumious.filters.specs import Spec, config_specs, parse_version, requirement_specs
from frumious.models import NormalizedName, Project

__all__ = [
    "AllowlistRelease",
    "BlocklistRelease",
    "LatestRelease",
    "PrereleaseRelease",
    "ProjectRequirementsPinned",
    "RegexRelease",
]


def _by_name(specs: Iterable[Spec]) -> dict[NormalizedName, tuple[Spec, ...]]:
    grouped: dict[NormalizedName, list[Spec]] = defaultdict(list)
    for spec in specs:
        grouped[spec.name].append(spec)
    return {name: tuple(group) for name, group in grouped.items()}


def _describe(specs: dict[NormalizedName, tuple[Spec, ...]]) -> list[str]:
    return sorted({spec.describe() for group in specs.values() for spec in group})


class BlocklistRelease(ReleaseFilter):
    """Drops versions inside a ``[blocklist] packages`` specifier; a bare name drops them all.
    Versions that do not parse are kept."""

    name = "blocklist_release"
    aliases = ("blacklist_release",)

    def __init__(self, context: FilterContext) -> None:
        super().__init__(context)
        self.specs = _by_name(config_specs(context, "blocklist", "packages"))
        if not self.specs:
            context.inert("[blocklist] packages is empty")

    def keeps_release(self, project: Project, version: str) -> bool:
        specs = self.specs.get(project.canonical)
        parsed = parse_version(version) if specs else None
        return parsed is None or not any(spec.contains(parsed) for spec in specs or ())

    def describe(self) -> object:
        return _describe(self.specs)


class AllowlistRelease(ReleaseFilter):
    """Keeps only versions inside a specifier listed for the project (a bare name admits all).
    A project without a line loses every version; versions that do not parse are dropped."""

    name = "allowlist_release"
    aliases: ClassVar[tuple[str, ...]] = ("whitelist_release",)
    _source = "[allowlist] packages"

    def __init__(self, context: FilterContext) -> None:
        super().__init__(context)
        self.specs = _by_name(self._specs(context))
        # bandersnatch drops every release of every project here; nobody wants that.
        if not self.specs:
            context.inert(f"{self._source} is empty")

    def _specs(self, context: FilterContext) -> list[Spec]:
        return config_specs(context, "allowlist", "packages")

    def keeps_release(self, project: Project, version: str) -> bool:
        if not self.specs:
            return True
        specs = self.specs.get(project.canonical, ())
        parsed = parse_version(version) if specs else None
        return parsed is not None and any(spec.contains(parsed) for spec in specs)

    def describe(self) -> object:
        return _describe(self.specs)


class ProjectRequirementsPinned(AllowlistRelease):
    """``allowlist_release`` fed from the requirements files. For a project with a version
    specifier there, it is the only release filter that runs."""

    name = "project_requirements_pinned"
    aliases = ()
    _source = "[allowlist] requirements"

    def _specs(self, context: FilterContext) -> list[Spec]:
        return requirement_specs(context)

    def exclusive_for(self, project: Project) -> bool:
        return any(spec.specifier for spec in self.specs.get(project.canonical, ()))


class PrereleaseRelease(ReleaseFilter):
    """Drops versions that look like pre-releases (by bandersnatch's regexes, not PEP 440),
    for every project or only those in ``[filter_prerelease] packages``."""

    name = "prerelease_release"
    PATTERNS = tuple(re.compile(p) for p in (r".+rc\d+$", r".+a(lpha)?\d+$", r".+b(eta)?\d+$", r".+dev\d+$"))

    def __init__(self, context: FilterContext) -> None:
        super().__init__(context)
        lines = [line for line in context.lines("filter_prerelease", "packages") if not line.startswith("#")]
        # Compared with the canonical project name (bandersnatch compared the raw one, a bug).
        self.only = frozenset(canonicalize_name(line) for line in lines)

    def keeps_release(self, project: Project, version: str) -> bool:
        if self.only and project.canonical not in self.only:
            return True
        return not any(pattern.match(version) for pattern in self.PATTERNS)

    def describe(self) -> object:
        return sorted(self.only)


class RegexRelease(ReleaseFilter):
    """Drops versions whose string matches (``re.match``) a ``[filter_regex] releases`` line."""

    name = "regex_release"

    def __init__(self, context: FilterContext) -> None:
        super().__init__(context)
        self.patterns = compile_patterns(context, "filter_regex", "releases")
        if not self.patterns:
            context.inert("[filter_regex] releases is empty")

    def keeps_release(self, project: Project, version: str) -> bool:
        return not any(pattern.match(version) for pattern in self.patterns)

    def describe(self) -> object:
        return [p.pattern for p in self.patterns]


def _version_key(version: str) -> tuple[bool, Version]:
    # Unparseable versions rank below every valid one (bandersnatch would crash on them).
    parsed = parse_version(version)
    return (parsed is not None, parsed or Version("0"))


class LatestRelease(ReleaseFilter):
    """Keeps the newest ``[latest_release] keep`` versions by version or upload time, always
    including ``info.version`` (which takes the last slot when it is not among them)."""

    name = "latest_release"
    ranks_survivors = True

    def __init__(self, context: FilterContext) -> None:
        super().__init__(context)
        problems: list[str] = []
        keep = (context.get(self.name, "keep") or "0").strip()
        sort_by = (context.get(self.name, "sort_by") or "version").strip()
        if not keep.isdigit():
            problems.append(f"[{self.name}] keep: {keep!r} is not a whole number >= 0")
        if sort_by not in ("version", "time"):
            problems.append(f"[{self.name}] sort_by: {sort_by!r} is neither 'version' nor 'time'")
        if problems:
            raise ConfigError(problems)
        self.keep, self.sort_by = int(keep), sort_by
        if not self.keep:
            context.inert(f"[{self.name}] keep is not set (or 0)")

    def _ranked(self, project: Project) -> list[str]:
        if self.sort_by == "time":
            # The upload time of each release's first file, as bandersnatch does.
            def uploaded(version: str) -> float:
                files = project.releases[version]
                return (files[0].upload_timestamp if files else None) or 0.0

            return sorted(project.releases, key=uploaded, reverse=True)
        return sorted(project.releases, key=_version_key, reverse=True)

    def kept_versions(self, project: Project) -> set[str]:
        if self.keep == 0 or self.keep > len(project.releases):
            return set(project.releases)
        chosen = self._ranked(project)[: self.keep]
        current = project.info.get("version")
        if isinstance(current, str) and current in project.releases and current not in chosen:
            chosen[-1] = current
        return set(chosen)

    def keeps_release(self, project: Project, version: str) -> bool:
        return version in self.kept_versions(project)

    def describe(self) -> object:
        return {"keep": self.keep, "sort_by": self.sort_by}
