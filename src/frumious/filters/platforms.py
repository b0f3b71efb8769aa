"""The ``[blocklist] platforms`` vocabulary of ``exclude_platform``: token -> filename substrings
and package types. Kept apart from the filter so the tables read as data."""

from __future__ import annotations

import re

import msgspec

__all__ = ["Exclusions", "KNOWN_TOKENS", "exclusions_for"]

WINDOWS_TAGS = (".win32", "-win32", "win_amd64", "win-amd64", "win_arm64", "win-arm64")
LINUX_TAGS = (
    "linux-i686",  # PEP 425
    "linux-x86_64",
    "linux_armv7l",  # the two armv*l tags Warehouse accepts
    "linux_armv6l",
    "manylinux1_i686",  # PEP 513
    "manylinux1_x86_64",
    "manylinux2010_i686",  # PEP 571
    "manylinux2010_x86_64",
    "manylinux2014_x86_64",  # PEP 599
    "manylinux2014_i686",
    "manylinux2014_aarch64",
    "manylinux2014_armv7l",
    "manylinux2014_ppc64",
    "manylinux2014_ppc64le",
    "manylinux2014_s390x",
    "-manylinux_",  # PEP 600: manylinux_<glibc>_<arch>
    "musllinux",  # PEP 656
)

# Platform token -> (filename substrings, package types that are that platform's installers).
_PLATFORMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "windows": (WINDOWS_TAGS, ("bdist_msi", "bdist_wininst")),
    "macos": (("macosx_", "macosx-"), ("bdist_dmg",)),
    "freebsd": ((".freebsd", "-freebsd"), ()),
    "linux": (LINUX_TAGS, ("bdist_rpm",)),
}
_PLATFORM_ALIASES = {"win": "windows", "macosx": "macos"}

# bandersnatch lists py2, py2.4-py2.7, py3, py3.0-py3.14; any later 3.x follows the same rule.
_PYTHON_TOKEN = re.compile(r"py(2|3)(?:\.(\d+))?")
# Interpreter tags of PEP 425 other than the generic `py`.
_INTERPRETERS = ("cp", "pp", "ip", "jy")

KNOWN_TOKENS = (
    "windows, win, macos, macosx, freebsd, linux, py2, py2.4-py2.7, py3, py3.0-py3.N, "
    "or a single tag from the windows or linux lists"
)


class Exclusions(msgspec.Struct, frozen=True):
    substrings: tuple[str, ...] = ()
    packagetypes: tuple[str, ...] = ()


def python_substrings(major: str, minor: str | None) -> tuple[str, ...]:
    """`py3.8` -> -cp38- -pp38- -ip38- -jy38- -py3.8- -py3.8. ; `py3` -> -cp3- ... -py3- -py3."""
    dotted = major if minor is None else f"{major}.{minor}"
    compact = dotted.replace(".", "")
    return (*(f"-{i}{compact}-" for i in _INTERPRETERS), f"-py{dotted}-", f"-py{dotted}.")


def _python_token(token: str) -> tuple[str, ...] | None:
    match = _PYTHON_TOKEN.fullmatch(token)
    if not match:
        return None
    major, minor = match.group(1), match.group(2)
    if major == "2" and minor is not None and not 4 <= int(minor) <= 7:
        return None
    return python_substrings(major, minor)


def exclusions_for(tokens: list[str]) -> tuple[Exclusions, list[str]]:
    """The substrings and package types the tokens exclude, and the tokens not understood."""
    substrings: list[str] = []
    packagetypes: list[str] = []
    unknown: list[str] = []
    for token in tokens:
        lowered = token.lower()
        platform = _PLATFORM_ALIASES.get(lowered, lowered)
        python = _python_token(lowered)
        if platform in _PLATFORMS:
            substrings.extend(_PLATFORMS[platform][0])
            packagetypes.extend(_PLATFORMS[platform][1])
        elif python is not None:
            substrings.extend(python)
        elif lowered in WINDOWS_TAGS or lowered in LINUX_TAGS:
            substrings.append(lowered)
        else:
            unknown.append(token)
    unique = Exclusions(tuple(dict.fromkeys(substrings)), tuple(dict.fromkeys(packagetypes)))
    return unique, unknown
