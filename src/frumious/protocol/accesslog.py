"""Access-log lines (Combined Log Format) to the project each request was for; pure.

Both servers write the Combined Log Format: ``frumious serve`` (``serving.combined_log_line``,
quotes escaped as ``\\"``) and nginx's ``combined`` (quotes escaped as ``\\x22``):

    127.0.0.1 - - [10/Oct/2025:13:55:36 +0000] "GET /simple/foo/ HTTP/1.1" 200 1234 "-" "pip/25.0"

A request is for a project when its path has a ``simple/<name>/`` page (under any prefix, so a
mirror served under ``--root-path`` counts too) or a ``packages/.../<file>`` whose name is a
wheel or sdist file name (``packaging.utils``); a ``.metadata`` sidecar is its own kind.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from enum import Enum
from urllib.parse import unquote

import msgspec
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    is_normalized_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from frumious.models import NormalizedName

__all__ = ["Hit", "Kind", "parse_line", "project_of"]

_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_LINE = re.compile(rf"\S+ \S+ \S+ \[([^\]]+)\] {_QUOTED} (\d{{3}}) (?:\d+|-)(?: {_QUOTED} {_QUOTED})?\s*")
_TIME = re.compile(r"(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})")
# Month names as the Combined Log Format writes them, whatever the reader's locale.
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
# Old formats packaging does not parse (eggs, .tar.bz2, .tgz): the name is what comes before "-<digit>".
_OTHER_DIST = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._]*(?:-[A-Za-z][A-Za-z0-9._]*)*)-\d")
_OTHER_SUFFIXES = (".egg", ".tar.bz2", ".tgz", ".tar.xz", ".tar", ".exe", ".msi", ".rpm", ".dmg")


class Kind(Enum):
    PAGE = "page"  # /simple/<name>/
    FILE = "file"  # a distribution file under /packages/
    METADATA = "metadata"  # its .metadata sidecar


class Hit(msgspec.Struct, frozen=True):
    """One parsed log line; ``project`` is None for requests that are for no project (the root, health...)."""

    when: float  # POSIX time
    method: str
    status: int
    project: NormalizedName | None
    kind: Kind | None


def parse_line(line: str) -> Hit | None:
    """The request a Combined Log Format line records, or None when the line is not one."""
    match = _LINE.fullmatch(line)
    if match is None:
        return None
    when = _timestamp(match[1])
    method, _, rest = match[2].partition(" ")
    target = rest.rpartition(" ")[0] if rest.endswith(("HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/3.0")) else rest
    if when is None or not method.isalpha() or not target:
        return None
    found = project_of(target)
    return Hit(when, method, int(match[3]), *(found or (None, None)))


def _timestamp(text: str) -> float | None:
    match = _TIME.fullmatch(text)
    if match is None or match[2] not in _MONTHS:
        return None
    day, _, year, hour, minute, second, sign, off_h, off_m = match.groups()
    offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (-1 if sign == "-" else 1)
    try:
        when = datetime(int(year), _MONTHS[match[2]], int(day), int(hour), int(minute), int(second))
        return when.replace(tzinfo=timezone(offset)).timestamp()
    except ValueError:  # 31/Feb, hour 25, an offset of a day or more
        return None


def project_of(target: str) -> tuple[NormalizedName, Kind] | None:
    """The project a request target (path and query) is for, and how; None when it is for none."""
    path = target.split("?", 1)[0].split("#", 1)[0]
    segments = [unquote(segment) for segment in path.split("/")]
    for at, segment in enumerate(segments):
        rest = segments[at + 1 :]
        if segment == "simple" and len(rest) == 2 and rest[1] == "" and _NAME.fullmatch(rest[0]):
            return canonicalize_name(rest[0]), Kind.PAGE
        if segment == "packages" and len(rest) >= 2 and rest[-1]:
            return _file_project(rest[-1])
    return None


def _file_project(filename: str) -> tuple[NormalizedName, Kind] | None:
    kind = Kind.METADATA if filename.endswith(".metadata") else Kind.FILE
    project = _dist_name(filename.removesuffix(".metadata"))
    # parse_sdist_filename takes any text before the version: only a valid project name counts.
    return (project, kind) if project is not None and is_normalized_name(project) else None


def _dist_name(filename: str) -> NormalizedName | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[0]
        if filename.endswith((".tar.gz", ".zip")):
            return parse_sdist_filename(filename)[0]
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    other = _OTHER_DIST.match(filename) if filename.endswith(_OTHER_SUFFIXES) else None
    return canonicalize_name(other["name"]) if other else None
