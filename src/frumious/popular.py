"""``frumious popular``: the most-requested projects in access logs, as an allowlist file.

What counts (``Unit``): by default one *page request* per project, a GET of
``/simple/<project>/`` answered 200, 304 or a redirect (``filtered-projects = redirect``),
because every resolver (pip, uv, poetry, pdm) asks for each project it installs exactly one
page per resolution, whether or not its wheel is already in the client's cache, and a
project the mirror does not carry leaves no other trace. ``files`` counts downloads instead:
a GET of a distribution file answered 200 (a ``.metadata`` sidecar, read for every candidate
a resolver considers, and 206 range pieces do not count). 404s never count: under ``omit``
they are as often typos and scanners as wanted projects. 301s (non-normalized names) do not
count either: the client asks again at the normalized name, which counts.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

import msgspec

from frumious.errors import FrumiousError
from frumious.models import NormalizedName
from frumious.protocol.accesslog import Hit, Kind, parse_line

__all__ = ["Popularity", "Unit", "allowlist_text", "count_logs", "write_allowlist"]

DAY = 86400.0
_COUNTED_PAGE = frozenset({200, 302, 303, 304, 307})


class Unit(Enum):
    PAGES = "pages"
    FILES = "files"

    def counts(self, hit: Hit) -> bool:
        if hit.method != "GET":
            return False
        if self is Unit.PAGES:
            return hit.kind is Kind.PAGE and hit.status in _COUNTED_PAGE
        return hit.kind is Kind.FILE and hit.status == 200


class Popularity(msgspec.Struct):
    """What the logs held: counted requests per project, and the lines read, too old or unparseable."""

    counts: Counter[NormalizedName] = msgspec.field(default_factory=Counter)
    lines: int = 0
    too_old: int = 0
    unparseable: int = 0
    first_unparseable: str = ""  # "file:line" of the first one, for the report

    def top(self, n: int) -> list[tuple[NormalizedName, int]]:
        # Ties by name, so the same logs always give the same file.
        return sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))[:n]


def read_lines(path: Path) -> Iterator[str]:
    """The lines of a log file, gunzipped when it is gzip (rotated ``access.log.1.gz``)."""
    try:
        with path.open("rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gzipped else path.open("rb") as handle:
            for line in handle:
                yield line.decode("utf-8", "replace").rstrip("\r\n")
    except (OSError, EOFError, zlib.error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise FrumiousError(f"cannot read the access log {path}: {reason}") from None


def count_logs(paths: Iterable[Path], *, since: float, unit: Unit) -> Popularity:
    """Count the requests ``unit`` names, per project, in lines logged at or after ``since``."""
    found = Popularity()
    for path in paths:
        for number, line in enumerate(read_lines(path), 1):
            if not line.strip():
                continue
            found.lines += 1
            hit = parse_line(line)
            if hit is None:
                found.unparseable += 1
                found.first_unparseable = found.first_unparseable or f"{path}:{number}"
            elif hit.when < since:
                found.too_old += 1
            elif hit.project is not None and unit.counts(hit):
                found.counts[hit.project] += 1
    return found


def allowlist_text(found: Popularity, *, top: int, days: float, unit: Unit, sources: Iterable[Path], now: float) -> str:
    """The allowlist: a header comment, then one project a line, most requested first."""
    chosen = found.top(top)
    when = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M UTC")
    what = "page requests" if unit is Unit.PAGES else "file downloads"
    header = [
        f"# The {len(chosen)} most-requested projects over the {days:g} day{'' if days == 1 else 's'} before {when},",
        f"# counted by {what}, written by `frumious popular` from:",
        *(f"#   {source}" for source in sources),
        "# Usable as [allowlist] requirements (one project a line; the count is a comment).",
    ]
    return "\n".join([*header, *(f"{name}  # {count}" for name, count in chosen)]) + "\n"


def write_allowlist(path: Path, text: str) -> None:
    """Replace ``path`` atomically: a cron job never leaves a half-written allowlist for a mirror run."""
    directory = path.parent if str(path.parent) else Path(".")
    temp = ""
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temp, path)
    except OSError as exc:
        if temp:
            Path(temp).unlink(missing_ok=True)
        raise FrumiousError(f"cannot write {path}: {exc.strerror or exc}") from None
