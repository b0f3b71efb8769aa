"""An in-memory PyPI behind ``HTTPClient``: the index upstream for unit tests, no sockets.

``MemIndex`` holds projects as frumious's own models (``Project``, ``DistFile``) and file bodies
by URL; ``MemHTTP`` answers ``Upstream``'s GETs from it: the PEP 691 listing (``/simple/``),
project pages (``/simple/<name>/``), Warehouse JSON (``/pypi/<name>/json``) and the files. Pages
come from ``protocol.render`` where it renders what PyPI serves. Every request is logged in
``MemHTTP.requests`` so a test can assert what a run fetched.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from frumious.http.parser import Headers
from frumious.models import DistFile, Project, canonicalize_name
from frumious.protocol import render
from frumious.protocol.bodies import Collector

JSON_LISTING = "application/vnd.pypi.simple.v1+json"
BASE = "https://pypi.invalid"


@dataclass
class MemIndex:
    """Projects by canonical name, file bodies by URL path, and the index's serial."""

    base: str = BASE
    projects: dict[str, Project] = field(default_factory=dict)
    bodies: dict[str, bytes] = field(default_factory=dict)
    serial: int = 0
    # Other kinds of index: no /pypi/ JSON API; no serials anywhere (headers, meta, listing); PEP 503 HTML only.
    json_api: bool = True
    serials: bool = True
    html_only: bool = False

    def add(self, name: str, version: str, files: Mapping[str, bytes]) -> Project:
        """Publish ``files`` (filename -> body) as a release of ``name``: a new serial."""
        self.serial += 1
        key = canonicalize_name(name)
        old = self.projects.get(key)
        releases = dict(old.releases) if old else {}
        added = []
        for filename, body in files.items():
            digest = hashlib.sha256(body).hexdigest()
            path = f"/packages/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{filename}"
            self.bodies[path] = body
            added.append(
                DistFile(filename, self.base + path, len(body), {"sha256": digest}, version, "2024-01-01T00:00:00Z")
            )
        releases[version] = (*releases.get(version, ()), *added)
        self.projects[key] = Project(name, self.serial, releases, {"name": name, "version": version})
        return self.projects[key]

    def put(self, project: Project, bodies: Mapping[str, bytes]) -> None:
        """Publish ``project`` as it is (its own serial) and ``bodies`` by URL path; the index serial follows."""
        self.projects[project.canonical] = project
        self.bodies.update(bodies)
        self.serial = max(self.serial, project.serial)

    def remove(self, name: str) -> None:
        self.serial += 1
        del self.projects[canonicalize_name(name)]

    def answer(self, path: str, etag: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """Status, headers (lower-case names) and body for a GET of ``path``; pages answer 304 to their ETag."""
        status, headers, body = self._answer(path)
        if path.startswith("/simple/") and status == 200:
            if not self.serials:
                headers.pop("x-pypi-last-serial", None)
                body = _without_serials(body)
            if self.html_only:
                headers["content-type"], body = "text/html", _as_html(body)
            headers["etag"] = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            if etag == headers["etag"]:
                return 304, headers, b""
        return status, headers, body

    def _answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        parts = path.strip("/").split("/")
        serial = {"x-pypi-last-serial": str(self.serial)}
        if path == "/simple/":
            serials = {name: p.serial for name, p in sorted(self.projects.items())}
            body = render.root_json(serials, self.serial, serials)
            return 200, {"content-type": JSON_LISTING, **serial}, body
        project = self.projects.get(canonicalize_name(parts[1])) if len(parts) > 1 else None
        if parts[0] == "simple" and len(parts) == 2 and project is not None:
            page = render.project_json(
                project, digest_name="sha256", root_uri=self.base, core_metadata=True, has_metadata=lambda f: True
            )
            return 200, {"content-type": JSON_LISTING, "x-pypi-last-serial": str(project.serial)}, page
        # A project without releases is listed, but its JSON is a 404, as on PyPI.
        if self.json_api and parts[0] == "pypi" and parts[2:] == ["json"] and project is not None and project.releases:
            headers = {"content-type": "application/json", "x-pypi-last-serial": str(project.serial)}
            return 200, headers, json.dumps(_warehouse(project)).encode()
        if path in self.bodies:
            return 200, {"content-type": "application/octet-stream"}, self.bodies[path]
        return 404, {"content-type": "text/plain"}, b"not found"


def _without_serials(body: bytes) -> bytes:
    document = json.loads(body)
    document.get("meta", {}).pop("_last-serial", None)
    for entry in document.get("projects", []):
        entry.pop("_last-serial", None)
    return json.dumps(document).encode()


def _as_html(body: bytes) -> bytes:
    """A PEP 691 page or listing as the PEP 503 HTML an index without JSON serves."""
    document = json.loads(body)
    if "projects" in document:
        links = [f'<a href="{p["name"]}/">{p["name"]}</a>' for p in document["projects"]]
    else:
        links = []
        for f in document["files"]:
            ((alg, digest),) = f["hashes"].items()
            rp = f' data-requires-python="{f["requires-python"]}"' if f.get("requires-python") else ""
            links.append(f'<a href="{f["url"]}#{alg}={digest}"{rp}>{f["filename"]}</a>')
    return ("<!DOCTYPE html><html><body>\n" + "<br/>\n".join(links) + "\n</body></html>").encode()


def _warehouse(project: Project) -> dict[str, Any]:
    """The parts of Warehouse's JSON that ``parse.parse_project`` reads."""
    releases = {
        version: [
            {
                "filename": f.filename,
                "url": f.url,
                "size": f.size,
                "digests": dict(f.digests),
                "upload_time_iso_8601": f.upload_time,
                "requires_python": f.requires_python,
                "yanked": f.yanked,
                "yanked_reason": f.yanked_reason,
                "core-metadata": f.core_metadata,
                "packagetype": f.packagetype,
                "python_version": f.python_version,
            }
            for f in files
        ]
        for version, files in project.releases.items()
    }
    return {"info": dict(project.info), "last_serial": project.serial, "releases": releases, "urls": []}


class MemResponse:
    """A ``Response`` over bytes already in memory."""

    __slots__ = ("_body", "headers", "status", "url")

    def __init__(self, url: str, status: int, headers: dict[str, str], body: bytes) -> None:
        self.url, self.status, self._body = url, status, body
        self.headers = Headers(headers)

    async def read(self, limit: int | None = None) -> bytes:
        collector = Collector(self.url, limit)
        collector.declared(len(self._body))
        collector.add(self._body)
        return collector.body()

    async def iter_chunks(self, size: int) -> AsyncIterator[bytes]:
        for start in range(0, len(self._body), size):
            yield self._body[start : start + size]


class MemHTTP:
    """An ``HTTPClient`` answering from a ``MemIndex``; URLs outside its base answer 404."""

    def __init__(self, index: MemIndex) -> None:
        self.index = index
        self.requests: list[str] = []
        self.closed = False

    @asynccontextmanager
    async def get(self, url: str, headers: Mapping[str, str] | None = None) -> AsyncIterator[MemResponse]:
        self.requests.append(url)
        path = url[len(self.index.base) :] if url.startswith(self.index.base + "/") else "/-outside-"
        status, fields, body = self.index.answer(path.split("?", 1)[0], (headers or {}).get("If-None-Match"))
        yield MemResponse(url, status, fields, body)

    async def close(self) -> None:
        self.closed = True
