"""The ``lockfiles`` filter: lock files and requirement sets as the allowlist.

``[allowlist] lockfiles`` names files or globs (uv.lock, pylock.toml, poetry.lock, pdm.lock,
requirements files); ``lockfiles_mode`` is ``exact`` (the default: only the files the locks pin,
each checked against the lock's hashes) or ``project`` (the locked projects, every file the other
filters keep). One filter of two kinds: the names bound the run like ``allowlist_project`` (so a
lock-based mirror never fetches the full listing), and in exact mode it is also a release-file
filter. Everything is parsed once, when the filter is built.
"""

from __future__ import annotations

import glob
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from frumious.errors import ConfigError
from frumious.filters.base import FilterContext, ReleaseFileFilter
from frumious.filters.closure import ClosureConfig
from frumious.filters.lockformats import Lock, LockError, Pin, names, parse_lock
from frumious.filters.names import AllowlistProject
from frumious.filters.specs import parse_version
from frumious.models import DistFile, NormalizedName, Project

__all__ = ["MODES", "Lockfiles", "admits", "lock_files"]

MODES = ("exact", "project")
_GLOB_CHARS = frozenset("*?[")


def _entries(context: FilterContext) -> list[str]:
    lines = (line.split(" #", 1)[0].strip() for line in context.lines("allowlist", "lockfiles"))
    return [line for line in lines if line and not line.startswith("#")]


def lock_files(context: FilterContext, problems: list[str]) -> list[Path]:
    """The files ``[allowlist] lockfiles`` names, relative ones from ``context.base_dir``; a glob that
    matches nothing is a problem (a mirror of nothing, or of everything, is never what was meant)."""
    root = Path(context.base_dir)
    found: dict[Path, None] = {}
    for entry in _entries(context):
        path = root / os.path.expanduser(entry)
        if not _GLOB_CHARS & set(entry):
            found[path] = None
            continue
        matches = sorted(glob.glob(os.fspath(path), recursive=True))
        if not matches:
            problems.append(f"[allowlist] lockfiles: {entry!r} matches no file (in {os.fspath(root)})")
        found.update(dict.fromkeys(Path(match) for match in matches if Path(match).is_file()))
    return list(found)


def _agrees(hashes: Iterable[str], digests: Mapping[str, str]) -> bool:
    """Some lock hash equals upstream's digest of the same algorithm (none in common: unverifiable)."""
    pairs = (h.partition(":") for h in hashes)
    return any(digests.get(algorithm, "").lower() == value for algorithm, _, value in pairs)


def admits(pin: Pin, file: DistFile) -> bool:
    """The file is one the pin names (by file name, else by version) and its digest agrees with the lock."""
    if pin.files:
        hashes = pin.files.get(file.filename)
        return hashes is not None and (not hashes or _agrees(hashes, file.digests))
    version = parse_version(file.version)
    if version is None or not pin.specifier.contains(version, prereleases=True):
        return False
    return not pin.hashes or _agrees(pin.hashes, file.digests)


def _file_reports(pin: Pin, by_name: Mapping[str, DistFile]) -> Iterator[str]:
    for filename, hashes in sorted(pin.files.items()):
        file = by_name.get(filename)
        if file is None:
            yield f"{pin.origin}: {filename} is locked but upstream has no such file"
        elif hashes and not _agrees(hashes, file.digests):
            theirs = ", ".join(f"{k}:{v}" for k, v in sorted(file.digests.items())) or "no digest"
            ours = ", ".join(sorted(hashes))
            yield f"{pin.origin}: {filename}: upstream's {theirs} disagrees with the lock's {ours}; not mirrored"


def _hash_reports(pin: Pin, project: Project) -> Iterator[str]:
    unhashed = Pin(pin.name, pin.specifier)
    versions = [v for v, files in project.releases.items() if any(admits(unhashed, f) for f in files)]
    if not versions:
        yield f"{pin.origin}: {pin.name}{pin.specifier} matches no upstream release"
    elif pin.hashes and not any(admits(pin, f) for v in versions for f in project.releases[v]):
        yield f"{pin.origin}: no upstream file of {pin.name}{pin.specifier} has one of the lock's hashes; none mirrored"


class Lockfiles(AllowlistProject, ReleaseFileFilter):
    """Keeps the projects the lock files in ``[allowlist] lockfiles`` pin from an index; in exact
    mode only the pinned files whose upstream digest agrees with the lock."""

    name = "lockfiles"
    aliases = ()
    _source = "[allowlist] lockfiles"

    def __init__(self, context: FilterContext) -> None:
        problems: list[str] = []
        self.mode = (context.get("allowlist", "lockfiles_mode") or "exact").strip().lower()
        if self.mode not in MODES:
            problems.append(f"[allowlist] lockfiles_mode: {self.mode!r} is neither 'exact' nor 'project'")
        self.locks = self._load(context, problems)
        if self.locks and not names(self.locks):
            problems.append("[allowlist] lockfiles: the files pin no project from an index")
        if problems:
            raise ConfigError(problems)
        grouped: dict[NormalizedName, list[Pin]] = defaultdict(list)
        for lock in self.locks:
            for pin in lock.pins:
                grouped[pin.name].append(pin)
        self.pins = {name: tuple(pins) for name, pins in grouped.items()}
        super().__init__(context)

    @staticmethod
    def _load(context: FilterContext, problems: list[str]) -> list[Lock]:
        locks: list[Lock] = []
        for path in lock_files(context, problems):
            try:
                lock = parse_lock(path)
            except LockError as e:
                problems.append(f"[allowlist] lockfiles: {e}")
                continue
            locks.append(lock)
            for message in lock.skipped:
                context.warn(message)
        return locks

    def _names(self, context: FilterContext) -> frozenset[NormalizedName]:
        return names(self.locks)

    def _closure(self, context: FilterContext) -> ClosureConfig | None:
        # A lock is already the closure its tool resolved; [allowlist] closure is for the other allowlists.
        return None

    def keeps_file(self, project: Project, file: DistFile) -> bool:
        if self.mode != "exact" or not self.allowed:
            return True
        return any(admits(pin, file) for pin in self.pins.get(project.canonical, ()))

    def reports(self, project: Project) -> tuple[str, ...]:
        """Locked files upstream lacks or whose digest disagrees with the lock (exact mode)."""
        if self.mode != "exact":
            return ()
        by_name = {f.filename: f for f in project.files}
        found: list[str] = []
        for pin in self.pins.get(project.canonical, ()):
            found += _file_reports(pin, by_name) if pin.files else _hash_reports(pin, project)
        return tuple(found)

    def describe(self) -> object:
        if self.mode == "project":
            return {"mode": self.mode, "projects": sorted(self.allowed)}
        pins = sorted((pin.describe() for pins in self.pins.values() for pin in pins), key=str)
        return {"mode": self.mode, "pins": pins}
