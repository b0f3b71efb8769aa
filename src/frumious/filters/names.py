"""Project filters: decide on the listing name alone, before anything is fetched.

They run over every name upstream lists (700k+), so all parsing happens in ``__init__``
and a call is one set lookup or a few precompiled regex matches.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import ClassVar

from frumious.errors import ConfigError
from frumious.filters.base import FilterContext, ProjectFilter
from frumious.filters.closure import ClosureConfig, read_config
from frumious.filters.specs import config_specs, requirement_specs
from frumious.models import NormalizedName

__all__ = ["AllowlistProject", "BlocklistProject", "ProjectRequirements", "RegexProject", "compile_patterns"]


def compile_patterns(context: FilterContext, section: str, key: str) -> tuple[re.Pattern[str], ...]:
    """Every line of ``[section] key`` compiled; raises ConfigError listing each bad one."""
    patterns: list[re.Pattern[str]] = []
    problems: list[str] = []
    for line in context.lines(section, key):
        try:
            patterns.append(re.compile(line))
        except re.error as e:
            problems.append(f"[{section}] {key}: bad regular expression {line!r}: {e}")
    if problems:
        raise ConfigError(problems)
    return tuple(patterns)


class BlocklistProject(ProjectFilter):
    """Drops the projects named in ``[blocklist] packages``; lines with a specifier are left to
    ``blocklist_release``, and so are lines with extras, markers or a URL."""

    name = "blocklist_project"
    aliases = ("blacklist_project",)

    def __init__(self, context: FilterContext) -> None:
        super().__init__(context)
        specs = config_specs(context, "blocklist", "packages")
        self.blocked = frozenset(s.name for s in specs if s.bare)
        if not self.blocked:
            context.inert("[blocklist] packages names no project")

    def allows_project(self, name: str, canonical: NormalizedName) -> bool:
        return canonical not in self.blocked

    def describe(self) -> object:
        return sorted(self.blocked)


class AllowlistProject(ProjectFilter):
    """Keeps only the projects named in ``[allowlist] packages``; an empty list keeps all.

    With ``[allowlist] closure = true`` the run grows it (``grown``) by what installing those
    packages needs in the ``[closure] environments`` (``frumious.closure``).
    """

    name = "allowlist_project"
    aliases: ClassVar[tuple[str, ...]] = ("whitelist_project",)
    _source = "[allowlist] packages"

    def __init__(self, context: FilterContext) -> None:
        super().__init__(context)
        self.allowed = self._names(context)
        self.closure = self._closure(context)
        if not self.allowed:
            context.inert(f"{self._source} names no project, so every project is kept")

    def _names(self, context: FilterContext) -> frozenset[NormalizedName]:
        return frozenset(s.name for s in config_specs(context, "allowlist", "packages"))

    def _closure(self, context: FilterContext) -> ClosureConfig | None:
        value = (context.get("allowlist", "closure") or "false").strip().lower()
        if value not in {"true", "false", "yes", "no", "on", "off", "1", "0"}:
            raise ConfigError(f"[allowlist] closure: {value!r} is not a boolean (true or false)")
        if value not in {"true", "yes", "on", "1"}:
            return None
        lines = self._root_lines(context)
        # An allowlist naming nothing keeps everything: a closure of nothing would be no bound at all.
        return read_config(lines, context.get("closure", "environments"), self._source) if lines else None

    def _root_lines(self, context: FilterContext) -> list[str]:
        return context.lines("allowlist", "packages")

    def allows_project(self, name: str, canonical: NormalizedName) -> bool:
        return not self.allowed or canonical in self.allowed

    def grown(self, names: Iterable[str]) -> AllowlistProject:
        """A copy that also allows ``names`` (the closure's); only a closure allowlist grows."""
        if self.closure is None or not self.allowed:
            return self
        bigger = copy.copy(self)
        bigger.allowed = self.allowed | frozenset(NormalizedName(n) for n in names)
        return bigger

    def describe(self) -> object:
        if self.closure is None:
            return sorted(self.allowed)
        return {"packages": sorted(self.allowed), "closure": self.closure.describe()}


class ProjectRequirements(AllowlistProject):
    """An allowlist read from the requirements files in ``[allowlist] requirements``."""

    name = "project_requirements"
    aliases = ()
    _source = "[allowlist] requirements"

    def _names(self, context: FilterContext) -> frozenset[NormalizedName]:
        return frozenset(s.name for s in requirement_specs(context))

    def _root_lines(self, context: FilterContext) -> list[str]:
        return sorted(self.allowed)


class RegexProject(ProjectFilter):
    """Drops projects whose raw listing name matches (``re.match``) a ``[filter_regex] packages`` line."""

    name = "regex_project"

    def __init__(self, context: FilterContext) -> None:
        super().__init__(context)
        self.patterns = compile_patterns(context, "filter_regex", "packages")
        if not self.patterns:
            context.inert("[filter_regex] packages is empty")

    def allows_project(self, name: str, canonical: NormalizedName) -> bool:
        return not any(pattern.match(name) for pattern in self.patterns)

    def describe(self) -> object:
        return [p.pattern for p in self.patterns]
