"""``wheel_tags``: keep the wheels for some CPU architectures and some interpreters.

``exclude_platform`` matches substrings of file names and cannot keep only x86_64 (every
Linux architecture shares ``linux``). This filter reads a wheel's tags with
``packaging.utils.parse_wheel_filename`` and keeps the wheel when one of its tags passes
both lists:

- ``architectures``: the platform tag's CPU (manylinux, musllinux, linux, macOS, Windows,
  Android, iOS; macOS ``universal2`` is both ``x86_64`` and ``aarch64``); ``any`` always passes.
- ``interpreters``: interpreter tags and ranges (``cp311-cp313``, ``pp310``, ``graalpy311``),
  ``abi3`` and ``none`` (by ABI). Generic ``py`` wheels (``py3``, ``py2.py3``) pass unless a
  ``py`` token is listed, which then decides them.

Source distributions always pass. Other binaries (eggs, Windows installers) and wheels whose
name does not parse are dropped once either list is set: pip installs neither.
"""

from __future__ import annotations

import re

import msgspec
from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from frumious.errors import ConfigError
from frumious.filters.base import FilterContext, ReleaseFileFilter
from frumious.models import DistFile, Project

__all__ = ["ARCHITECTURES", "WheelTags", "architectures_of"]

SECTION = "wheel_tags"

ARCHITECTURES = frozenset(
    {"x86_64", "aarch64", "x86", "armv7l", "armv6l", "ppc64le", "ppc64", "ppc", "s390x", "riscv64", "loongarch64"}
)
# Other spellings of the same CPU, in config and in platform tags.
_ALIASES = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "arm64_v8a": "aarch64",
    "armeabi_v7a": "armv7l",
    "i386": "x86",
    "i686": "x86",
    "win32": "x86",
    "powerpc": "ppc",
}
# macOS multi-architecture tags.
_MACOS_FAT = {
    "universal2": frozenset({"x86_64", "aarch64"}),
    "universal": frozenset({"x86", "x86_64", "ppc", "ppc64"}),
    "intel": frozenset({"x86", "x86_64"}),
    "fat": frozenset({"x86", "ppc"}),
    "fat3": frozenset({"x86", "x86_64", "ppc"}),
    "fat32": frozenset({"x86", "ppc"}),
    "fat64": frozenset({"x86_64", "ppc64"}),
}
_SDIST_SUFFIXES = (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".tar")
# PEP 425's interpreter abbreviations, and GraalPy's.
_IMPLEMENTATIONS = frozenset({"py", "cp", "pp", "ip", "jy", "graalpy"})
_INTERPRETER = re.compile(r"(?P<impl>[a-z]+?)(?P<version>\d+)")
_RANGE = re.compile(r"(?P<low>[a-z]+\d+)-(?P<high>[a-z]+\d+)")


def _cpu(name: str) -> str | None:
    canonical = _ALIASES.get(name, name)
    return canonical if canonical in ARCHITECTURES else None


def architectures_of(platform: str) -> frozenset[str]:
    """The CPUs a platform tag runs on: {} when it cannot be told, {"any"} for ``any``."""
    if platform == "any":
        return frozenset({"any"})
    if platform.startswith("macosx_"):
        arch = platform.split("_", 3)[-1]
        if arch in _MACOS_FAT:
            return _MACOS_FAT[arch]
    if platform == "win32":
        return frozenset({"x86"})
    # The CPU ends the tag: manylinux_2_28_x86_64, linux_armv7l, win_amd64, android_21_arm64_v8a,
    # ios_13_0_arm64_iphoneos (after the SDK word); the longest known ending wins.
    parts = platform.removesuffix("_iphoneos").removesuffix("_iphonesimulator").split("_")
    for start in range(1, len(parts)):
        cpu = _cpu("_".join(parts[start:]))
        if cpu is not None:
            return frozenset({cpu})
    return frozenset()


def _version(text: str) -> tuple[int, ...]:
    # "311" is 3.11 and "3" is 3: the first digit is the major version (PEP 425's short form).
    return (int(text[0]), int(text[1:])) if len(text) > 1 else (int(text),)


