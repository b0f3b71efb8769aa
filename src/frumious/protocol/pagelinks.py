"""Project pages read back: the one reader of PEP 691 and PEP 503 project pages.

``read_page`` serves both kinds of caller. The mirror's own pages (what the mirror owns for a
project, the record rebuilt from the tree, ``verify``) are read strictly: a page that is not
one is an error to report. Upstream's pages (a project's serial, whether it lists files) are
read tolerantly: what a page does not validly carry is simply absent. Serials go through the
one range-checked reader, and JSON integers are bounded (5,000 digits is no ValueError).
These helpers are pure: page bytes in, values out.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin

import msgspec

from frumious.errors import BadUpstreamData
from frumious.models import serial_from_text, serial_from_value
from frumious.protocol import layout
from frumious.protocol.parse import bounded_json

_ANCHOR = re.compile(r"<a ([^>]*)>")
_ATTR = re.compile(r'([a-z-]+)="([^"]*)"')
_TITLE = re.compile(r"<title>Links for (.*?)</title>")
_SERIAL = re.compile(r"<!--SERIAL (\d+)-->")


class PageFile(msgspec.Struct, frozen=True):
    """One file a project page links to."""

    href: str  # fragment removed
    algorithm: str  # "" when a tolerantly read page gives no digest
    digest: str
    size: int | None = None
    upload_time: str = ""
    metadata: tuple[str, str] | None = None  # the advertised .metadata digest


class Page(msgspec.Struct, frozen=True):
    files: list[PageFile]
    serial: int | None = None
    title: str | None = None  # the HTML page's display name
    # How many files the page lists (malformed entries included); None when it is no project page.
    listed: int | None = None


def read_page(body: bytes, *, json_page: bool, strict: bool = True) -> Page:
    """A PEP 691 (``json_page``) or PEP 503 project page.

    ``strict`` (the mirror's own pages): raises ValueError when the body is not such a page or a
    JSON file has no hash or URL. Not strict (upstream's pages): never raises; a body that is no
    project page gives ``listed=None``, entries without a URL are skipped, digests may be empty.
    """
    return _read_json(body, strict) if json_page else _read_html(body, strict)


def page_hrefs(body: bytes, *, json_page: bool) -> list[str]:
    """The file URLs a project page links to, fragments removed (tolerantly: never raises)."""
    return [entry.href for entry in read_page(body, json_page=json_page, strict=False).files]


def file_key(canonical: str, href: str, root_uri: str = "") -> str | None:
    """The mirror key an href points to, or None when it points outside ``packages/``."""
    if root_uri and href.startswith(root_uri.rstrip("/") + "/"):
        href = href[len(root_uri.rstrip("/")) :]
    # Pages are served at /simple/<name>/ whatever the hash-index layout on disk.
    url = urljoin(f"http://mirror.invalid/simple/{canonical}/", href)
    if not url.startswith("http://mirror.invalid/packages/"):
        return None
    try:
        return layout.path_key(url)
    except BadUpstreamData:
        return None


def file_keys(canonical: str, hrefs: list[str], root_uri: str = "") -> set[str]:
    """Mirror keys of the hrefs that point into this mirror's ``packages/``."""
    keys = (file_key(canonical, href, root_uri) for href in hrefs)
    return {key for key in keys if key is not None}


def _read_json(body: bytes, strict: bool) -> Page:
    try:
        document = bounded_json(body)
    except (ValueError, RecursionError) as exc:
        if strict:
            raise ValueError(f"not JSON: {exc}") from None
        return Page([])
    meta = document.get("meta") if isinstance(document, dict) else None
    serial = serial_from_value(meta.get("_last-serial")) if isinstance(meta, dict) else None
    entries = document.get("files") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        if strict:
            raise ValueError("not a PEP 691 project page")
        return Page([], serial)
    files = [f for f in (_json_file(entry, strict) for entry in entries) if f is not None]
    return Page(files, serial, listed=len(entries))


def _json_file(entry: object, strict: bool) -> PageFile | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("url"), str):
        if strict:
            raise ValueError(f"a file entry has no URL: {str(entry)[:80]!r}")
        return None
    hashes = entry.get("hashes") or {}
    if not isinstance(hashes, dict) or not hashes:
        if strict:
            raise ValueError(f"{entry.get('filename')!r} has no hash")
        hashes = {"": ""}
    algorithm, digest = next(iter(hashes.items()))
    size = entry.get("size")
    return PageFile(
        href=entry["url"].split("#", 1)[0],
        algorithm=str(algorithm),
        digest=str(digest),
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        upload_time=str(entry.get("upload-time") or ""),
        metadata=_json_metadata(entry.get("core-metadata", entry.get("data-dist-info-metadata"))),
    )


def _json_metadata(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict) and value:
        algorithm, digest = next(iter(value.items()))
        return str(algorithm), str(digest)
    return None


def _read_html(body: bytes, strict: bool) -> Page:
    """A PEP 503 project page as frumious and bandersnatch write it."""
    # Strict: an undecodable page raises UnicodeDecodeError (a ValueError).
    text = body.decode("utf-8") if strict else body.decode("utf-8", "replace")
    files = [f for f in (_html_file(anchor, strict) for anchor in _ANCHOR.findall(text)) if f is not None]
    title = _TITLE.search(text)
    serial = _SERIAL.search(text)
    return Page(
        files=files,
        serial=serial_from_text(serial.group(1)) if serial else None,
        title=html.unescape(title.group(1)) if title else None,
        listed=len(files),
    )


def _html_file(anchor: str, strict: bool) -> PageFile | None:
    attrs: Mapping[str, str] = {name: html.unescape(value) for name, value in _ATTR.findall(anchor)}
    href, _, fragment = attrs.get("href", "").partition("#")
    algorithm, _, digest = fragment.partition("=")
    # A link without a digest is none of our files; a tolerant reader still reports the href.
    if not href or (strict and not digest):
        return None
    metadata = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata", ""))
    meta_alg, _, meta_digest = metadata.partition("=")
    # frumious' own HTML pages carry data-size and data-upload-time (bandersnatch's do not).
    size = attrs.get("data-size", "")
    return PageFile(
        href,
        algorithm,
        digest,
        size=int(size) if size.isascii() and size.isdigit() and len(size) < 20 else None,
        upload_time=attrs.get("data-upload-time", ""),
        metadata=(meta_alg, meta_digest) if meta_digest else None,
    )


def page_title(body: bytes) -> str | None:
    """Just the display name of an HTML page."""
    found = _TITLE.search(body[:2048].decode("utf-8", "replace"))
    return html.unescape(found.group(1)) if found else None
