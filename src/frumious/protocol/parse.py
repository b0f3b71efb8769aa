"""Upstream bytes to models: the PEP 691 listing, a PEP 503 root, Warehouse JSON.

Everything upstream says is checked here before any other layer sees it;
whatever we refuse raises ``BadUpstreamData`` with a message naming the culprit.

The listing is PyPI's whole ``/simple/`` (700,000 projects, tens of MB), fetched
on every run whose listing changed: ``scan_listing`` checks its envelope and leaves the
entries to be decoded chunk by chunk on each pass (``protocol/listing``); only odd input
(escapes, a second ``projects`` key, invalid UTF-8) takes the ``json.loads`` path, with
the same result.
"""

from __future__ import annotations

import json
import mmap
import re
from collections.abc import Mapping
from typing import Any, NamedTuple, TypeGuard
from urllib.parse import urljoin, urlsplit

import msgspec

from frumious.errors import BadUpstreamData
from frumious.models import (
    MAX_SERIAL,
    DistFile,
    ListingEntry,
    Project,
    canonicalize_name,
    serial_from_text,
)
from frumious.protocol import listing, listmap
from frumious.protocol.layout import check_filename, file_place

__all__ = [
    "MAX_SERIAL",
    "ParsedListing",
    "bounded_json",
    "parse_project",
    "read_listing",
    "scan_listing",
    "serial_from_text",
]

# A JSON integer longer than this is no count we could use; Python refuses to convert one of
# more than 4,300 digits at all (ValueError), so such numbers are kept as a marker instead.
_MAX_DIGITS = 40


class ParsedListing(NamedTuple):
    """The listing as parsed from its bytes; ``upstream.Listing`` adds the response's ETag."""

    entries: list[ListingEntry]
    # meta._last-serial, when upstream gave an integer one.
    serial: int | None
    # Entries without a usable name or serial (bandersnatch warns and skips them).
    skipped: int
    # Named entries whose serial is invalid (out of range, or beyond the root's serial): they
    # count as listed (never deleted) but are not synced this run.
    invalid: tuple[str, ...] = ()


# ---------------------------------------------------------------------------
# PEP 691 listing

_LISTING = "the project listing"


class _HugeNumber(float):
    """A JSON integer of more than ``_MAX_DIGITS`` digits: not an int, so every range check refuses it."""

    def __repr__(self) -> str:
        return "a number too large to be real"


def _bounded_int(text: str) -> int | float:
    return int(text) if len(text) <= _MAX_DIGITS else _HugeNumber("inf")


def bounded_json(text: str | bytes) -> Any:
    """``json.loads`` whose integers are bounded (raises ValueError or RecursionError, as it does).

    msgspec decodes bytes first: a 2.2 KB five-file project page in 8.7 us against 12.3 us (the
    ``parse_int`` hook calls Python per integer). What it refuses (NaN, integers past 64 bits,
    floats past the double range, UTF-16, a BOM, lone surrogates, deep nesting, bad JSON) goes to
    ``json.loads``, so every document decodes to the same value, or fails the same way, as before.
    """
    # msgspec keeps an integer of any length exact, where ours becomes a marker: a run of more
    # than _MAX_DIGITS digits anywhere (3.4 us for that page) sends the text the slow way.
    if isinstance(text, bytes) and _LONG_RUN not in text.translate(_DIGIT_RUNS):
        try:
            return _fast_json(text)
        except (msgspec.DecodeError, RecursionError):
            pass
    return json.loads(text, parse_int=_bounded_int)


_fast_json = msgspec.json.Decoder().decode
# Every digit and "-" to "0", every other byte to a space: a long integer is then a long run of "0".
# The sign counts, as ``_bounded_int`` counts it (a 40-digit negative integer is 41 characters).
_DIGIT_RUNS = bytes(48 if 48 <= byte <= 57 or byte == 45 else 32 for byte in range(256))
_LONG_RUN = b"0" * (_MAX_DIGITS + 1)


def _loads(text: str | bytes, what: str) -> Any:
    try:
        return bounded_json(text)
    except (ValueError, RecursionError) as e:
        raise BadUpstreamData(f"{what} is not valid JSON: {e}") from None


def _is_serial(value: object) -> TypeGuard[int]:
    return listing.is_serial(value)


