"""Pages from models: PEP 503/629 HTML and PEP 691/700 JSON, as bytes.

The shapes are bandersnatch 8's byte for byte (reference section 4.3/4.4), so a
mirror it started keeps serving identical pages, with two deliberate changes:

* every name, filename and attribute value in HTML is escaped, not only
  ``data-requires-python`` and the yank reason, so a hostile filename cannot
  inject markup;
* JSON ``yanked`` carries the reason string when upstream gave one (PEP 592/691
  allow it) instead of dropping it.

Core metadata is advertised only for files whose ``.metadata`` we actually hold
(``has_metadata``), as PEP 658 requires.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any

from frumious.errors import BadUpstreamData
from frumious.models import DistFile, Project
from frumious.protocol import layout

__all__ = [
    "API_VERSION",
    "QUARANTINED",
    "RENDERED",
    "REPOSITORY_VERSION",
    "file_digest",
    "last_modified",
    "metadata_digest",
    "page_version",
    "project_html",
    "project_json",
    "ROOT_HTML_TAIL",
    "root_html",
    "root_html_entry",
    "root_html_head",
    "root_json",
    "root_json_entry",
    "saved_json",
]

# The simple API versions and what each adds: 1.0 PEP 691; 1.1 PEP 700 (versions, size, upload-time);
# 1.2 PEP 708 (tracks, alternate-locations); 1.3 PEP 740 (provenance); 1.4 PEP 792 (project-status).
# frumious renders every field up to RENDERED, so a page claims what its source page claimed, up to
# RENDERED: a field the source never gave is then truly absent, not dropped.
RENDERED = (1, 4)
# A project read from Warehouse's JSON has no page version: its JSON page carries PEP 700's fields (1.1)
# and its HTML page claims 1.0, bandersnatch's bytes (HTML gained nothing in 1.1).
API_VERSION = "1.1"
REPOSITORY_VERSION = "1.0"
QUARANTINED = "quarantined"

_HEAD = (
    "<!DOCTYPE html>\n"
    "<html>\n"
    "  <head>\n"
    '    <meta name="pypi:repository-version" content="{version}">\n'
    "{metas}"
    "    <title>{title}</title>\n"
    "  </head>\n"
    "  <body>\n"
)

HasMetadata = Callable[[DistFile], bool]
# Where a page links a file: by default the mirror's own copy (``root_uri`` or "../.." plus the
# URL's path); a metadata-only page links the upstream's (``metaonly``).
FileURL = Callable[[DistFile], str]


def _esc(text: str) -> str:
    # Five ``in`` scans first: hrefs and filenames rarely hold a character to escape, and escape()'s
    # five replace calls cost 0.5 us a string against 0.1 (timeit, a 200-character href).
    if "&" in text or "<" in text or ">" in text or '"' in text or "'" in text:
        return escape(text, quote=True)
    return text


@functools.lru_cache(maxsize=64)  # a handful of api-versions, asked twice a project
def _version(text: str) -> tuple[int, int] | None:
    major, dot, minor = text.partition(".")
    if not (dot and major.isdigit() and minor.isdigit()):
        return None
    return int(major), int(minor)


def page_version(project: Project, *, html: bool) -> tuple[int, int]:
    """The api-version the project's page claims: its source page's, up to what frumious renders."""
    if project.api_version is None:
        return _version(REPOSITORY_VERSION if html else API_VERSION) or (1, 0)
    claimed = _version(project.api_version)
    if claimed is None:
        return (1, 0)
    return min(claimed, RENDERED)


def _shown(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def _head(title: str, version: tuple[int, int] = (1, 0), metas: list[tuple[str, str]] | None = None) -> str:
    lines = "".join(f'    <meta name="{name}" content="{_esc(value)}">\n' for name, value in metas or [])
    return _HEAD.format(version=_shown(version), metas=lines, title=title)


def _project_metas(project: Project, version: tuple[int, int]) -> list[tuple[str, str]]:
    """PEP 708's and PEP 792's ``<meta>`` elements, as far as the page's version has them."""
    metas: list[tuple[str, str]] = []
    if version >= (1, 2):
        metas += [("pypi:tracks", url) for url in project.tracks]
        metas += [("pypi:alternate-locations", url) for url in project.alternate_locations]
    if version >= (1, 4) and project.status:
        metas.append(("pypi:project-status", project.status))
        if project.status_reason:
            metas.append(("pypi:project-status-reason", project.status_reason))
    return metas


def _prefix(root_uri: str) -> str:
    return root_uri if root_uri else "../.."


def file_digest(file: DistFile, digest_name: str) -> str:
    """The file's ``digest_name`` digest; its absence is upstream's fault."""
    try:
        return file.digests[digest_name]
    except KeyError:
        raise BadUpstreamData(f"upstream gave no {digest_name} digest for {file.filename}") from None


