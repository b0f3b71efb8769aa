"""Lock files and requirement sets as lists of pins: uv.lock, pylock.toml, poetry.lock, pdm.lock,
requirements.txt.

Pure parsing: text in, ``Pin`` values out. Each parser returns the pins of the packages that come
from a package index and one line per package that does not (git, path, URL, editable): those
are not on any index a mirror copies, so they are reported and skipped, never widening the
mirror. A file that cannot be parsed raises ``LockError`` with the reason.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import msgspec
from packaging.specifiers import SpecifierSet
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from frumious.filters.specs import decode_text, logical_lines
from frumious.models import NormalizedName

__all__ = ["FORMATS", "Lock", "LockError", "Pin", "format_of", "parse_lock"]


class LockError(ValueError):
    """A lock or requirements file that cannot be understood; the message says why."""


@dataclass(frozen=True, slots=True)
class Pin:
    """What one lock entry admits of one project.

    ``files`` maps pinned file names to their hashes (``"sha256:<hex>"``); without file names,
    ``hashes`` (requirements' ``--hash``) admit any file of a version in ``specifier`` whose
    digest is among them, and no hashes admit every such file.
    """

    name: NormalizedName
    specifier: SpecifierSet = field(default_factory=SpecifierSet)
    files: Mapping[str, frozenset[str]] = field(default_factory=dict)
    hashes: frozenset[str] = frozenset()
    # The file it came from, for reports.
    origin: str = field(default="", compare=False)

    def describe(self) -> object:
        files = {name: sorted(hashes) for name, hashes in sorted(self.files.items())}
        return [self.name, str(self.specifier), files, sorted(self.hashes)]


class Lock(msgspec.Struct, frozen=True):
    """The pins of one file and the entries it skipped (one message each)."""

    pins: tuple[Pin, ...]
    skipped: tuple[str, ...] = ()


def _hash(text: object) -> str:
    if not isinstance(text, str) or ":" not in text:
        raise LockError(f"bad hash {text!r} (expected <algorithm>:<hex>)")
    algorithm, _, value = text.partition(":")
    return f"{algorithm.strip().lower()}:{value.strip().lower()}"


def _filename(url: object) -> str:
    if not isinstance(url, str) or not url:
        raise LockError(f"bad file URL {url!r}")
    return unquote(posixpath.basename(urlsplit(url).path))


def _table(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise LockError(f"{what} is not a table")
    return value


def _tables(value: object, what: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise LockError(f"{what} is not an array of tables")
    return [_table(item, what) for item in value]


def _name(entry: Mapping[str, Any]) -> NormalizedName:
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise LockError(f"a package without a name: {dict(entry)!r:.80}")
    return canonicalize_name(name)


def _exact(version: object) -> SpecifierSet:
    if version is None:
        return SpecifierSet()
    if not isinstance(version, str):
        raise LockError(f"bad version {version!r}")
    return SpecifierSet(f"=={version}")


# -- uv.lock -------------------------------------------------------------------------------


def _uv_files(entry: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    artifacts = [entry["sdist"]] if "sdist" in entry else []
    artifacts += _tables(entry.get("wheels"), "wheels")
    files: dict[str, frozenset[str]] = {}
    for artifact in artifacts:
        artifact = _table(artifact, "sdist")
        hashes = frozenset([_hash(artifact["hash"])]) if "hash" in artifact else frozenset()
        files[_filename(artifact.get("url") or artifact.get("path"))] = hashes
    return files


class NotToml(ValueError):
    """tomllib's TOMLDecodeError, under a name that needs no tomllib to catch."""


def _toml(text: str) -> dict[str, Any]:
    import tomllib  # only when a lock file is read: 5-10 ms of every start-up otherwise

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise NotToml(str(e)) from None


def parse_uv(text: str, origin: str) -> Lock:
    """``uv.lock``: packages whose ``source`` is a registry; the root project is not a dependency."""
    document = _toml(text)
    pins: list[Pin] = []
    skipped: list[str] = []
    for entry in _tables(document.get("package"), "[[package]]"):
        name = _name(entry)
        source = _table(entry.get("source") or {}, f"{name}: source")
        if "registry" in source:
            pins.append(Pin(name, _exact(entry.get("version")), _uv_files(entry), origin=origin))
        elif source.get("editable") == "." or source.get("virtual") == ".":
            continue  # the locked project itself
        else:
            kind, where = next(iter(source.items()), ("source", "?"))
            skipped.append(f"{origin}: {name} comes from {kind} {where}, not an index; skipped")
    return Lock(tuple(pins), tuple(skipped))


# -- pylock.toml (PEP 751) ----------------------------------------------------------------


def _pylock_file(artifact: Mapping[str, Any]) -> tuple[str, frozenset[str]]:
    name = artifact.get("name") or _filename(artifact.get("url") or artifact.get("path"))
    hashes = _table(artifact.get("hashes") or {}, "hashes")
    return str(name), frozenset(_hash(f"{algorithm}:{value}") for algorithm, value in hashes.items())


def _pylock_version(entry: Mapping[str, Any], files: Mapping[str, frozenset[str]]) -> object:
    if entry.get("version") is not None or not files:
        return entry.get("version")
    try:  # PEP 751 may leave the version out when wheels name it
        return str(parse_wheel_filename(next(iter(files)))[1])
    except InvalidWheelFilename:
        return None


def parse_pylock(text: str, origin: str) -> Lock:
    """PEP 751: ``[[packages]]`` with ``wheels``/``sdist`` from an index; vcs/directory/archive are skipped."""
    document = _toml(text)
    if "lock-version" not in document:
        raise LockError("no lock-version: not a PEP 751 lock file")
    pins: list[Pin] = []
    skipped: list[str] = []
    for entry in _tables(document.get("packages"), "[[packages]]"):
        name = _name(entry)
        other = next((kind for kind in ("vcs", "directory", "archive") if kind in entry), None)
        if other is not None:
            skipped.append(f"{origin}: {name} comes from a {other}, not an index; skipped")
            continue
        artifacts = _tables(entry.get("wheels"), "wheels")
        if "sdist" in entry:
            artifacts.append(_table(entry["sdist"], "sdist"))
        files = dict(_pylock_file(artifact) for artifact in artifacts)
        pins.append(Pin(name, _exact(_pylock_version(entry, files)), files, origin=origin))
    return Lock(tuple(pins), tuple(skipped))


# -- poetry.lock and pdm.lock --------------------------------------------------------------


def _listed_files(entry: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    files: dict[str, frozenset[str]] = {}
    for item in _tables(entry.get("files"), "files"):
        name = item.get("file") or _filename(item.get("url"))
        files[str(name)] = frozenset([_hash(item["hash"])]) if "hash" in item else frozenset()
    return files


def parse_poetry(text: str, origin: str) -> Lock:
    """``poetry.lock``: packages without a ``source`` come from PyPI, a ``legacy`` source is an index."""
    document = _toml(text)
    pins: list[Pin] = []
    skipped: list[str] = []
    for entry in _tables(document.get("package"), "[[package]]"):
        name = _name(entry)
        source = _table(entry.get("source") or {}, f"{name}: source")
        kind = source.get("type", "legacy")
        if kind not in ("legacy", "pypi"):
            skipped.append(f"{origin}: {name} comes from {kind} {source.get('url', '?')}, not an index; skipped")
            continue
        pins.append(Pin(name, _exact(entry.get("version")), _listed_files(entry), origin=origin))
    return Lock(tuple(pins), tuple(skipped))


def parse_pdm(text: str, origin: str) -> Lock:
    """``pdm.lock``: a package with ``git``, ``path`` or ``url`` (or ``editable``) is not on an index."""
    document = _toml(text)
    if "metadata" not in document:
        raise LockError("no [metadata]: not a pdm lock file")
    pins: list[Pin] = []
    skipped: list[str] = []
    for entry in _tables(document.get("package"), "[[package]]"):
        name = _name(entry)
        other = next((kind for kind in ("git", "hg", "svn", "bzr", "path", "url") if kind in entry), None)
        if other is not None:
            skipped.append(f"{origin}: {name} comes from {other} {entry[other]}, not an index; skipped")
            continue
        pins.append(Pin(name, _exact(entry.get("version")), _listed_files(entry), origin=origin))
    return Lock(tuple(pins), tuple(skipped))


# -- requirements.txt ----------------------------------------------------------------------

# pip's comment rule: `#` at the start of a line or after whitespace (a URL's `#egg=` is not one).
_COMMENT = re.compile(r"(^|\s)#.*$")
_INCLUDE = re.compile(r"^(?:-r|--requirement)(?:\s*=\s*|\s+|(?=[^\s-]))(\S+)$")
_HASH = re.compile(r"--hash(?:\s*=\s*|\s+)(\S+)")
_EDITABLE = ("-e", "--editable")


def _looks_like_location(text: str) -> bool:
    return "/" in text or "\\" in text or text.startswith(".") or text.endswith((".whl", ".zip", ".tar.gz"))


def _requirement_line(line: str, origin: str) -> Pin | str:
    """A pin, or the message for an entry that is not on an index."""
    part, _, _ = line.partition(" --")
    hashes = frozenset(_hash(value) for value in _HASH.findall(line))
    # Not at import: packaging.requirements (markers, their tokenizer's patterns) is 10 ms of every start-up.
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        requirement = Requirement(part.strip())
    except InvalidRequirement as e:
        if _looks_like_location(part.strip()):
            return f"{origin}: {part.strip()} is a path or URL, not on an index; skipped"
        raise LockError(f"{part.strip()!r} is not a valid requirement: {str(e).splitlines()[0]}") from None
    name = canonicalize_name(requirement.name)
    if requirement.url:
        return f"{origin}: {name} comes from {requirement.url}, not an index; skipped"
    # A range (not `==`) admits every version in it: exact mode cannot be more exact than the file.
    return Pin(name, requirement.specifier, hashes=hashes, origin=origin)


def _requirement_entries(text: str) -> Iterator[str]:
    for line in logical_lines(text):
        stripped = _COMMENT.sub("", line).strip()
        if stripped:
            yield stripped


def _requirements(path: Path, seen: set[Path], pins: list[Pin], skipped: list[str]) -> None:
    seen.add(path.resolve())
    origin = os.fspath(path)
    for entry in _requirement_entries(_read(path)):
        include = _INCLUDE.match(entry)
        if include:
            target = include.group(1)
            if "://" in target:
                skipped.append(f"{origin}: -r {target} is a URL; not followed")
                continue
            child = path.parent / target
            if child.resolve() not in seen:
                _requirements(child, seen, pins, skipped)
        elif entry.startswith(_EDITABLE):
            skipped.append(f"{origin}: {entry} is editable, not on an index; skipped")
        elif not entry.startswith("-"):
            found = _requirement_line(entry, origin)
            if isinstance(found, str):
                skipped.append(found)
            else:
                pins.append(found)


def parse_requirements(path: Path) -> Lock:
    """pip's requirements format: ``--hash`` options, ``-r`` includes (relative to the including file),
    markers and extras (ignored: the mirror serves every environment); ``-c`` and other options are not
    projects."""
    pins: list[Pin] = []
    skipped: list[str] = []
    _requirements(path, set(), pins, skipped)
    return Lock(tuple(pins), tuple(skipped))


# -- by file name --------------------------------------------------------------------------

_PYLOCK = re.compile(r"^pylock\.([^.]+\.)?toml$")
TomlParser = Callable[[str, str], Lock]
FORMATS: Mapping[str, TomlParser] = {
    "uv.lock": parse_uv,
    "poetry.lock": parse_poetry,
    "pdm.lock": parse_pdm,
    "pylock.toml": parse_pylock,
}


def format_of(path: Path) -> str:
    """The format a file name says: one of ``FORMATS``, or ``requirements`` for anything else."""
    if _PYLOCK.match(path.name):
        return "pylock.toml"
    return path.name if path.name in FORMATS else "requirements"


def _read(path: Path) -> str:
    try:
        return decode_text(path.read_bytes())
    except (OSError, UnicodeDecodeError, LookupError) as e:
        raise LockError(f"cannot read {os.fspath(path)}: {e}") from None


def parse_lock(path: Path) -> Lock:
    """The pins in one file, its format chosen by name; raises LockError naming the file."""
    kind = format_of(path)
    try:
        if kind == "requirements":
            return parse_requirements(path)
        return FORMATS[kind](_read(path), os.fspath(path))
    except NotToml as e:
        raise LockError(f"{os.fspath(path)}: not valid TOML ({kind}): {e}") from None
    except LockError as e:
        message = str(e)
        raise LockError(message if os.fspath(path) in message else f"{os.fspath(path)}: {message}") from None


def names(locks: Iterable[Lock]) -> frozenset[NormalizedName]:
    return frozenset(pin.name for lock in locks for pin in lock.pins)