def _check_meta(document: Any) -> int | None:
    if not isinstance(document, dict) or not isinstance(document.get("projects"), list):
        raise listing.not_a_listing()
    meta = document.get("meta", {})
    if not isinstance(meta, dict):
        raise BadUpstreamData("the project listing's 'meta' is not an object")
    version = meta.get("api-version")
    # PEP 629: a client must refuse a major version it does not know.
    if isinstance(version, str) and version.split(".")[0] != "1":
        raise BadUpstreamData(f"the project listing has api-version {version!r}; only 1.x is understood")
    serial = meta.get("_last-serial")
    return serial if _is_serial(serial) else None


def scan_listing(body: listing.Body, root_serial: int | None = None) -> listing.ListingScan:
    """A PEP 691 JSON ``/simple/``, checked around its projects array; the entries are decoded per pass.

    The root serial (``scan.ceiling``) is ``meta._last-serial``, else ``root_serial`` (the response's
    ``X-PyPI-Last-Serial``); an entry beyond it is invalid, as is one out of range. A mapped body
    (``http/spool``) is checked a piece at a time (``listmap``); when it is not the common shape
    the scan holds a copy, and the caller closes the map.
    """
    if isinstance(body, mmap.mmap):
        walked = listmap.walk(body)
        if walked is None:
            copy = bytes(body)
            listing.drop(body, 0, len(body))
            return scan_listing(copy, root_serial)
        ceiling = _ceiling(walked.meta, root_serial)
        return listing.ListingScan(body, walked.span, None, ceiling, bounded_json, walked.names)
    envelope = listing.decode_envelope(body) if listing.utf8_ok(body) else None
    if envelope is not None and memoryview(envelope.projects)[:1].tobytes() == b"[" and b"\\" not in body:
        ceiling = _ceiling(bytes(envelope.meta), root_serial)
        span = listing.array_span(body, envelope.projects)
        if span is not None:
            return listing.ListingScan(body, span, None, ceiling, bounded_json)
    # Not the common shape (escapes, a second "projects" key, invalid UTF-8...): decoded whole, as before.
    document = _loads(body, _LISTING)
    serial = _check_meta(document)
    ceiling = serial if serial is not None else root_serial
    return listing.ListingScan(body, None, document["projects"], ceiling, bounded_json)


def _ceiling(meta: bytes, root_serial: int | None) -> int | None:
    """The envelope's raw ``meta`` checked (api-version), and the root serial it gives, else ``root_serial``."""
    document = _loads(meta, _LISTING) if meta else {}
    serial = _check_meta({"projects": [], "meta": document} if meta else {"projects": []})
    return serial if serial is not None else root_serial


def read_listing(body: bytes, root_serial: int | None = None) -> ParsedListing:
    """Entries, root serial and skipped count of a PEP 691 JSON ``/simple/``, all in memory (``scan_listing``)."""
    scan = scan_listing(body, root_serial)
    entries = list(scan)
    return ParsedListing(entries, scan.ceiling, scan.skipped, scan.invalid)


def _decode(body: bytes, what: str) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadUpstreamData(f"{what} is not valid UTF-8: {e}") from None


# ---------------------------------------------------------------------------
# Warehouse /pypi/<name>/json

_HEX = re.compile(r"[0-9a-fA-F]+")
# Spellings of the PEP 658/714 field, most current first.
_CORE_METADATA_KEYS = ("core-metadata", "data-dist-info-metadata", "dist-info-metadata")


class _Context(NamedTuple):
    """Names the project, release and file an error is about."""

    where: str

    def at(self, version: str, index: int, filename: object) -> _Context:
        shown = f" ({filename!r})" if isinstance(filename, str) else ""
        return _Context(f"{self.where} release {version!r} file #{index}{shown}")

    def fail(self, message: str) -> BadUpstreamData:
        return BadUpstreamData(f"{self.where}: {message}")


def _optional_str(data: Mapping[str, Any], key: str, ctx: _Context) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ctx.fail(f"{key!r} must be a string or null, got {type(value).__name__}")
    return value


def _digests(value: object, key: str, ctx: _Context) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ctx.fail(f"{key!r} must be an object of hex digests")
    for algo, digest in value.items():
        if not isinstance(digest, str) or not _HEX.fullmatch(digest):
            raise ctx.fail(f"{key!r} {algo!r} is not a hex digest: {digest!r}")
    return value


def _core_metadata(data: Mapping[str, Any], ctx: _Context) -> Mapping[str, str] | bool | None:
    for key in _CORE_METADATA_KEYS:
        if key in data and data[key] is not None:
            value = data[key]
            return value if isinstance(value, bool) else _digests(value, key, ctx)
    return None


