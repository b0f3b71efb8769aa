"""Pure HTTP helpers for ``serve``: PEP 691 content negotiation, Range, validators, paths, log lines.

Everything here is a function of header strings and numbers, so the rules are
tested without a server, and the nginx config in ``docs/serving.md`` mirrors them.

Negotiation (PEP 691) follows Warehouse, which pip, uv and poetry are built against:

* each offer's quality is the q of the most specific media range naming it
  (``type/subtype`` beats ``type/*`` beats ``*/*``); a missing Accept is ``*/*``;
  an entry with an unparsable q counts as q=0;
* JSON wins when ``q(json) >= q(v1+html)`` and ``q(json) > q(text/html)``: on a tie
  between the two versioned formats the server prefers JSON (it carries PEP 700
  ``upload-time`` and ``size``), while a client that names nothing (``*/*``, curl,
  browsers, old clients that only parse HTML) still gets ``text/html``;
* otherwise HTML, labelled ``text/html`` when the client ranks that at least as high
  as ``v1+html``;
* only variants that exist are offered; nothing acceptable is a 406;
* ``?format=<media type>`` replaces Accept entirely; an unknown one is a 406.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Collection, Iterable, Mapping
from email.utils import parsedate_to_datetime
from enum import Enum
from urllib.parse import unquote

import msgspec

from frumious.models import serial_from_text, serial_from_value

__all__ = [
    "FULL",
    "JSON_TYPE",
    "TEXT_HTML_TYPE",
    "UNSATISFIABLE",
    "V1_HTML_TYPE",
    "ByteRange",
    "Variant",
    "choose",
    "combined_log_line",
    "etag_matches",
    "evaluate",
    "http_date_ts",
    "is_fresh",
    "make_etag",
    "document_serial",
    "page_serial",
    "parse_accept",
    "parse_range",
    "range_applies",
    "split_path",
]

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
V1_HTML_TYPE = "application/vnd.pypi.simple.v1+html"
TEXT_HTML_TYPE = "text/html"


class Variant(Enum):
    """A representation of a simple page: its media type and the file that holds it."""

    JSON = (JSON_TYPE, "index.v1_json")
    V1_HTML = (V1_HTML_TYPE, "index.v1_html")
    TEXT_HTML = (TEXT_HTML_TYPE, "index.html")

    # Members are singletons: identity hashing is correct and much cheaper than Enum's.
    __hash__ = object.__hash__

    @property
    def media_type(self) -> str:
        return self.value[0]

    @property
    def filename(self) -> str:
        return self.value[1]


# What each offer is called in Accept / ?format= (PEP 691 "latest" aliases included).
_NAMES: dict[Variant, tuple[str, ...]] = {
    Variant.JSON: (JSON_TYPE, "application/vnd.pypi.simple.latest+json"),
    Variant.V1_HTML: (V1_HTML_TYPE, "application/vnd.pypi.simple.latest+html"),
    Variant.TEXT_HTML: (TEXT_HTML_TYPE,),
}
_BY_NAME = {name: variant for variant, names in _NAMES.items() for name in names}
_QVALUE = re.compile(r"(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)")
_MAX_ACCEPT_ENTRIES = 64


class MediaRange(msgspec.Struct, frozen=True):
    media_type: str  # lower-cased "type/subtype", may hold "*"
    q: float


def parse_accept(header: str | None) -> list[MediaRange]:
    """The media ranges of an Accept header; a missing or blank header means ``*/*``.

    Malformed entries (no ``/``) are skipped; an unparsable q gives q=0.
    """
    if header is None or not header.strip():
        return [MediaRange("*/*", 1.0)]
    ranges = []
    for entry in header.split(",")[:_MAX_ACCEPT_ENTRIES]:
        media, *params = entry.split(";")
        media = media.strip().lower()
        if media.count("/") != 1:
            continue
        ranges.append(MediaRange(media, _quality(params)))
    return ranges


def _quality(params: Iterable[str]) -> float:
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            value = value.strip()
            return float(value) if _QVALUE.fullmatch(value) else 0.0
    return 1.0


def _q_for(variant: Variant, ranges: list[MediaRange]) -> float:
    """The q of the most specific range that matches ``variant`` (0 when none does)."""
    names = _NAMES[variant]
    major = names[0].split("/")[0]
    best: tuple[int, float] = (-1, 0.0)
    for r in ranges:
        if r.media_type in names:
            rank = 2
        elif r.media_type == f"{major}/*":
            rank = 1
        elif r.media_type == "*/*":
            rank = 0
        else:
            continue
        # Same specificity: the higher q (e.g. both v1+json and latest+json listed).
        best = max(best, (rank, r.q))
    return best[1]


