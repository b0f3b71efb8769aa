"""The release a file belongs to, told from its name, and a project's current version.

A page names no file's version: it is read from the filename (``packaging``'s wheel and sdist
parsers), matched to the spelling in PEP 700's ``versions`` when listed; other kinds (eggs,
installers) match a listed version after the name. ``packaging`` stays the judge of every name,
but it is asked once per *shape*: the name with its version put as ``0`` (a project's wheels for
one platform share one shape across all its releases), and each version string is parsed once
(PyPI's projects share a few thousand spellings). packaging accepts a wheel or sdist name exactly
when it accepts its shape and its version (the version is the one part between the first two
dashes, or after the last one; ``0`` passes every check), so the answers are the same
(``tests/unit/test_fileversion.py``). 2,000 distinct 5-file bench pages parsed: 74-76 us a page
before, 58-59 after (three alternating runs; ``benchmarks/README.md``, session 5: project).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from frumious.models import DistFile, canonicalize_name

__all__ = ["current", "group", "parse_version", "version_of"]

_SDIST_ENDINGS = (".tar.gz", ".zip")
# Bounded: a long run meets many names and versions, and a miss only asks packaging again. Full,
# the four caches hold 1.3 MiB at 1,024 entries each (8 MiB at 8,192: tracemalloc), which
# memory flat in the mirror's size can afford.
_CACHED = 1024


@functools.lru_cache(maxsize=_CACHED)
def parse_version(text: str) -> Version | None:
    """``Version(text)``, or None where packaging refuses it (Version is immutable: shared safely)."""
    try:
        return Version(text)
    except InvalidVersion:
        return None


@functools.lru_cache(maxsize=_CACHED)
def _wheel_shape(shape: str) -> bool:
    try:
        parse_wheel_filename(shape)
    except InvalidWheelFilename:
        return False
    return True


@functools.lru_cache(maxsize=_CACHED)
def _sdist_shape(shape: str) -> bool:
    try:
        parse_sdist_filename(shape)
    except InvalidSdistFilename:
        return False
    return True


@functools.lru_cache(maxsize=_CACHED)
def _normal(text: str) -> str:
    return str(parse_version(text))


def _named_version(filename: str) -> str | None:
    """The version text packaging's wheel or sdist parser accepts in ``filename``; None where it refuses it."""
    if filename.endswith(".whl"):
        stem = filename[:-4]
        if stem.count("-") not in (4, 5):
            return None  # packaging: the wrong number of parts
        name, version, rest = stem.split("-", 2)
        shaped = _wheel_shape(f"{name}-0-{rest}.whl")
    elif filename.endswith(_SDIST_ENDINGS):
        ending = ".tar.gz" if filename.endswith(".tar.gz") else ".zip"
        name, dash, version = filename[: -len(ending)].rpartition("-")
        shaped = bool(dash) and _sdist_shape(f"{name}-0{ending}")
    else:
        return None
    return version if shaped and parse_version(version) is not None else None


def version_of(filename: str, project: str, listed: Mapping[Version, str] | None = None) -> str | None:
    """The release a file belongs to, spelled as ``listed`` spells it; None when its name cannot tell."""
    listed = listed or {}
    text = _named_version(filename)
    if text is not None:
        found = listed.get(parse_version(text))  # type: ignore[arg-type]  # not None: _named_version parsed it
        return found if found is not None else _normal(text)
    # Eggs, installers, .tar.bz2: the longest listed version right after a spelling of the name.
    canonical = canonicalize_name(project)
    for spelling in sorted(listed.values(), key=len, reverse=True):
        at = filename.find(f"-{spelling}")
        end = at + len(spelling) + 1
        if at > 0 and canonicalize_name(filename[:at]) == canonical and filename[end : end + 1] in (".", "-"):
            return spelling
    return None


def group(
    name: str, dists: list[tuple[dict[str, Any], str]], versions: list[str]
) -> tuple[dict[str, tuple[DistFile, ...]], list[str]]:
    """``dists`` (a ``DistFile``'s fields but its version, and its filename) by release; the unversioned names."""
    listed: dict[Version, str] = {}
    for spelling in versions:
        parsed = parse_version(spelling)
        if parsed is not None:
            listed.setdefault(parsed, spelling)
    releases: dict[str, list[DistFile]] = {version: [] for version in versions}
    unversioned: list[str] = []
    for dist, filename in dists:
        version = version_of(filename, name, listed)
        if version is None:
            unversioned.append(filename)
            continue
        releases.setdefault(version, []).append(DistFile(version=version, **dist))
    return {version: tuple(files) for version, files in releases.items()}, unversioned


def current(releases: Mapping[str, tuple[DistFile, ...]]) -> str | None:
    """Warehouse's ``info.version``: the newest final release with files, else the newest of any."""
    parsed = []
    for version, files in releases.items():
        found = parse_version(version)
        if found is not None:
            parsed.append((found, version, bool(files)))
    finals = [p for p in parsed if not p[0].is_prerelease and p[2]]
    chosen = max(finals or parsed, default=None)
    return chosen[1] if chosen else None