def _dist_file(data: object, version: str, ctx: _Context, base: str | None = None) -> DistFile:
    if not isinstance(data, dict):
        raise ctx.fail("is not an object")
    for key in ("filename", "url", "digests", "size"):
        if key not in data:
            raise ctx.fail(f"missing {key!r}")
    filename, url, size = data["filename"], data["url"], data["size"]
    if not isinstance(filename, str) or not isinstance(url, str):
        raise ctx.fail("'filename' and 'url' must be strings")
    if base is not None and not urlsplit(url).scheme:
        # Mirrors of mirrors serve relative URLs; they are relative to the JSON document.
        url = urljoin(base, url)
    digests = _digests(data["digests"], "digests", ctx)
    try:
        check_filename(filename)
        file_place(url, digests.get("sha256", ""), filename)
    except BadUpstreamData as e:
        raise ctx.fail(str(e)) from None
    if urlsplit(url).scheme not in ("http", "https"):
        raise ctx.fail(f"file URL {url!r} is not http(s)")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ctx.fail(f"'size' must be a non-negative integer, got {size!r}")
    yanked = data.get("yanked", False)
    if not isinstance(yanked, bool):
        raise ctx.fail(f"'yanked' must be a boolean, got {yanked!r}")
    return DistFile(
        filename=filename,
        url=url,
        size=size,
        digests=digests,
        version=version,
        upload_time=_optional_str(data, "upload_time_iso_8601", ctx) or "",
        requires_python=_optional_str(data, "requires_python", ctx),
        has_requires_python="requires_python" in data,
        yanked=yanked,
        yanked_reason=_optional_str(data, "yanked_reason", ctx),
        packagetype=_optional_str(data, "packagetype", ctx) or "",
        python_version=_optional_str(data, "python_version", ctx) or "",
        core_metadata=_core_metadata(data, ctx),
        fields=data,
    )


def _releases(value: object, ctx: _Context, base: str | None = None) -> dict[str, tuple[DistFile, ...]]:
    if not isinstance(value, dict):
        raise ctx.fail("'releases' must be an object")
    releases: dict[str, tuple[DistFile, ...]] = {}
    for version, files in value.items():
        if not isinstance(files, list):
            raise ctx.fail(f"release {version!r} must be a list of files")
        releases[version] = tuple(
            _dist_file(f, version, ctx.at(version, i, f.get("filename") if isinstance(f, dict) else None), base)
            for i, f in enumerate(files)
        )
    return releases


def _last_serial(value: object, ctx: _Context) -> int:
    # bandersnatch takes int(last_serial), so a decimal string is accepted too.
    serial = serial_from_text(value) if isinstance(value, str) else value
    if not _is_serial(serial):
        shown = f"{value[:20]!r}..." if isinstance(value, str) and len(value) > 20 else repr(value)
        raise ctx.fail(f"'last_serial' must be a non-negative integer below 2**63, got {shown}")
    return serial


def parse_project(body: bytes, *, expected: str | None = None, base_url: str | None = None) -> Project:
    """A ``Project`` from Warehouse's ``/pypi/<name>/json`` body, validated.

    With ``expected``, the document must be about that project (canonical names
    compared), so a misrouted or poisoned response cannot overwrite another.
    With ``base_url`` (where the document came from), relative file URLs are resolved.
    """
    what = f"the metadata of {expected!r}" if expected else "project metadata"
    document = _loads(body, what)
    if not isinstance(document, dict):
        raise BadUpstreamData(f"{what} is not a JSON object")
    info = document.get("info")
    if not isinstance(info, dict) or not isinstance(info.get("name"), str) or not info["name"]:
        raise BadUpstreamData(f"{what} has no 'info' object with a 'name' string")
    name: str = info["name"]
    if expected is not None and canonicalize_name(name) != canonicalize_name(expected):
        raise BadUpstreamData(f"asked for the metadata of {expected!r} but upstream answered for {name!r}")
    ctx = _Context(f"project {name!r}")
    for key in ("releases", "last_serial"):
        if key not in document:
            raise ctx.fail(f"missing {key!r}")
    return Project(
        name=name,
        serial=_last_serial(document["last_serial"], ctx),
        releases=_releases(document["releases"], ctx, base_url),
        info=info,
        extra={key: value for key, value in document.items() if key not in ("info", "releases")},
    )