def choose(accept: str | None, available: Collection[Variant], format_param: str | None = None) -> Variant | None:
    """The variant to serve, or None for 406. ``available`` lists the variants on disk."""
    return _choose(accept, format_param or None, tuple(v in available for v in Variant))


@functools.lru_cache(maxsize=1024)  # clients send a handful of distinct Accept headers
def _choose(accept: str | None, format_param: str | None, on_disk: tuple[bool, ...]) -> Variant | None:
    available = [v for v, present in zip(Variant, on_disk, strict=True) if present]
    if format_param:
        wanted = _BY_NAME.get(format_param.strip().lower().replace(" ", "+"))
        return wanted if wanted in available else None
    ranges = parse_accept(accept)
    json_q, v1_q, text_q = (_q_for(v, ranges) if v in available else 0.0 for v in Variant)
    if json_q > 0 and json_q >= v1_q and json_q > text_q:
        return Variant.JSON
    if text_q > 0 and text_q >= v1_q:
        return Variant.TEXT_HTML
    if v1_q > 0:
        return Variant.V1_HTML
    return None


class ByteRange(msgspec.Struct, frozen=True):
    """An inclusive byte range ``start``-``end`` of a representation of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


class _Outcome(Enum):
    FULL = "full"  # ignore Range: send the whole representation with 200
    UNSATISFIABLE = "unsatisfiable"  # 416


FULL = _Outcome.FULL
UNSATISFIABLE = _Outcome.UNSATISFIABLE
_RANGE_SPEC = re.compile(r"\s*(\d*)\s*-\s*(\d*)\s*")
_HUGE = 1 << 63


def _number(digits: str) -> int:
    # Python refuses int() of more than 4300 digits; anything past 19 is "huge" anyway.
    return _HUGE if len(digits) > 19 else int(digits)


def parse_range(header: str | None, size: int) -> ByteRange | _Outcome:
    """What a Range header asks of a ``size``-byte representation (RFC 9110 section 14).

    Another unit, several ranges, or an empty representation: FULL (a server may
    ignore Range). Bad syntax, ``first > last``, a start past the end or a zero
    suffix: UNSATISFIABLE. Otherwise one ByteRange, clamped to the size.
    """
    if header is None:
        return FULL
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return FULL
    if "," in spec:
        return FULL if all(_RANGE_SPEC.fullmatch(p) for p in spec.split(",")) else UNSATISFIABLE
    match = _RANGE_SPEC.fullmatch(spec)
    if match is None or match.group(1) == match.group(2) == "":
        return UNSATISFIABLE
    if size == 0:
        return FULL
    first, last = match.groups()
    if first == "":
        suffix = _number(last)
        return ByteRange(max(0, size - suffix), size - 1, size) if suffix else UNSATISFIABLE
    start = _number(first)
    end = size - 1 if last == "" else min(_number(last), size - 1)
    if last and _number(last) < start:
        return UNSATISFIABLE
    if start >= size:
        return UNSATISFIABLE
    return ByteRange(start, end, size)


def etag_matches(header: str, etag: str, *, weak: bool) -> bool:
    """Whether an If-None-Match (weak) or If-Range/If-Match (strong) list names ``etag``."""
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            if not weak:
                continue
            candidate = candidate[2:]
        if candidate == wanted and (weak or not etag.startswith("W/")):
            return True
    return False


def is_fresh(if_none_match: str | None, if_modified_since: str | None, etag: str, mtime: float | None) -> bool:
    """Whether the client's copy is current: If-None-Match, else If-Modified-Since (304)."""
    if if_none_match is not None:
        return etag_matches(if_none_match, etag, weak=True)
    since = http_date_ts(if_modified_since) if if_modified_since else None
    return since is not None and mtime is not None and int(mtime) <= since


def range_applies(if_range: str | None, etag: str, mtime: float | None) -> bool:
    """If-Range: a Range holds only while the client's validator (strong ETag or date) is current."""
    if if_range is None:
        return True
    if if_range.strip().startswith(('"', "W/")):
        return etag_matches(if_range, etag, weak=False)
    since = http_date_ts(if_range)
    return since is not None and mtime is not None and int(mtime) <= since


