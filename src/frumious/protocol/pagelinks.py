"""What the mirror owns for a project, read back from its own pages.

A project's current page lists every file the mirror keeps for it, so the page
is the record of ownership that survives from bandersnatch mirrors too: the
SQLite index is rebuilt from it. These helpers are pure: page bytes in, keys out.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from frumious.errors import BadUpstreamData
from frumious.models import serial_from_text, serial_from_value
from frumious.protocol import layout

_HREF = re.compile(rb'<a href="([^"]*)"')
_ANCHOR = re.compile(r"<a ([^>]*)>")
_ATTR = re.compile(r'([a-z-]+)="([^"]*)"')
_TITLE = re.compile(r"<title>Links for (.*?)</title>")
_SERIAL = re.compile(r"<!--SERIAL (\d+)-->")


@dataclass(frozen=True, slots=True)
class PageFile:
    """One file a project page links to."""

    href: str  # fragment removed
    algorithm: str
    digest: str
    size: int | None = None
    upload_time: str = ""
    metadata: tuple[str, str] | None = None  # the advertised .metadata digest


@dataclass(frozen=True, slots=True)
class Page:
    files: list[PageFile]
    serial: int | None = None
    title: str | None = None  # the HTML page's display name


def page_hrefs(body: bytes, *, json_page: bool) -> list[str]:
    """The file URLs a project page links to, fragments removed."""
    if json_page:
        try:
            files = json.loads(body)["files"]
            return [str(entry["url"]).split("#", 1)[0] for entry in files]
        except (ValueError, KeyError, TypeError):
            return []
    return [html.unescape(m.decode("utf-8", "replace")).split("#", 1)[0] for m in _HREF.findall(body)]


def file_key(canonical: str, href: str, root_uri: str = "") -> str | None:
    """The mirror key an href points to, or None when it points outside ``packages/``."""
    if root_uri and href.startswith(root_uri.rstrip("/") + "/"):
        href = href[len(root_uri.rstrip("/")) :]
    # Pages are served at /simple/<name>/ whatever the hash-index layout on disk.
    url = urljoin(f"http://mirror.invalid/simple/{canonical}/", href)
    if not url.startswith("http://mirror.invalid/packages/"):
        return None
    try:
        return layout.package_key(url)
    except BadUpstreamData:
        return None


def file_keys(canonical: str, hrefs: list[str], root_uri: str = "") -> set[str]:
    """Mirror keys of the hrefs that point into this mirror's ``packages/``."""
    keys = (file_key(canonical, href, root_uri) for href in hrefs)
    return {key for key in keys if key is not None}


def read_json_page(body: bytes) -> Page:
    """A PEP 691 project page; raises ValueError when it is not one."""
    document = json.loads(body)
    if not isinstance(document, dict) or not isinstance(document.get("files"), list):
        raise ValueError("not a PEP 691 project page")
    files = []
    for entry in document["files"]:
        hashes = entry.get("hashes") or {}
        if not isinstance(hashes, dict) or not hashes:
            raise ValueError(f"{entry.get('filename')!r} has no hash")
        algorithm, digest = next(iter(hashes.items()))
        size = entry.get("size")
        files.append(
            PageFile(
                href=str(entry["url"]).split("#", 1)[0],
                algorithm=str(algorithm),
                digest=str(digest),
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                upload_time=str(entry.get("upload-time") or ""),
                metadata=_json_metadata(entry.get("core-metadata", entry.get("data-dist-info-metadata"))),
            )
        )
    meta = document.get("meta")
    return Page(files=files, serial=serial_from_value(meta.get("_last-serial")) if isinstance(meta, dict) else None)


def _json_metadata(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict) and value:
        algorithm, digest = next(iter(value.items()))
        return str(algorithm), str(digest)
    return None


def read_html_page(body: bytes) -> Page:
    """A PEP 503 project page as frumious and bandersnatch write it."""
    text = body.decode("utf-8")
    files = []
    for anchor in _ANCHOR.findall(text):
        attrs = {name: html.unescape(value) for name, value in _ATTR.findall(anchor)}
        href, _, fragment = attrs.get("href", "").partition("#")
        algorithm, _, digest = fragment.partition("=")
        if not href or not digest:
            continue
        metadata = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata", ""))
        meta_alg, _, meta_digest = metadata.partition("=")
        files.append(PageFile(href, algorithm, digest, metadata=(meta_alg, meta_digest) if meta_digest else None))
    title = _TITLE.search(text)
    serial = _SERIAL.search(text)
    return Page(
        files=files,
        serial=serial_from_text(serial.group(1)) if serial else None,
        title=html.unescape(title.group(1)) if title else None,
    )


def page_title(body: bytes) -> str | None:
    """Just the display name of an HTML page."""
    found = _TITLE.search(body[:2048].decode("utf-8", "replace"))
    return html.unescape(found.group(1)) if found else None
