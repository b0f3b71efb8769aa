"""Upstream project pages to models: PEP 691 JSON and PEP 503 HTML ``/simple/<name>/``.

The page is what every index serves (PyPI, devpi, Artifactory, a frumious mirror), so it is
the source of each project: files with digests, sizes and upload times (PEP 700), yanks (PEP
592), requires-python, core metadata (PEP 658/714), provenance (PEP 740) and the project's
status (PEP 792), grouped into releases by version. A page names no file's version: it is read
from the filename (``packaging``'s wheel and sdist parsers), matched to the spelling in PEP
700's ``versions`` when listed; other kinds (eggs, installers) match a listed version after the
name. A file whose version cannot be told is left out (``Page.unversioned``): pip cannot tell
it either, so it never installs one. Pure: bytes in, values (or ``BadUpstreamData``) out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import msgspec

from frumious.errors import BadUpstreamData
from frumious.models import Project, canonicalize_name, serial_from_value
from frumious.protocol.fileversion import current, group, version_of
from frumious.protocol.layout import check_filename
from frumious.protocol.listing import Body, ListingScan
from frumious.protocol.parse import bounded_json, scan_listing

__all__ = ["SimplePage", "is_json", "read_html_listing", "read_project_page", "version_of"]

_HEX = re.compile(r"[0-9a-fA-F]+")
_SERIAL = re.compile(r"<!--SERIAL (\d+)-->")
STATUSES = frozenset({"active", "archived", "quarantined", "deprecated"})


class SimplePage(msgspec.Struct, frozen=True):
    project: Project
    # The serial given to read_project_page (the answer's header), else meta._last-serial (JSON) or the
    # <!--SERIAL n--> comment (HTML); None when neither gives one. The project's serial is this, or 0.
    serial: int | None
    api_version: str | None
    # Files left out because their version cannot be told from their names.
    unversioned: tuple[str, ...] = ()


def is_json(content_type: str, body: bytes) -> bool:
    """Whether the answer is the JSON form: by its Content-Type, else by its first byte."""
    kind = content_type.split(";")[0].strip().lower()
    if kind.endswith("json"):
        return True
    if "html" in kind:
        return False
    return body.lstrip()[:1] == b"{"


def read_project_page(
    body: bytes, *, json_page: bool, expected: str, base_url: str, serial: int | None = None
) -> SimplePage:
    """The project ``expected`` as its page (fetched from ``base_url``) describes it; raises BadUpstreamData.

    ``serial`` (the answer's ``X-PyPI-Last-Serial``, when valid) is the project's serial over the page's own:
    built in, not copied in afterwards (``dataclasses.replace`` of a Project is about 5 us a project).
    """
    what = f"the project page of {expected!r}"
    parts = _json_page(body, what) if json_page else _html_page(body, what)
    name, files, meta, versions, status = parts.name, parts.files, parts.meta, parts.versions, parts.status
    if name is not None and name != expected and canonicalize_name(name) != canonicalize_name(expected):
        raise BadUpstreamData(f"asked for the page of {expected!r} but upstream answered for {name!r}")
    # The listing's spelling (PyPI's display name), as Warehouse's info.name would give it.
    shown = expected
    ctx = f"project {shown!r}"
    api_version = meta.get("api-version")
    if isinstance(api_version, str) and api_version.split(".")[0] != "1":
        raise BadUpstreamData(f"{what} has api-version {api_version!r}; only 1.x is understood")
    given = meta.get("_last-serial")
    page_serial = serial_from_value(given)
    if page_serial is None and given is not None:
        # A poisoned serial is bad data for this project, never the mirror's serial.
        shown = repr(given) if len(repr(given)) <= 40 else repr(given)[:40] + "..."
        raise BadUpstreamData(f"{what}: 'meta._last-serial' must be a non-negative integer below 2**63, got {shown}")
    dists = [_dist_file(entry, ctx, base_url) for entry in files]
    releases, unversioned = group(shown, dists, versions)
    state, reason = status
    if serial is None:
        serial = page_serial
    return SimplePage(
        Project(
            name=shown,
            serial=serial if serial is not None else 0,
            releases=releases,
            info={"name": shown, "version": current(releases)},
            status=state,
            status_reason=reason,
            source="simple",
            api_version=api_version if isinstance(api_version, str) else None,
            tracks=parts.tracks,
            alternate_locations=parts.alternates,
        ),
        serial,
        api_version if isinstance(api_version, str) else None,
        tuple(unversioned),
    )


# --- files -----------------------------------------------------------------------------------


def _packagetype(filename: str) -> tuple[str, str]:
    """Warehouse's ``packagetype`` and ``python_version`` as the filename tells them."""
    if filename.endswith(".whl"):
        parts = filename[:-4].split("-")
        return "bdist_wheel", parts[-3] if len(parts) >= 5 else ""
    if filename.endswith(".egg"):
        found = re.search(r"-py(\d+\.\d+)", filename)
        return "bdist_egg", found.group(1) if found else ""
    if filename.endswith((".exe", ".msi")):
        return ("bdist_wininst" if filename.endswith(".exe") else "bdist_msi"), "any"
    return "sdist", "source"


def _digests(value: object, key: str, ctx: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadUpstreamData(f"{ctx}: {key!r} must be an object of hex digests")
    for algo, digest in value.items():
        if not isinstance(digest, str) or not _HEX.fullmatch(digest):
            raise BadUpstreamData(f"{ctx}: {key!r} {algo!r} is not a hex digest: {str(digest)[:80]!r}")
    return {str(algo).lower(): digest.lower() for algo, digest in value.items()}


def _core_metadata(entry: Mapping[str, Any], ctx: str) -> Mapping[str, str] | bool | None:
    for key in ("core-metadata", "data-dist-info-metadata", "dist-info-metadata"):
        value = entry.get(key)
        if value is not None:
            return value if isinstance(value, bool) else _digests(value, key, ctx)
    return None


def _resolve(url: str, base_url: str, ctx: str) -> str:
    if url.startswith(("https://", "http://")) and "/." not in url:
        return url  # already absolute, nothing to normalise: urljoin was a quarter of a page's parse (cProfile)
    resolved = urljoin(base_url, url)
    if urlsplit(resolved).scheme not in ("http", "https"):
        raise BadUpstreamData(f"{ctx}: file URL {url!r} is not http(s)")
    return resolved


def _dist_file(entry: object, ctx: str, base_url: str) -> tuple[dict[str, Any], str]:
    """A ``DistFile``'s fields but its version (``fileversion.group`` tells it), and its filename."""
    if not isinstance(entry, dict):
        raise BadUpstreamData(f"{ctx}: a file entry is not an object")
    filename, url = entry.get("filename"), entry.get("url")
    if not isinstance(filename, str) or not isinstance(url, str):
        raise BadUpstreamData(f"{ctx}: a file entry lacks a 'filename' or 'url' string")
    where = f"{ctx} file {filename!r}"
    check_filename(filename)
    size = entry.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise BadUpstreamData(f"{where}: 'size' must be a non-negative integer, got {size!r}")
    yanked = entry.get("yanked", False)
    if not isinstance(yanked, (bool, str)):
        raise BadUpstreamData(f"{where}: 'yanked' must be a boolean or a reason, got {yanked!r}")
    requires_python = entry.get("requires-python")
    upload_time = entry.get("upload-time")
    provenance = entry.get("provenance")
    for key, value in (("requires-python", requires_python), ("upload-time", upload_time), ("provenance", provenance)):
        if value is not None and not isinstance(value, str):
            raise BadUpstreamData(f"{where}: {key!r} must be a string or null")
    absolute = _resolve(url.split("#", 1)[0], base_url, where)
    packagetype, python_version = _packagetype(filename)
    dist: dict[str, Any] = {
        "filename": filename,
        "url": absolute,
        "size": size,
        "digests": _digests(entry.get("hashes"), "hashes", where),
        "upload_time": upload_time or "",
        "requires_python": requires_python,
        "has_requires_python": "requires-python" in entry,
        "yanked": bool(yanked),
        "yanked_reason": yanked if isinstance(yanked, str) and yanked else None,
        "packagetype": packagetype,
        "python_version": python_version,
        "core_metadata": _core_metadata(entry, where),
        "provenance": _resolve(provenance, base_url, where) if provenance else None,
    }
    return dist, filename


# --- the two forms ---------------------------------------------------------------------------


class _Parts(msgspec.Struct, frozen=True):
    name: str | None
    files: list[Any]
    meta: dict[str, Any]
    versions: list[str]
    status: tuple[str | None, str | None]
    # PEP 708: the URLs as the page gave them (render passes them through).
    tracks: tuple[str, ...] = ()
    alternates: tuple[str, ...] = ()


def _urls(value: object, key: str, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise BadUpstreamData(f"{what}: {key!r} must be a list of strings")
    return tuple(value)


def _status(value: object, what: str) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, str):
        value = {"status": value}
    if not isinstance(value, dict) or not isinstance(value.get("status"), str):
        raise BadUpstreamData(f"{what}: 'project-status' must be an object with a 'status' string")
    status, reason = value["status"].lower(), value.get("reason")
    if status not in STATUSES:
        # PEP 792: an unknown status is treated as active.
        status = "active"
    return status, reason if isinstance(reason, str) else None


def _json_page(body: bytes, what: str) -> _Parts:
    try:
        document = bounded_json(body)
    except (ValueError, RecursionError) as exc:
        raise BadUpstreamData(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("files"), list):
        raise BadUpstreamData(f"{what} is not a PEP 691 project page (no 'files' list)")
    meta = document.get("meta")
    name = document.get("name")
    versions = document.get("versions")
    if versions is not None and not (isinstance(versions, list) and all(isinstance(v, str) for v in versions)):
        raise BadUpstreamData(f"{what}: 'versions' must be a list of strings")
    return _Parts(
        name if isinstance(name, str) and name else None,
        document["files"],
        meta if isinstance(meta, dict) else {},
        versions or [],
        _status(document.get("project-status"), what),
        _urls(document.get("tracks"), "tracks", what),
        _urls(document.get("alternate-locations"), "alternate-locations", what),
    )


class _Anchors(HTMLParser):
    """Every ``<a>`` with its attributes and text, and the page's ``pypi:*`` meta tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self.meta: dict[str, str] = {}
        # Meta tags that may repeat (PEP 708's pypi:tracks, pypi:alternate-locations), in order.
        self.metas: dict[str, list[str]] = {}
        self._open: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open, self._text = dict(attrs), []
        elif tag == "meta":
            found = dict(attrs)
            name, content = found.get("name"), found.get("content")
            if name and content is not None and name.startswith("pypi:"):
                self.meta.setdefault(name, content)
                self.metas.setdefault(name, []).append(content)

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            self.anchors.append((self._open, "".join(self._text).strip()))
            self._open = None


def _html_page(body: bytes, what: str) -> _Parts:
    text = body.decode("utf-8", "replace")
    parser = _Anchors()
    parser.feed(text)
    parser.close()
    files = [_html_entry(attrs, label) for attrs, label in parser.anchors if attrs.get("href")]
    serial = _SERIAL.search(text)
    meta: dict[str, Any] = {"api-version": parser.meta.get("pypi:repository-version")}
    if serial:
        meta["_last-serial"] = serial.group(1)
    status = parser.meta.get("pypi:project-status")
    reason = parser.meta.get("pypi:project-status-reason")
    return _Parts(
        None,
        files,
        meta,
        [],
        _status({"status": status, "reason": reason} if status else None, what),
        tuple(parser.metas.get("pypi:tracks", ())),
        tuple(parser.metas.get("pypi:alternate-locations", ())),
    )


def _html_entry(attrs: Mapping[str, str | None], label: str) -> dict[str, Any]:
    """An anchor as the JSON form's file object (PEP 503 attributes, and ``data-size``/``data-upload-time``)."""
    href, _, fragment = (attrs.get("href") or "").partition("#")
    algorithm, _, digest = fragment.partition("=")
    entry: dict[str, Any] = {
        "filename": label or href.rsplit("/", 1)[-1],
        "url": href,
        "hashes": {algorithm: digest} if digest else {},
    }
    if "data-requires-python" in attrs:
        entry["requires-python"] = attrs["data-requires-python"]
    if "data-yanked" in attrs:
        entry["yanked"] = attrs["data-yanked"] or True
    metadata = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
    if metadata is not None:
        alg, _, value = metadata.partition("=")
        entry["core-metadata"] = {alg: value} if value else metadata.strip().lower() == "true"
    if attrs.get("data-provenance"):
        entry["provenance"] = attrs["data-provenance"]
    size = attrs.get("data-size")
    if size and size.isdigit():
        entry["size"] = int(size)
    if attrs.get("data-upload-time"):
        entry["upload-time"] = attrs["data-upload-time"]
    return entry


def read_html_listing(body: bytes) -> list[str]:
    """The project names a PEP 503 HTML root lists (each anchor's text; its href when the text is empty)."""
    parser = _Anchors()
    parser.feed(body.decode("utf-8", "replace"))
    parser.close()
    names = []
    for attrs, label in parser.anchors:
        name = label or (attrs.get("href") or "").rstrip("/").rsplit("/", 1)[-1]
        if name:
            names.append(name)
    return names


def read_root(body: Body, first: bytes, content_type: str, header: int | None) -> ListingScan | list[str]:
    """The listing as a scan, or the names of an upstream that gives no serials (an HTML root, or JSON without).

    ``first``: the body's first byte past whitespace (a mapped body is not stripped whole).
    """
    if not is_json(content_type, first):
        return read_html_listing(bytes(body))
    scan = scan_listing(body, header)
    if scan.ceiling is None and not any(True for _ in scan) and scan.invalid:
        # No root serial and not one entry with a serial: an upstream without serials (one
        # pass over the listing, only for a root that gives no serial; PyPI's always does).
        return list(scan.invalid)
    return scan