def evaluate(headers: Mapping[str, str], size: int, etag: str, mtime: float | None) -> int | ByteRange:
    """The conditional/range outcome for a GET or HEAD: 304, 416, 200 or a ByteRange (206)."""
    if is_fresh(headers.get("If-None-Match"), headers.get("If-Modified-Since"), etag, mtime):
        return 304
    if not range_applies(headers.get("If-Range"), etag, mtime):
        return 200
    wanted = parse_range(headers.get("Range"), size)
    if wanted is UNSATISFIABLE:
        return 416
    return wanted if isinstance(wanted, ByteRange) else 200


def make_etag(size: int, mtime: float | None, digests: Mapping[str, str] | None = None, inode: int = 0) -> str:
    """nginx's ETag (hex mtime-size), plus the inode when known; else the sha256, else weak.

    nginx's own ETag changes only with the second and the size: a root index or a project page
    rewritten within the same second at the same size (a serial of as many digits) would keep it,
    and a downstream mirror asking with If-None-Match would be told 304 and miss the change.
    frumious replaces every page by a rename, so the inode tells each version apart.
    """
    if mtime is not None:
        return f'"{int(mtime):x}-{size:x}-{inode:x}"' if inode else f'"{int(mtime):x}-{size:x}"'
    if digests and digests.get("sha256"):
        return f'"{digests["sha256"]}"'
    return f'W/"{size:x}"'


_HTML_SERIAL = re.compile(rb"<!--SERIAL (\d+)-->\s*$")
# Warehouse documents as bandersnatch and frumious save them (``indent=4, sort_keys=True``): the
# top-level key is the only one indented by exactly four spaces.
_DOCUMENT_SERIAL = re.compile(rb'^    "last_serial": (\d+),?$', re.MULTILINE)


def page_serial(body: bytes) -> str | None:
    """The serial a simple page carries: HTML ``<!--SERIAL n-->``, JSON ``meta._last-serial``.

    A JSON page is parsed, not searched: its ``meta`` follows the file list (and a root page's
    projects carry serials of their own). ``serve`` calls this once per page it caches: a 636 kB
    page of 1,700 files parses in 2.6 ms.
    """
    if body[:1] != b"{":
        match = _HTML_SERIAL.search(body[-64:])
        return match.group(1).decode() if match else None
    try:
        meta = json.loads(body).get("meta")
    except (ValueError, AttributeError):
        return None
    serial = serial_from_value(meta.get("_last-serial")) if isinstance(meta, dict) else None
    return None if serial is None else str(serial)


def document_serial(body: bytes) -> str | None:
    """The ``last_serial`` of a saved Warehouse JSON document (``web/json/<name>``), found without parsing it."""
    match = _DOCUMENT_SERIAL.search(body)
    serial = serial_from_text(match.group(1).decode()) if match else None
    return None if serial is None else str(serial)


def http_date_ts(value: str) -> float | None:
    """An HTTP-date as a POSIX timestamp; None when it is not one."""
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def combined_log_line(
    remote: str | None, request_line: str, status: int, sent: int, referer: str | None, agent: str | None
) -> str:
    """One access-log line in the Combined Log Format (identity and user are always ``-``)."""

    def quoted(text: str | None) -> str:
        return "-" if text is None else text.replace("\\", "\\\\").replace('"', '\\"')

    when = time.strftime("%d/%b/%Y:%H:%M:%S %z")
    tail = f'{status} {sent or "-"} "{quoted(referer)}" "{quoted(agent)}"'
    return f'{remote or "-"} - - [{when}] "{quoted(request_line)}" {tail}'


_BAD_SEGMENT = re.compile(r"[\x00-\x1f\x7f\\]")


def split_path(raw_path: str, root_path: str = "/") -> tuple[list[str], bool] | None:
    """The decoded segments of a raw request path under ``root_path``, and whether it ends in ``/``.

    None when the path is outside ``root_path`` or unsafe: ``.``/``..`` (also
    percent-encoded), an encoded ``/``, a backslash, NUL or other control
    characters, invalid UTF-8, or an empty segment (``//``).
    """
    path = raw_path.split("?", 1)[0].split("#", 1)[0]
    prefix = "/" + root_path.strip("/") + "/" if root_path.strip("/") else "/"
    if not path.startswith(prefix):
        return None
    rest = path[len(prefix) :]
    trailing = rest.endswith("/") or rest == ""
    segments: list[str] = []
    for raw in rest.split("/")[:-1] if trailing else rest.split("/"):
        try:
            segment = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            return None
        if segment in ("", ".", "..") or "/" in segment or _BAD_SEGMENT.search(segment):
            return None
        segments.append(segment)
    return segments, trailing
