"""Filter config mistakes that would otherwise pass in silence: typos and empty allowlists.

bandersnatch ignores a key or section it does not read, so ``[allowlist] packges`` (a typo)
leaves the allowlist empty and the next run mirrors all of PyPI. Here every key a filter asks
for is recorded (``FilterContext.asked``); after the enabled filters are built, every other
built-in is built again on the same config, only to learn which keys it would ask for, so a
key one filter reads and another ignores is never a typo. What remains is a problem:

- a key in a section an enabled filter reads that no filter asks for (with the closest name);
- a section nothing knows (``known_sections`` holds the ones outside the filters), with the
  closest known name;
- a key other than ``enabled`` in ``[plugins]``, where a typo switches every filter off;
- an ``[allowlist]`` that names projects while no enabled filter reads it;
- an allowlist filter enabled by name that names nothing, when no other enabled allowlist of
  its kind does: each of these would mirror everything.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Collection, Iterable, Mapping, Sequence

from frumious.filters.base import Filter, FilterContext
from frumious.filters.names import AllowlistProject
from frumious.filters.releases import AllowlistRelease
from frumious.settings import Settings

__all__ = ["Asked", "empty_allowlists", "idle_keys", "merge", "own_keys", "probe", "section_problems", "unknown_keys"]

# section -> keys asked for (None: the whole section is read).
Asked = Mapping[str, frozenset[str] | None]

# Keys bandersnatch before 5.0 read; config warns about them already.
_LEGACY_KEYS: Mapping[str, frozenset[str]] = {"allowlist": frozenset({"plugins"}), "blocklist": frozenset({"plugins"})}
# The section whose keys choose what is mirrored: unread, the mirror is all of upstream.
_SELECTING = "allowlist"


def probe(cls: type[Filter], settings: Settings, base_dir: str, *, blank: bool = False) -> Asked:
    """The keys a (not enabled) filter asks for on this config; its errors are not ours to report.

    ``blank`` empties every value first: the filter parses and reads no file, so a probe costs
    nothing (a 10,000-line allowlist loads in about 45 ms; probes on the real values made it 160 ms,
    blank ones add nothing measurable), but a key it asks for only when another is set is missed:
    the loader probes again with the values when a key looks unknown.
    """
    sections = {name: dict.fromkeys(values, "") for name, values in settings.sections.items()} if blank else None
    context = FilterContext(sections or settings.sections, plugin=cls.name, base_dir=base_dir, explicit=False)
    # A disabled filter's complaint about its own config is moot: only what it asked for counts.
    with contextlib.suppress(Exception):
        cls(context)
    return context.asked


def merge(asked: Iterable[Asked]) -> dict[str, frozenset[str] | None]:
    merged: dict[str, frozenset[str] | None] = {}
    for one in asked:
        for section, keys in one.items():
            known = merged.get(section, frozenset())
            merged[section] = None if keys is None or known is None else known | keys
    return merged


def own_keys(settings: Settings) -> Mapping[str, Sequence[str]]:
    """The keys each section sets itself (not inherited from [DEFAULT]); from the sections when unknown."""
    if settings.own_keys:
        return settings.own_keys
    return {name: tuple(values) for name, values in settings.sections.items()}


def closest(name: str, known: Collection[str]) -> str:
    match = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def unknown_keys(settings: Settings, enabled: Asked, everyone: Asked) -> list[str]:
    """Keys of sections the enabled filters read that no filter asks for; [plugins] keys but ``enabled``."""
    problems: list[str] = []
    written = own_keys(settings)
    for key in written.get("plugins", ()):
        if key != "enabled":
            problems.append(f"[plugins] {key}: unknown key{closest(key, ['enabled'])}; filters are listed in enabled")
    for section in sorted(enabled):
        known = everyone.get(section)
        if known is None:
            continue
        for key in written.get(section, ()):
            if key not in known and key not in _LEGACY_KEYS.get(section, ()):
                names = ", ".join(sorted(known))
                problems.append(f"[{section}] {key}: unknown key{closest(key, known)}; this section reads {names}")
    return problems


def section_problems(settings: Settings, enabled: Asked, everyone: Asked, known_sections: Collection[str]) -> list[str]:
    """Sections nothing knows, and an [allowlist] no enabled filter reads."""
    written = own_keys(settings)
    known = {*known_sections, *everyone}
    unknown = [name for name in written if name not in known and name != "DEFAULT"]
    problems = [f"[{name}]: unknown section{closest(name, known)}" for name in unknown]
    chosen = [key for key in written.get(_SELECTING, ()) if key not in _LEGACY_KEYS[_SELECTING]]
    if chosen and _SELECTING not in enabled:
        problems.append(
            f"[{_SELECTING}] {chosen[0]}: no enabled filter reads [{_SELECTING}], so every project upstream would "
            "be mirrored; add allowlist_project (or project_requirements) to [plugins] enabled, or remove the section"
        )
    return problems


def idle_keys(settings: Settings, enabled: Asked, probes: Mapping[str, Asked]) -> list[str]:
    """Keys only filters that are not enabled read: they do nothing, which deserves a line."""
    warnings: list[str] = []
    for section, keys in own_keys(settings).items():
        if section == _SELECTING and section not in enabled:
            continue  # a problem of its own (section_problems)
        mine = enabled.get(section, frozenset())
        for key in keys:
            if mine is None or key in mine:
                continue
            readers = sorted(name for name, asked in probes.items() if _asks(asked, section, key))
            if readers:
                warnings.append(
                    f"[{section}] {key}: ignored, as only {' and '.join(readers)} reads it and it is not enabled"
                )
    return warnings


def _asks(asked: Asked, section: str, key: str) -> bool:
    if section not in asked:
        return False
    keys = asked[section]
    return keys is None or key in keys


def empty_allowlists(built: Sequence[Filter]) -> list[str]:
    """An allowlist enabled by name that names nothing, unless another of its kind names something."""
    problems: list[str] = []
    projects = [f for f in built if isinstance(f, AllowlistProject)]
    if not any(f.allowed for f in projects):
        problems.extend(_empty(f, f._source, "every project upstream") for f in projects if f.context.explicit)
    releases = [f for f in built if isinstance(f, AllowlistRelease)]
    if not any(f.specs for f in releases):
        problems.extend(_empty(f, f._source, "every release of every project") for f in releases if f.context.explicit)
    return problems


def _empty(f: Filter, source: str, everything: str) -> str:
    return (
        f"{source}: {f.name} is enabled but names no project, so it would keep {everything};"
        " list projects there, or remove the filter from [plugins] enabled"
    )
