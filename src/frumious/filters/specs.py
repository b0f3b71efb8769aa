"""Package lists as PEP 508 requirements: config values and requirements files.

Shared by the allowlist, blocklist and requirements plugins. Parsing happens once, at load
time; every problem found is collected so the user sees all of them at once.
"""

from __future__ import annotations

import codecs
import glob
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from frumious.errors import ConfigError
from frumious.filters.base import FilterContext
from frumious.models import NormalizedName

__all__ = [
    "Spec",
    "allowlist_names",
    "config_specs",
    "decode_text",
    "logical_lines",
    "parse_version",
    "requirement_specs",
]

# A PEP 508 name with nothing else: parsed without building a Requirement (10k-line allowlists).
_BARE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
# Per-requirement pip options (`--hash=...`) that pip-compile puts after a requirement.
_PIP_OPTIONS = re.compile(r"\s--\S.*$")
_CODING = re.compile(rb"coding[:=]\s*([-\w.]+)")
# UTF-32 first: its little-endian BOM starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class Spec(msgspec.Struct, frozen=True):
    """One requirement line: canonical name, version specifier, and whether it was a bare name."""

    name: NormalizedName
    specifier: SpecifierSet
    bare: bool

    def contains(self, version: Version) -> bool:
        # Pre-releases count: an allowlisted `foo` must admit foo 2.0rc1 (bandersnatch does).
        return self.specifier.contains(version, prereleases=True)

    def describe(self) -> str:
        return f"{self.name}{self.specifier}"


def parse_version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def parse_spec(line: str) -> Spec:
    """Raises ValueError with the reason when the line is not a PEP 508 requirement."""
    if _BARE_NAME.fullmatch(line):
        return Spec(canonicalize_name(line), SpecifierSet(), bare=True)
    # Not at import: packaging.requirements (markers, their tokenizer's patterns) is 10 ms of every start-up.
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        requirement = Requirement(line)
    except InvalidRequirement as e:
        raise ValueError(str(e).splitlines()[0]) from None
    # blocklist_project only takes lines that are nothing but the name (no extras, markers, URL).
    return Spec(canonicalize_name(requirement.name), requirement.specifier, bare=requirement.name == line)


def _strip_comment(line: str) -> str:
    return line.split("#", 1)[0].strip()


def config_specs(context: FilterContext, section: str, key: str) -> list[Spec]:
    """``[section] key`` as requirements; `#` starts a comment, whole-line or inline."""
    specs: list[Spec] = []
    problems: list[str] = []
    for line in context.lines(section, key):
        text = _strip_comment(line)
        if not text:
            continue
        try:
            specs.append(parse_spec(text))
        except ValueError as e:
            problems.append(f"[{section}] {key}: {text!r} is not a valid requirement: {e}")
    if problems:
        raise ConfigError(problems)
    return specs


def allowlist_names(context: FilterContext) -> frozenset[NormalizedName]:
    """The canonical names in ``[allowlist] packages`` (the size/count filters' exceptions)."""
    return frozenset(spec.name for spec in config_specs(context, "allowlist", "packages"))


def decode_text(data: bytes) -> str:
    """Decode a requirements file: BOM, then a PEP 263 coding line, then UTF-8."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding)
    for line in data.split(b"\n")[:2]:
        match = _CODING.search(line) if line.startswith(b"#") else None
        if match:
            return data.decode(match.group(1).decode("ascii"))
    return data.decode("utf-8")


def logical_lines(text: str) -> Iterator[str]:
    """Lines with pip's trailing-backslash continuations joined."""
    pending = ""
    for raw in text.splitlines():
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        yield pending + raw
        pending = ""
    if pending:
        yield pending


def _requirement_lines(text: str) -> Iterator[str]:
    # Lines starting with `-` are pip options (-r, -e, --index-url): skipped, never followed.
    for line in logical_lines(text):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "-")):
            continue
        text_part = _PIP_OPTIONS.sub("", _strip_comment(stripped)).strip()
        if text_part:
            yield text_part


def requirement_files(context: FilterContext) -> tuple[list[Path], list[str]]:
    """The files named by ``[allowlist] requirements`` (globs when they contain `*`), and warnings."""
    root = Path(context.base_dir)
    configured = context.get("allowlist", "requirements_path")
    if configured:
        root = root / configured
    files: list[Path] = []
    warnings: list[str] = []
    for line in context.lines("allowlist", "requirements"):
        entry = _strip_comment(line)
        if not entry:
            continue
        if "*" not in entry:
            files.append(root / entry)
            continue
        matches = sorted(glob.glob(os.fspath(root / entry)))
        if not matches:
            warnings.append(f"[allowlist] requirements: {entry!r} matches no file in {os.fspath(root)}")
        files.extend(Path(match) for match in matches)
    return files, warnings


def _file_specs(path: Path, problems: list[str]) -> Iterable[Spec]:
    try:
        text = decode_text(path.read_bytes())
    except (OSError, UnicodeDecodeError, LookupError) as e:
        problems.append(f"[allowlist] requirements: cannot read {os.fspath(path)}: {e}")
        return []
    specs: list[Spec] = []
    for line in _requirement_lines(text):
        try:
            specs.append(parse_spec(line))
        except ValueError as e:
            problems.append(f"{os.fspath(path)}: {line!r} is not a valid requirement: {e}")
    return specs


def requirement_specs(context: FilterContext) -> list[Spec]:
    """Every requirement in every requirements file; raises ConfigError listing all problems."""
    files, warnings = requirement_files(context)
    for warning in warnings:
        context.warn(warning)
    problems: list[str] = []
    specs = [spec for path in files for spec in _file_specs(path, problems)]
    if problems:
        raise ConfigError(problems)
    return specs
