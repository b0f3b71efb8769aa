"""Dependency closure, the pure part: target environments, their config, and the walk.

``[allowlist] closure = true`` with ``[closure] environments = cp312-manylinux_2_28_x86_64, ...``
makes the allowlist grow to what installing its packages needs in each environment. This
module knows nothing of the mirror: ``walk`` takes what the mirror holds of each project
(``Dist``: a kept file, its version and its ``Requires-Dist``) and returns which projects
are needed, which it has not seen yet (the core fetches them and walks again) and the holes.

Per requirement and target the walk reads one file: of the newest version the specifier
allows (final releases first, as pip does) whose file fits the target (a compatible wheel,
else the sdist) and whose ``Requires-Python`` admits the target's Python.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import msgspec
from packaging import tags
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from frumious.errors import ConfigError

if TYPE_CHECKING:  # imported where requirements are parsed (read_config, requirements_for)
    from packaging.markers import Marker
    from packaging.requirements import Requirement

__all__ = [
    "ClosureConfig",
    "Dist",
    "Target",
    "Walk",
    "choose",
    "parse_core_metadata",
    "parse_target",
    "read_config",
    "requirements_for",
    "walk",
]

_IMPLEMENTATIONS = {"cp": ("cpython", "CPython"), "pp": ("pypy", "PyPy")}
# The oldest glibc/musl minors a manylinux/musllinux target also accepts (PEP 600: older ones run).
_GLIBC_OLDEST, _MUSL_OLDEST = 5, 1
_LEGACY_MANYLINUX = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}


class Target(msgspec.Struct, frozen=True):
    """One environment to install into: ``cp312-manylinux_2_28_x86_64``, ``cp311-win_amd64``."""

    name: str
    python: tuple[int, int]
    environment: Mapping[str, str]
    supported: frozenset[tags.Tag]

    def fits_wheel(self, filename: str) -> bool:
        try:
            wheel_tags = parse_wheel_filename(filename)[3]
        except InvalidWheelFilename:
            return False
        return not wheel_tags.isdisjoint(self.supported)

    def admits(self, requires_python: str | None) -> bool:
        if not requires_python:
            return True
        try:
            return SpecifierSet(requires_python).contains(self.environment["python_full_version"], prereleases=True)
        except InvalidSpecifier:
            return True  # pip ignores an unparseable Requires-Python too


# What ``uname -m`` says on Linux, as wheel tags spell it: an unknown one would only show up as holes.
_LINUX_ARCHES = frozenset(
    {"x86_64", "i686", "aarch64", "armv7l", "armv6l", "ppc64", "ppc64le", "s390x", "riscv64", "loongarch64"}
)


def _linux_arch(arch: str, platform: str) -> str:
    if arch not in _LINUX_ARCHES:
        raise ValueError(f"unknown architecture {arch!r} in {platform!r} (known: {', '.join(sorted(_LINUX_ARCHES))})")
    return arch


def _platforms(platform: str) -> tuple[list[str], dict[str, str]]:
    """The platform tags a target accepts, and its marker values (sys_platform, ...)."""
    if platform.startswith(("manylinux_", "musllinux_")):
        family, major, minor, arch = platform.split("_", 3)
        _linux_arch(arch, platform)
        oldest = _GLIBC_OLDEST if family == "manylinux" else _MUSL_OLDEST
        found = []
        for m in range(int(minor), oldest - 1, -1):
            found.append(f"{family}_{major}_{m}_{arch}")
            if family == "manylinux" and (int(major), m) in _LEGACY_MANYLINUX:
                found.append(f"{_LEGACY_MANYLINUX[int(major), m]}_{arch}")
        return found, _posix("linux", "Linux", arch)
    if platform.startswith("linux_"):
        return [platform], _posix("linux", "Linux", _linux_arch(platform.removeprefix("linux_"), platform))
    if platform.startswith("macosx_"):
        _, major, minor, arch = platform.split("_", 3)
        return list(tags.mac_platforms((int(major), int(minor)), arch)), _posix("darwin", "Darwin", arch)
    if platform.startswith("win"):
        machine = {"win_amd64": "AMD64", "win32": "x86", "win_arm64": "ARM64"}.get(platform)
        if machine is None:
            raise ValueError(f"unknown Windows platform {platform!r}")
        return [platform], {"sys_platform": "win32", "platform_system": "Windows", "os_name": "nt",
                            "platform_machine": machine}  # fmt: skip
    raise ValueError(f"unknown platform {platform!r} (manylinux_*, musllinux_*, linux_*, macosx_*, win*)")


def _posix(sys_platform: str, system: str, arch: str) -> dict[str, str]:
    return {"sys_platform": sys_platform, "platform_system": system, "os_name": "posix", "platform_machine": arch}


def parse_target(text: str) -> Target:
    """``<interpreter>-<platform>``, e.g. ``cp312-manylinux_2_28_x86_64``; raises ValueError."""
    interpreter, sep, platform = text.strip().partition("-")
    prefix, digits = interpreter[:2], interpreter[2:]
    if not sep or prefix not in _IMPLEMENTATIONS or not digits.isdigit() or len(digits) < 2:
        raise ValueError(f"{text!r} is not <interpreter>-<platform> such as cp312-manylinux_2_28_x86_64")
    python = (int(digits[0]), int(digits[1:]))
    platforms, markers = _platforms(platform)
    name, display = _IMPLEMENTATIONS[prefix]
    version = f"{python[0]}.{python[1]}"
    environment = {
        **markers,
        "implementation_name": name,
        "platform_python_implementation": display,
        "python_version": version,
        # The patch level cannot be known: the first release of the minor version stands for it.
        "python_full_version": f"{version}.0",
        "implementation_version": f"{version}.0",
        "platform_release": "",
        "platform_version": "",
    }
    if prefix == "cp":
        specific = list(tags.cpython_tags(python, platforms=platforms))
    else:
        specific = list(tags.generic_tags(interpreter, platforms=platforms))
    supported = frozenset([*specific, *tags.compatible_tags(python, interpreter, platforms)])
    return Target(text.strip(), python, environment, supported)


class ClosureConfig(msgspec.Struct, frozen=True):
    """The roots (the allowlist's requirements, extras kept) and the targets."""

    roots: tuple[Requirement, ...]
    targets: tuple[Target, ...]

    def describe(self) -> object:
        return {"roots": sorted(str(r) for r in self.roots), "targets": [t.name for t in self.targets]}


def read_config(lines: Iterable[str], environments: str | None, source: str) -> ClosureConfig:
    """The closure from the allowlist's ``lines`` and ``[closure] environments``; ConfigError lists every problem."""
    problems: list[str] = []
    targets: list[Target] = []
    for part in (environments or "").replace("\n", ",").split(","):
        if part.strip():
            try:
                targets.append(parse_target(part))
            except ValueError as e:
                problems.append(f"[closure] environments: {e}")
    if not targets and not problems:
        problems.append("[closure] environments: names no target environment, needed by [allowlist] closure = true")
    # Not at import: packaging.requirements (markers, their tokenizer's patterns) is 10 ms of every start-up.
    from packaging.requirements import InvalidRequirement, Requirement

    roots = []
    for line in lines:
        text = line.split("#", 1)[0].strip()
        try:
            roots.append(Requirement(text)) if text else None
        except InvalidRequirement as e:
            problems.append(f"{source}: {text!r} is not a valid requirement: {e}")
    if problems:
        raise ConfigError(problems)
    return ClosureConfig(tuple(roots), tuple(targets))


class Dist(msgspec.Struct, frozen=True):
    """One kept file of a project: its version, filename, and core metadata (None when not mirrored)."""

    version: str
    filename: str
    requires_python: str | None = None
    requires: tuple[str, ...] | None = None


class Walk(msgspec.Struct):
    """What a walk found: projects needed, those it has no data for yet, and the holes (one line each)."""

    needed: set[str] = msgspec.field(default_factory=set)
    unknown: set[str] = msgspec.field(default_factory=set)
    holes: list[str] = msgspec.field(default_factory=list)


def walk(
    config: ClosureConfig,
    held: Mapping[str, Sequence[Dist]],
    blocked: Callable[[str], str | None],
) -> Walk:
    """Follow the roots' requirements to a fixed point in every target.

    ``held``: each project's kept files by canonical name (missing: not known yet);
    ``blocked``: the filter refusing a name, or None.
    """
    found = Walk()
    seen: set[tuple[str, str, frozenset[str], str]] = set()
    pending = [(root, "the allowlist", target) for target in config.targets for root in config.roots]
    while pending:
        requirement, via, target = pending.pop()
        name = canonicalize_name(requirement.name)
        key = (name, str(requirement.specifier), frozenset(requirement.extras), target.name)
        if key in seen:
            continue
        seen.add(key)
        refused = blocked(name)
        if refused is not None:
            found.holes.append(f"{name} (needed by {via} for {target.name}) is excluded by {refused}")
            continue
        found.needed.add(name)
        if name not in held:
            found.unknown.add(name)
            continue
        chosen = choose(held[name], requirement.specifier, target)
        if chosen is None:
            found.holes.append(f"{name}{requirement.specifier} (needed by {via}): no mirrored file fits {target.name}")
        elif chosen.requires is None:
            unread = f"{name} {chosen.version} ({chosen.filename})"
            found.holes.append(f"{unread} has no core metadata mirrored: its dependencies are not followed")
        else:
            for dependency in requirements_for(chosen.requires, requirement.extras, target):
                pending.append((dependency, f"{name} {chosen.version}", target))
    found.holes = sorted(set(found.holes))
    return found


def choose(dists: Sequence[Dist], specifier: SpecifierSet, target: Target) -> Dist | None:
    """The file the target installs: the newest allowed version with a fitting file (wheel before sdist)."""
    by_version: dict[Version, list[Dist]] = {}
    for dist in dists:
        try:
            by_version.setdefault(Version(dist.version), []).append(dist)
        except InvalidVersion:
            continue
    allowed = list(specifier.filter(by_version))  # finals only, unless only pre-releases match (pip's rule)
    for version in sorted(allowed, reverse=True):
        files = [d for d in by_version[version] if target.admits(d.requires_python)]
        wheels = [d for d in files if d.filename.endswith(".whl") and target.fits_wheel(d.filename)]
        sdists = [d for d in files if d.filename.endswith((".tar.gz", ".zip"))]
        if wheels or sdists:
            return (wheels or sdists)[0]
    return None


def requirements_for(requires: Iterable[str], extras: Iterable[str], target: Target) -> list[Requirement]:
    """The ``Requires-Dist`` lines whose markers hold in ``target`` with ``extras`` requested."""
    from packaging.requirements import InvalidRequirement, Requirement

    wanted = ["", *sorted(canonicalize_name(e) for e in extras)]
    chosen = []
    for line in requires:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue  # a broken line in upstream metadata: pip skips it as well
        if requirement.marker is None or any(_holds(requirement.marker, target, extra) for extra in wanted):
            chosen.append(requirement)
    return chosen


def _holds(marker: Marker, target: Target, extra: str) -> bool:
    return marker.evaluate({**target.environment, "extra": extra})


def parse_core_metadata(data: bytes) -> tuple[str | None, tuple[str, ...]]:
    """``Requires-Python`` and the ``Requires-Dist`` lines of a METADATA / PKG-INFO body."""
    from packaging.metadata import parse_email  # the email package: 10-20 ms of every start-up, for closure only

    raw, _unparsed = parse_email(data)
    return raw.get("requires_python"), tuple(raw.get("requires_dist") or ())