def metadata_digest(file: DistFile, digest_name: str) -> tuple[str, str] | None:
    """The (algorithm, hex) that verifies the file's ``.metadata``, or None.

    Like bandersnatch: prefer ``digest_name``, then sha256, then any algorithm
    hashlib knows (sorted). ``core-metadata: true`` has nothing to verify with.
    """
    digests = file.metadata_digests
    if not digests:  # most files: no sidecar, or ``core-metadata: true`` (a fifth of a page's render went here)
        return None
    for name in (digest_name, "sha256"):
        value = digests.get(name)
        if value:
            return name, value
    for name, value in sorted(digests.items()):
        if value and name in hashlib.algorithms_available:
            return name, value
    return None


def _advertised_metadata(
    file: DistFile, digest_name: str, core_metadata: bool, has_metadata: HasMetadata
) -> tuple[str, str] | None:
    if not core_metadata:
        return None
    digest = metadata_digest(file, digest_name)
    if digest is None or not has_metadata(file):
        return None
    return digest


def _sorted_files(project: Project) -> list[DistFile]:
    # PEP 792: a quarantined project offers no files, whatever its source page listed.
    if project.status == QUARANTINED:
        return []
    # Stable sort over release order, as bandersnatch's list.sort is.
    return sorted(project.files, key=lambda f: f.filename)


def _html_attrs(file: DistFile, metadata: tuple[str, str] | None, version: tuple[int, int]) -> str:
    attrs = ""
    if file.has_requires_python and file.requires_python is not None:
        attrs += f' data-requires-python="{_esc(file.requires_python)}"'
    if metadata is not None:
        value = _esc("=".join(metadata))
        attrs += f' data-core-metadata="{value}" data-dist-info-metadata="{value}"'
    if file.yanked:
        attrs += f' data-yanked="{_esc(file.yanked_reason or "")}"'
    # Not in PEP 700 (JSON only), but pip and uv read them from HTML pages (uv's --exclude-newer,
    # pip's --uploaded-prior-to); bandersnatch's pages lack them, which only changes the bytes.
    if file.size is not None:  # unknown when upstream gave none (devpi, PEP 503 HTML)
        attrs += f' data-size="{file.size}"'
    if file.upload_time:
        attrs += f' data-upload-time="{_esc(file.upload_time)}"'
    if version >= (1, 3) and file.provenance:
        attrs += f' data-provenance="{_esc(file.provenance)}"'
    return attrs


def project_html(
    project: Project,
    *,
    raw_name: str,
    digest_name: str,
    root_uri: str,
    core_metadata: bool,
    has_metadata: HasMetadata,
    file_url: FileURL | None = None,
) -> bytes:
    """A project's ``index.html`` (``index.v1_html`` is the same bytes)."""
    prefix = _prefix(root_uri)
    version = page_version(project, html=True)
    links = []
    for file in _sorted_files(project):
        url = file_url(file) if file_url is not None else prefix + layout.dist_place(file).href
        href = f"{url}#{digest_name}={file_digest(file, digest_name)}"
        metadata = _advertised_metadata(file, digest_name, core_metadata, has_metadata)
        attrs = _html_attrs(file, metadata, version)
        links.append(f'    <a href="{_esc(href)}"{attrs}>{_esc(file.filename)}</a><br/>')
    title = f"Links for {_esc(raw_name)}"
    page = (
        _head(title, version, _project_metas(project, version))
        + f"    <h1>{title}</h1>\n"
        # With no files this leaves an empty line, exactly as bandersnatch does.
        + "\n".join(links)
        + f"\n  </body>\n</html>\n<!--SERIAL {project.serial}-->"
    )
    return page.encode("utf-8")


def _file_json(
    file: DistFile,
    *,
    digest_name: str,
    url: str,
    metadata: tuple[str, str] | None,
    core_metadata: bool,
    version: tuple[int, int],
) -> dict[str, Any]:
    yanked: bool | str = bool(file.yanked)
    if file.yanked and file.yanked_reason:
        yanked = file.yanked_reason
    entry: dict[str, Any] = {
        "filename": file.filename,
        "hashes": {digest_name: file_digest(file, digest_name)},
        # A missing key becomes "", an explicit null stays null (bandersnatch).
        "requires-python": file.requires_python if file.has_requires_python else "",
        "size": file.size,
        "upload-time": file.upload_time,
        "url": url,
        "yanked": yanked,
    }
    if not file.upload_time:
        del entry["upload-time"]  # PEP 700: optional, but an ISO 8601 time when present
    if file.size is None:
        del entry["size"]  # unknown upstream (devpi, PEP 503 HTML); an integer when present
    if metadata is not None:
        entry["core-metadata"] = {metadata[0]: metadata[1]}
    elif core_metadata and file.core_metadata is False:
        entry["core-metadata"] = False
    if version >= (1, 3) and file.provenance:
        # PEP 740: the upstream's URL of the provenance object, kept (not copied into the mirror).
        entry["provenance"] = file.provenance
    return entry