class Interpreters(msgspec.Struct, frozen=True):
    """Interpreter tags or ranges by implementation; ABIs kept whatever the interpreter."""

    ranges: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]
    abis: frozenset[str]

    def keeps(self, tag: Tag) -> bool:
        if tag.abi in self.abis:
            return True
        match = _INTERPRETER.fullmatch(tag.interpreter)
        if match is None:
            return False
        impl, version = match.group("impl"), _version(match.group("version"))
        if impl == "py" and not any(low_impl == "py" for low_impl, _, _ in self.ranges):
            return True
        return any(impl == r_impl and _within(version, low, high) for r_impl, low, high in self.ranges)


def _within(version: tuple[int, ...], low: tuple[int, ...], high: tuple[int, ...]) -> bool:
    # A major-only bound (py3, cp3) covers every minor version of that major.
    return low[: len(version)] <= version[: len(low)] and version[: len(high)] <= high[: len(version)]


def parse_interpreters(tokens: list[str], problems: list[str]) -> Interpreters:
    ranges: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = []
    abis: set[str] = set()
    for token in tokens:
        lowered = token.lower()
        if lowered in ("abi3", "none"):
            abis.add(lowered)
            continue
        found = _RANGE.fullmatch(lowered)
        low_text, high_text = (found.group("low"), found.group("high")) if found else (lowered, lowered)
        low, high = _INTERPRETER.fullmatch(low_text), _INTERPRETER.fullmatch(high_text)
        impl = low.group("impl") if low else ""
        if low is None or high is None or impl != high.group("impl") or impl not in _IMPLEMENTATIONS:
            problems.append(
                f"[{SECTION}] interpreters: {token!r} is not an interpreter tag (cp312, pp310, py3),"
                " a range of one (cp311-cp313), abi3 or none"
            )
            continue
        bounds = (_version(low.group("version")), _version(high.group("version")))
        if bounds[0] > bounds[1]:
            problems.append(f"[{SECTION}] interpreters: {token!r} is an empty range; write the lower bound first")
            continue
        ranges.append((impl, *bounds))
    return Interpreters(tuple(ranges), frozenset(abis))


def parse_architectures(tokens: list[str], problems: list[str]) -> frozenset[str]:
    kept: set[str] = set()
    for token in tokens:
        cpu = _cpu(token.lower())
        if cpu is None:
            known = ", ".join(sorted(ARCHITECTURES | set(_ALIASES)))
            problems.append(f"[{SECTION}] architectures: unknown architecture {token!r}; use {known}")
        else:
            kept.add(cpu)
    return frozenset(kept)


def _is_sdist(file: DistFile) -> bool:
    # Pages of other mirrors may not say the package type; the name does.
    if file.packagetype:
        return file.packagetype == "sdist"
    return file.filename.endswith(_SDIST_SUFFIXES)


class WheelTags(ReleaseFileFilter):
    """Keeps wheels whose tags name a kept architecture and a kept interpreter; sdists always."""

    name = "wheel_tags"

    def __init__(self, context: FilterContext) -> None:
        super().__init__(context)
        problems: list[str] = []
        arch_tokens = context.value(SECTION, "architectures").split()
        interp_tokens = context.value(SECTION, "interpreters").split()
        self.architectures = parse_architectures(arch_tokens, problems)
        self.interpreters = parse_interpreters(interp_tokens, problems) if interp_tokens else None
        if problems:
            raise ConfigError(problems)
        self.active = bool(arch_tokens or interp_tokens)
        if not self.active:
            context.inert(f"[{SECTION}] sets neither architectures nor interpreters")

    def keeps_file(self, project: Project, file: DistFile) -> bool:
        if not self.active or _is_sdist(file):
            return True
        try:
            _, _, _, tags = parse_wheel_filename(file.filename)
        except InvalidWheelFilename:
            return False  # an egg, an installer, or a wheel pip would refuse
        return any(self._keeps_tag(tag) for tag in tags)

    def _keeps_tag(self, tag: Tag) -> bool:
        if self.interpreters is not None and not self.interpreters.keeps(tag):
            return False
        if not self.architectures:
            return True
        cpus = architectures_of(tag.platform)
        return "any" in cpus or bool(cpus & self.architectures)

    def describe(self) -> object:
        interpreters = self.interpreters
        return {
            "architectures": sorted(self.architectures),
            "interpreters": None if interpreters is None else [repr(interpreters.ranges), sorted(interpreters.abis)],
        }
