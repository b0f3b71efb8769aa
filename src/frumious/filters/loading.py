"""Build the ``FilterSet`` of a run from ``[plugins] enabled`` and the plugins' sections.

Built-in filters are registered here, in code, so they load even from a broken install.
Third-party filters come from the ``frumious.filters.v1`` entry-point group; the entry
point's name is the plugin name and must equal the class's ``name``.

Where bandersnatch quietly disables a misconfigured filter (mirroring everything, or
nothing), frumious refuses to start: every problem found is raised in one ``ConfigError``.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from frumious.errors import ConfigError
from frumious.filters import guard
from frumious.filters.base import (
    Filter,
    FilterContext,
    MetadataFilter,
    ProjectFilter,
    ReleaseFileFilter,
    ReleaseFilter,
)
from frumious.filters.cooldown import CooldownReleaseFile
from frumious.filters.files import ExcludePlatform, RegexReleaseFileMetadata, VersionRangeReleaseFileMetadata
from frumious.filters.filterset import FilterSet
from frumious.filters.locks import Lockfiles
from frumious.filters.metadata import RegexProjectMetadata, SizeProjectMetadata, VersionsCountProjectMetadata
from frumious.filters.names import AllowlistProject, BlocklistProject, ProjectRequirements, RegexProject
from frumious.filters.releases import (
    AllowlistRelease,
    BlocklistRelease,
    LatestRelease,
    PrereleaseRelease,
    ProjectRequirementsPinned,
    RegexRelease,
)
from frumious.filters.tags import WheelTags
from frumious.settings import Settings

if TYPE_CHECKING:  # importlib.metadata loads only when installed plugins are looked for (30-50 ms)
    from importlib.metadata import EntryPoint

__all__ = ["BUILTIN_FILTERS", "ENTRY_POINT_GROUP", "load_filters"]

ENTRY_POINT_GROUP = "frumious.filters.v1"
_KINDS = (ProjectFilter, MetadataFilter, ReleaseFileFilter, ReleaseFilter)

BUILTIN_FILTERS: tuple[type[Filter], ...] = (
    BlocklistProject,
    AllowlistProject,
    ProjectRequirements,
    RegexProject,
    RegexProjectMetadata,
    SizeProjectMetadata,
    VersionsCountProjectMetadata,
    ExcludePlatform,
    RegexReleaseFileMetadata,
    VersionRangeReleaseFileMetadata,
    BlocklistRelease,
    AllowlistRelease,
    ProjectRequirementsPinned,
    PrereleaseRelease,
    RegexRelease,
    LatestRelease,
    Lockfiles,
    WheelTags,
    CooldownReleaseFile,
)


def _plugin_entry_points() -> Iterable[EntryPoint]:
    # A seam for tests, which cannot install packages.
    from importlib.metadata import entry_points

    return entry_points(group=ENTRY_POINT_GROUP)


def _load_entry_point(ep: EntryPoint) -> type[Filter]:
    """The class an entry point names; raises ConfigError when it is not a usable filter."""
    try:
        loaded = ep.load()
    except Exception as e:  # any import-time failure of third-party code
        raise ConfigError(f"filter plugin {ep.name!r} ({ep.value}) failed to load: {e!r}") from None
    if not (isinstance(loaded, type) and issubclass(loaded, _KINDS)):
        kinds = ", ".join(k.__name__ for k in _KINDS)
        raise ConfigError(f"filter plugin {ep.name!r} ({ep.value}) is not a subclass of one of {kinds}")
    if loaded.name != ep.name:
        raise ConfigError(f"filter plugin {ep.name!r} ({ep.value}) has name {loaded.name!r}; they must match")
    return loaded


def _third_party(
    wanted: set[str] | None, problems: list[str], warnings: list[str]
) -> tuple[dict[str, type[Filter]], set[str]]:
    """Entry-point filters by name (those in ``wanted``, or all when it is None), and every
    name an entry point offered, loadable or not."""
    builtin = {cls.name for cls in BUILTIN_FILTERS} | {a for cls in BUILTIN_FILTERS for a in cls.aliases}
    found: dict[str, type[Filter]] = {}
    offered: set[str] = set()
    for ep in _plugin_entry_points():
        if ep.name in builtin:
            warnings.append(f"filter plugin entry point {ep.name!r} ({ep.value}) shadows a built-in; ignored")
            continue
        offered.add(ep.name)
        if wanted is None or ep.name in wanted:
            try:
                found[ep.name] = _load_entry_point(ep)
            except ConfigError as e:
                problems.extend(e.problems)
    return found, offered


def _requested(plugins: Iterable[str]) -> tuple[list[str], bool]:
    """The names listed (deduplicated, in order), and whether `all` was among them."""
    names = [p.strip() for p in plugins]
    names = [p for p in dict.fromkeys(names) if p and not p.startswith(("#", ";"))]
    return [p for p in names if p != "all"], "all" in names


def _resolve(
    listed: list[str], everything: bool, problems: list[str], warnings: list[str]
) -> list[tuple[type[Filter], bool]]:
    """(class, explicitly listed) for every enabled filter, built-ins first."""
    by_name = {cls.name: cls for cls in BUILTIN_FILTERS}
    by_alias = {alias: cls for cls in BUILTIN_FILTERS for alias in cls.aliases}
    unknown = [n for n in listed if n not in by_name and n not in by_alias]
    # No filters enabled (the usual mirror): skip the entry-point scan, a twentieth of a second
    # that reads every installed distribution's metadata on every run.
    extra, offered = (
        _third_party(None if everything else set(unknown), problems, warnings) if listed or everything else ({}, set())
    )
    explicit: set[str] = set()
    for name in listed:
        cls = by_name.get(name) or by_alias.get(name) or extra.get(name)
        if cls is None:
            if name not in offered:  # an offered one that failed to load is reported already
                known = ", ".join(sorted({*by_name, *offered}))
                problems.append(f"[plugins] enabled: unknown filter plugin {name!r} (known: all, {known})")
            continue
        if name in by_alias:
            warnings.append(f"[plugins] enabled: {name!r} is a deprecated name; use {cls.name!r}")
        explicit.add(cls.name)
    candidates = [*BUILTIN_FILTERS, *extra.values()]
    return [(cls, cls.name in explicit) for cls in candidates if everything or cls.name in explicit]


def _build(cls: type[Filter], context: FilterContext, problems: list[str], warnings: list[str]) -> Filter | None:
    try:
        instance = cls(context)
    except ConfigError as e:
        problems.extend(e.problems)
        return None
    finally:
        warnings.extend(context.warnings)
    return instance


def load_filters(
    settings: Settings, *, base_dir: str | None = None, known_sections: Collection[str] | None = None
) -> FilterSet:
    """The filters ``settings.plugins`` enables, configured from ``settings.sections``.

    ``base_dir`` is where a relative (or absent) ``[allowlist] requirements_path`` starts;
    bandersnatch uses the working directory, which is the default. ``known_sections`` are the
    sections other parts read (``[mirror]``, storage backends'); given, any other section no
    filter knows is a problem too (``guard``).
    """
    problems: list[str] = []
    warnings: list[str] = []
    listed, everything = _requested(settings.plugins)
    enabled = _resolve(listed, everything, problems, warnings)
    root = base_dir if base_dir is not None else os.getcwd()
    sections: Mapping[str, Mapping[str, str]] = settings.sections
    built: list[Filter] = []
    asked: dict[str, guard.Asked] = {}
    for cls, explicit in enabled:
        context = FilterContext(sections, plugin=cls.name, base_dir=root, explicit=explicit)
        instance = _build(cls, context, problems, warnings)
        asked[cls.name] = context.asked
        if instance is not None:
            built.append(instance)
    problems.extend(_guard(settings, root, asked, built, known_sections, warnings))
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)))
    return FilterSet(built, warnings)


def _guard(
    settings: Settings,
    root: str,
    asked: Mapping[str, guard.Asked],
    built: Sequence[Filter],
    known_sections: Collection[str] | None,
    warnings: list[str],
) -> list[str]:
    """Typos and empty allowlists (``guard``): what the enabled filters asked for, against what any could."""
    others = [cls for cls in BUILTIN_FILTERS if cls.name not in asked]
    probes = {cls.name: guard.probe(cls, settings, root, blank=True) for cls in others}
    enabled = guard.merge(asked.values())
    everyone = guard.merge([*asked.values(), *probes.values()])
    problems = guard.unknown_keys(settings, enabled, everyone)
    if problems:  # perhaps a key a disabled filter asks for only when another is set: ask with the values
        probes = {cls.name: guard.probe(cls, settings, root) for cls in others}
        everyone = guard.merge([*asked.values(), *probes.values()])
        problems = guard.unknown_keys(settings, enabled, everyone)
    problems.extend(guard.empty_allowlists(built))
    if known_sections is not None:
        unknown = set(guard.own_keys(settings)) - {*known_sections, *everyone}
        if unknown:  # perhaps the section of an installed plugin that is not enabled
            probes.update(_third_party_probes(settings, root, set(asked)))
            everyone = guard.merge([*asked.values(), *probes.values()])
        problems.extend(guard.section_problems(settings, enabled, everyone, known_sections))
    warnings.extend(guard.idle_keys(settings, enabled, probes))
    return problems


def _third_party_probes(settings: Settings, root: str, enabled: set[str]) -> dict[str, guard.Asked]:
    found, _ = _third_party(None, [], [])
    return {name: guard.probe(cls, settings, root) for name, cls in found.items() if name not in enabled}