def project_json(
    project: Project,
    *,
    digest_name: str,
    root_uri: str,
    core_metadata: bool,
    has_metadata: HasMetadata,
    file_url: FileURL | None = None,
) -> bytes:
    """A project's ``index.v1_json`` (PEP 691 + PEP 700)."""
    prefix = _prefix(root_uri)
    version = page_version(project, html=False)
    files = [
        _file_json(
            file,
            digest_name=digest_name,
            url=file_url(file) if file_url is not None else prefix + layout.dist_place(file).href,
            metadata=_advertised_metadata(file, digest_name, core_metadata, has_metadata),
            core_metadata=core_metadata,
            version=version,
        )
        for file in _sorted_files(project)
    ]
    page: dict[str, Any] = {
        "files": files,
        "meta": {"api-version": _shown(version), "_last-serial": str(project.serial)},
        "name": project.canonical,
        "versions": sorted(project.releases),
    }
    if version >= (1, 2):
        if project.tracks:
            page["tracks"] = list(project.tracks)
        if project.alternate_locations:
            page["alternate-locations"] = list(project.alternate_locations)
    if version >= (1, 4) and project.status:
        status = {"status": project.status}
        if project.status_reason:
            status["reason"] = project.status_reason
        page["project-status"] = status
    return json.dumps(page).encode("ascii")


def root_html(names: Iterable[str]) -> bytes:
    """``web/simple/index.html``: one link per project, in the order given."""
    links = "".join(f'    <a href="{_esc(n)}/">{_esc(n)}</a><br/>\n' for n in names)
    page = _head("Simple Index") + links + "  </body>\n</html>"
    return page.encode("utf-8")


def root_json(names: Iterable[str], serial: int, serials: Mapping[str, int] | None = None) -> bytes:
    """``web/simple/index.v1_json``.

    With ``serials``, each project also carries its ``_last-serial`` as PyPI's
    root does, which a downstream mirror needs to sync from this one.
    """
    projects: list[dict[str, Any]] = []
    for name in names:
        entry: dict[str, Any] = {"name": name}
        if serials is not None and name in serials:
            entry["_last-serial"] = serials[name]
        projects.append(entry)
    page = {"meta": {"_last-serial": serial, "api-version": API_VERSION}, "projects": projects}
    return json.dumps(page).encode("ascii")


# Names that neither html.escape nor json.dumps would change (canonical names always are):
# rendered without the 1.39M escape calls a 700,000-project root took (1.86 s of 3.38 s).
_PLAIN_HTML = re.compile(r"[^&<>\"']*")
_PLAIN_JSON = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII without '"' and '\\'


ROOT_HTML_TAIL = b"  </body>\n</html>"


def root_html_head() -> bytes:
    """What every root HTML page starts with, before its first link."""
    return _head("Simple Index").encode()


def root_html_entry(name: str) -> bytes:
    """One project's line of the root HTML: the bytes ``root_html_parts`` gives it."""
    return f'    <a href="{_esc(name)}/">{_esc(name)}</a><br/>\n'.encode()


def root_json_entry(name: str, serial: int) -> bytes:
    """One project's entry in the JSON root (no separator): the bytes ``root_json_parts`` gives it."""
    if _PLAIN_JSON.fullmatch(name):
        return f'{{"name": "{name}", "_last-serial": {serial}}}'.encode("ascii")
    return json.dumps({"name": name, "_last-serial": serial}).encode("ascii")


def root_html_parts(batches: Iterable[list[str]]) -> Iterator[str]:
    """``root_html``'s text in pieces, one a batch of names: the same bytes, written as they come."""
    yield _head("Simple Index")
    for names in batches:
        esc = (lambda n: n) if _PLAIN_HTML.fullmatch("".join(names)) else _esc
        yield "".join(f'    <a href="{esc(n)}/">{esc(n)}</a><br/>\n' for n in names)
    yield ROOT_HTML_TAIL.decode()


def root_json_parts(serial: int, batches: Iterable[list[tuple[str, int]]]) -> Iterator[str]:
    """``root_json``'s text (every project with its serial) in pieces, one a batch: the same bytes."""
    yield json.dumps({"meta": {"_last-serial": serial, "api-version": API_VERSION}, "projects": []})[:-2]
    sep = ""
    for rows in batches:
        if _PLAIN_JSON.fullmatch("".join(name for name, _ in rows)):
            text = ", ".join(f'{{"name": "{name}", "_last-serial": {s}}}' for name, s in rows)
        else:
            text = ", ".join(json.dumps({"name": name, "_last-serial": s}) for name, s in rows)
        if text:
            yield sep + text
            sep = ", "
    yield "]}"


def saved_json(project: Project) -> bytes:
    """``web/json/<name>``: upstream's document re-dumped as bandersnatch does (no final newline)."""
    return json.dumps(project.document, indent=4, sort_keys=True).encode("ascii")


def last_modified(ts: datetime) -> bytes:
    """``web/last-modified``: the sync's start time in UTC (naive means UTC)."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC)
    return ts.strftime("%Y%m%dT%H:%M:%S\n").encode("ascii")
