"""A deterministic synthetic PyPI upstream for the benchmarks (run by hand, never by the test suite).

``N`` projects with ``M`` files of ``S`` bytes each are derived from a seed. File content is
generated on the fly from (project, version, filename) and never written to disk; digests are
computed once at start-up and kept in memory. Every JSON body is rendered ahead of time, so a
request costs a dictionary lookup and one ``transport.write``. The HTTP/1.1 server is a small
raw ``asyncio.Protocol`` (keep-alive, no dependencies) listening on 127.0.0.1 only.

Served, for both bandersnatch (``api-method = simple``) and frumious:

* ``GET /simple/``: PEP 691 JSON listing (``_last-serial`` per project), ``ETag``,
  ``If-None-Match`` -> 304.
* ``GET /simple/<name>/``: PEP 691 JSON project page.
* ``GET /pypi/<name>/json``: Warehouse JSON, with ``X-PyPI-Last-Serial``.
* ``GET /packages/<aa>/<bb>/<rest>/<filename>``: the file bytes.
* ``GET /packages/.../<wheel>.metadata`` (``--metadata`` only): the wheel's PEP 658 core metadata,
  advertised as ``core-metadata: {"sha256": ...}`` in the pages and the Warehouse JSON, as PyPI
  does for wheels (sdists get none).

Admin endpoints (not counted in the request statistics):

* ``POST /_bump?percent=1``: a new generation; ``percent`` % of the projects get a new serial
  and one new file each. Deterministic: generation ``g`` always bumps the same projects.
* ``POST /_reset[?extras=0|1]``: back to generation 0 (optionally showing/hiding the extras).
* ``POST /_extras?visible=0|1``: show or hide the listing-only extra projects.
* ``GET /_stats``: cumulative request counts, bytes sent and the server's CPU time.

``--latency SECONDS`` answers every request (not the admin calls) that much later, as a
far-away index would: the answers of one connection still go out in request order.
``--think SECONDS`` spends that long on each answer, one at a time per connection, as a server
fetching each file from slower storage (a CDN's cache miss) would: an answer written ahead waits
for the ones before it.

The ``--listing-only-extra K`` projects appear in ``/simple/`` only (their JSON is a 404). Their
serials (1..K) are below every real project's, so a mirror that synced the real projects while
they were hidden is already up to date with them once they are shown.

Usage: ``python benchmarks/upstream.py --projects 2000 --files 5 --size 20000 --port 0``; the
first line on stdout is the base URL. Importable: ``Upstream`` (the data) and ``serve`` /
``ThreadedUpstream`` (the server).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import hashlib
import json
import random
import re
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

HOST = "127.0.0.1"
POOL_SIZE = 1 << 20
EPOCH = 1_700_000_000  # upload times are EPOCH + a minute per serial
REQUIRES_PYTHON = ">=3.8"
JSON_LISTING_TYPE = "application/vnd.pypi.simple.v1+json"

_NORMALIZE = re.compile(r"[-_.]+")


def canonical(name: str) -> str:
    """PEP 503 normalisation."""
    return _NORMALIZE.sub("-", name).lower()


def _timestamps(seconds: int) -> tuple[str, str]:
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return base, base + ".000000Z"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


# --------------------------------------------------------------------------- data model


@dataclass(slots=True)
class FileSpec:
    """One release file: everything but its bytes, which ``Content`` regenerates on demand."""

    ident: str
    filename: str
    url_path: str
    version: str
    size: int
    packagetype: str
    python_version: str
    uploaded: int  # unix seconds
    md5: str
    sha256: str
    blake2b_256: str
    yanked_reason: str | None = None  # None: not yanked
    metadata: bytes | None = None  # PEP 658 core metadata (wheels, with --metadata)


@dataclass(slots=True)
class Project:
    index: int
    name: str  # display name, as listed
    canon: str
    serial: int
    releases: dict[str, list[FileSpec]] = field(default_factory=dict)

    def latest(self) -> str:
        return max(self.releases, key=_version_key)


class Content:
    """Deterministic file bytes: a 33-byte unique header plus a slice of a seeded random pool."""

    def __init__(self, seed: int) -> None:
        pool = random.Random(seed).randbytes(POOL_SIZE)
        self._pool2 = pool + pool
        self._key = hashlib.sha256(f"frumious-bench:{seed}".encode()).digest()

    def data(self, ident: str, size: int) -> bytes:
        h = hashlib.blake2b(ident.encode(), digest_size=16, key=self._key).digest()
        head = h.hex().encode() + b"\n"
        if size <= len(head):
            return head[:size]
        rest = size - len(head)
        offset = int.from_bytes(h[:4], "big") % POOL_SIZE
        if rest <= POOL_SIZE:
            return head + self._pool2[offset : offset + rest]
        parts = [head]
        while rest > 0:
            take = min(rest, POOL_SIZE)
            parts.append(self._pool2[offset : offset + take])
            rest -= take
        return b"".join(parts)

    def digests(self, ident: str, size: int) -> tuple[str, str, str]:
        data = self.data(ident, size)
        return (
            hashlib.md5(data).hexdigest(),
            hashlib.sha256(data).hexdigest(),
            hashlib.blake2b(data, digest_size=32).hexdigest(),
        )


@dataclass(slots=True)
class Body:
    """A pre-rendered response: full bytes (head + body) and where the head ends."""

    full: bytes
    head_len: int
    etag: str
    not_modified: bytes
    gz: bytes | None = None  # full gzip-encoded response, when enabled
    gz_head_len: int = 0


def _head(status: str, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status}", "Server: frumious-bench-upstream"]
    lines.extend(f"{k}: {v}" for k, v in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def make_body(payload: bytes, content_type: str, serial: int | None, use_gzip: bool = False) -> Body:
    etag = '"' + hashlib.blake2b(payload, digest_size=12).hexdigest() + '"'
    common = [("Content-Type", content_type), ("ETag", etag), ("Cache-Control", "max-age=600, public")]
    if serial is not None:
        common.append(("X-PyPI-Last-Serial", str(serial)))
    head = _head("200 OK", [*common, ("Content-Length", str(len(payload)))])
    not_modified = _head("304 Not Modified", [h for h in common if h[0] != "Content-Type"])
    body = Body(head + payload, len(head), etag, not_modified)
    if use_gzip:
        packed = gzip.compress(payload, compresslevel=6, mtime=0)
        gz_head = _head("200 OK", [*common, ("Content-Encoding", "gzip"), ("Content-Length", str(len(packed)))])
        body.gz = gz_head + packed
        body.gz_head_len = len(gz_head)
    return body


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class Upstream:
    """The synthetic index: projects, their files and the rendered responses."""

    def __init__(
        self,
        projects: int,
        files: int,
        size: int,
        *,
        seed: int = 1,
        extras: int = 0,
        extras_visible: bool = True,
        use_gzip: bool = False,
        digest_threads: int = 0,
        metadata: bool = False,
    ) -> None:
        if projects < 0 or files < 1 or size < 0 or extras < 0:
            raise ValueError("need projects >= 0, files >= 1, size >= 0, extras >= 0")
        self.n_projects = projects
        self.n_files = files
        self.size = size
        self.seed = seed
        self.n_extras = extras
        self.extras_visible = extras_visible
        self.use_gzip = use_gzip
        self.with_metadata = metadata
        self.content = Content(seed)
        self.base_url = ""
        self.generation = 0
        self.serial = 0
        self.projects: list[Project] = []
        self.by_canon: dict[str, Project] = {}
        self.files: dict[str, FileSpec] = {}
        self.json_bodies: dict[str, Body] = {}
        self.simple_bodies: dict[str, Body] = {}
        self.listing: Body = make_body(b"{}", JSON_LISTING_TYPE, 0)
        self._digests: dict[str, tuple[str, str, str]] = {}
        self._threads = digest_threads
        # The extras never change: render their slice of the listing once.
        self._extras_json = ",".join(f'{{"name":"listed-only-{i:07d}","_last-serial":{i + 1}}}' for i in range(extras))
        self._prime_digests()
        self.reset()

    # -- construction

    def _display_name(self, i: int) -> str:
        if i % 10 == 3:
            return f"Bench_Pkg_{i:06d}"
        if i % 10 == 7:
            return f"bench.pkg.{i:06d}"
        return f"bench-pkg-{i:06d}"

    def _initial_layout(self, i: int) -> list[tuple[str, str, str, str, str]]:
        """(ident, filename, version, packagetype, python_version) of project i's files at generation 0."""
        canon = canonical(self._display_name(i))
        dist = canon.replace("-", "_")
        out = []
        for j in range(self.n_files):
            version = f"1.{j // 2}.0"
            if j % 2 == 0:
                filename, ptype, pyver = f"{dist}-{version}.tar.gz", "sdist", "source"
            else:
                filename, ptype, pyver = f"{dist}-{version}-py3-none-any.whl", "bdist_wheel", "py3"
            out.append((f"{canon}/{version}/{filename}", filename, version, ptype, pyver))
        return out

    def _prime_digests(self) -> None:
        idents = [row[0] for i in range(self.n_projects) for row in self._initial_layout(i)]
        size = self.size
        threads = self._threads or 2
        if len(idents) < 256 or threads <= 1:
            for ident in idents:
                self._digests[ident] = self.content.digests(ident, size)
            return

        def work(chunk: list[str]) -> list[tuple[str, tuple[str, str, str]]]:
            return [(ident, self.content.digests(ident, size)) for ident in chunk]

        step = max(64, len(idents) // (threads * 8))
        chunks = [idents[k : k + step] for k in range(0, len(idents), step)]
        with ThreadPoolExecutor(threads) as pool:
            for result in pool.map(work, chunks):
                self._digests.update(result)

    def _spec(self, ident: str, filename: str, version: str, ptype: str, pyver: str, uploaded: int) -> FileSpec:
        digests = self._digests.get(ident)
        if digests is None:
            digests = self._digests[ident] = self.content.digests(ident, self.size)
        md5, sha256, b2 = digests
        url_path = f"/packages/{b2[:2]}/{b2[2:4]}/{b2[4:]}/{filename}"
        spec = FileSpec(ident, filename, url_path, version, self.size, ptype, pyver, uploaded, md5, sha256, b2)
        if self.with_metadata and ptype == "bdist_wheel":
            name = ident.split("/", 1)[0]
            text = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Python: {REQUIRES_PYTHON}\n\n"
            spec.metadata = text.encode()
        return spec

    @staticmethod
    def _core_metadata(spec: FileSpec) -> dict[str, str] | bool:
        if spec.metadata is None:
            return False
        return {"sha256": hashlib.sha256(spec.metadata).hexdigest()}

    def reset(self, extras_visible: bool | None = None) -> None:
        """Back to generation 0; serials: extras 1..K, real projects K+1..K+N."""
        if extras_visible is not None:
            self.extras_visible = extras_visible
        self.generation = 0
        self.serial = self.n_extras
        self.projects = []
        self.by_canon = {}
        self.files = {}
        for i in range(self.n_projects):
            self.serial += 1
            name = self._display_name(i)
            project = Project(i, name, canonical(name), self.serial)
            for j, (ident, filename, version, ptype, pyver) in enumerate(self._initial_layout(i)):
                spec = self._spec(ident, filename, version, ptype, pyver, EPOCH + 60 * self.serial + j)
                if i % 50 == 0 and j == 0:
                    spec.yanked_reason = "synthetic yank"
                project.releases.setdefault(version, []).append(spec)
                self.files[spec.url_path] = spec
            self.projects.append(project)
            self.by_canon[project.canon] = project
        self.json_bodies = {}
        self.simple_bodies = {}
        for project in self.projects:
            self._render_project(project)
        self._render_listing()

    def bump(self, percent: float) -> list[str]:
        """New generation: ``percent`` % of the projects (at least one) get a new serial and one new wheel."""
        self.generation += 1
        if not self.projects:
            self._render_listing()
            return []
        count = min(len(self.projects), max(1, round(len(self.projects) * percent / 100)))
        chosen = sorted(random.Random(f"{self.seed}:{self.generation}").sample(range(len(self.projects)), count))
        names = []
        for i in chosen:
            project = self.projects[i]
            self.serial += 1
            project.serial = self.serial
            version = f"2.{self.generation}.0"
            filename = f"{project.canon.replace('-', '_')}-{version}-py3-none-any.whl"
            spec = self._spec(
                f"{project.canon}/{version}/{filename}",
                filename,
                version,
                "bdist_wheel",
                "py3",
                EPOCH + 60 * self.serial,
            )
            project.releases.setdefault(version, []).append(spec)
            self.files[spec.url_path] = spec
            self._render_project(project)
            names.append(project.name)
        self._render_listing()
        return names

    def set_extras_visible(self, visible: bool) -> None:
        if visible != self.extras_visible:
            self.extras_visible = visible
            self._render_listing()

    def set_base_url(self, url: str) -> None:
        """File URLs in the JSON are absolute: re-render once the port is known."""
        self.base_url = url.rstrip("/")
        for project in self.projects:
            self._render_project(project)

    # -- rendering

    def _file_json(self, spec: FileSpec) -> dict[str, Any]:
        upload_time, upload_iso = _timestamps(spec.uploaded)
        return {
            "comment_text": "",
            "core-metadata": self._core_metadata(spec),
            "data-dist-info-metadata": self._core_metadata(spec),
            "digests": {"blake2b_256": spec.blake2b_256, "md5": spec.md5, "sha256": spec.sha256},
            "downloads": -1,
            "filename": spec.filename,
            "has_sig": False,
            "md5_digest": spec.md5,
            "packagetype": spec.packagetype,
            "python_version": spec.python_version,
            "requires_python": REQUIRES_PYTHON,
            "size": spec.size,
            "upload_time": upload_time,
            "upload_time_iso_8601": upload_iso,
            "url": self.base_url + spec.url_path,
            "yanked": spec.yanked_reason is not None,
            "yanked_reason": spec.yanked_reason,
        }

    def _render_project(self, project: Project) -> None:
        base = self.base_url
        latest = project.latest()
        releases = {
            version: [self._file_json(spec) for spec in specs]
            for version, specs in sorted(project.releases.items(), key=lambda kv: _version_key(kv[0]))
        }
        doc = {
            "info": {
                "author": "Benchmark",
                "author_email": "bench@example.invalid",
                "classifiers": ["Programming Language :: Python :: 3"],
                "description": f"Synthetic project number {project.index}.",
                "description_content_type": "text/plain",
                "home_page": "",
                "keywords": "",
                "license": "MIT",
                "name": project.name,
                "package_url": f"{base}/project/{project.canon}/",
                "platform": None,
                "project_url": f"{base}/project/{project.canon}/",
                "project_urls": None,
                "release_url": f"{base}/project/{project.canon}/{latest}/",
                "requires_dist": None,
                "requires_python": REQUIRES_PYTHON,
                "summary": f"Synthetic benchmark project {project.index}",
                "version": latest,
                "yanked": False,
                "yanked_reason": None,
            },
            "last_serial": project.serial,
            "releases": releases,
            "urls": releases[latest],
            "vulnerabilities": [],
        }
        self.json_bodies[project.canon] = make_body(_dumps(doc), "application/json", project.serial, self.use_gzip)
        specs = sorted((s for v in project.releases.values() for s in v), key=lambda s: s.filename)
        page = {
            "meta": {"api-version": "1.1", "_last-serial": project.serial},
            "name": project.canon,
            "files": [
                {
                    "filename": s.filename,
                    "url": base + s.url_path,
                    "hashes": {"sha256": s.sha256},
                    "requires-python": REQUIRES_PYTHON,
                    "size": s.size,
                    "upload-time": _timestamps(s.uploaded)[1],
                    "yanked": s.yanked_reason if s.yanked_reason is not None else False,
                    "core-metadata": self._core_metadata(s),
                    "data-dist-info-metadata": self._core_metadata(s),
                }
                for s in specs
            ],
            "versions": sorted(project.releases, key=_version_key),
        }
        self.simple_bodies[project.canon] = make_body(_dumps(page), JSON_LISTING_TYPE, project.serial, self.use_gzip)

    def _render_listing(self) -> None:
        real = ",".join(f'{{"name":"{p.name}","_last-serial":{p.serial}}}' for p in self.projects)
        parts = [real] if real else []
        if self.extras_visible and self._extras_json:
            parts.append(self._extras_json)
        payload = (
            f'{{"meta":{{"api-version":"1.1","_last-serial":{self.serial}}},"projects":[{",".join(parts)}]}}'
        ).encode()
        self.listing = make_body(payload, JSON_LISTING_TYPE, self.serial, self.use_gzip)

    def summary(self) -> dict[str, Any]:
        return {
            "projects": self.n_projects,
            "files_per_project": self.n_files,
            "size": self.size,
            "extras": self.n_extras,
            "extras_visible": self.extras_visible,
            "generation": self.generation,
            "serial": self.serial,
            "files": len(self.files),
            "metadata_files": sum(1 for spec in self.files.values() if spec.metadata is not None),
        }


# --------------------------------------------------------------------------- HTTP server


_NOT_FOUND = _head("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")]) + b"not found"
_BAD_REQUEST = _head(
    "400 Bad Request", [("Content-Type", "text/plain"), ("Content-Length", "11"), ("Connection", "close")]
)
_BAD_REQUEST += b"bad request"
_METHOD = _head("405 Method Not Allowed", [("Content-Type", "text/plain"), ("Content-Length", "0")])


class Stats:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.bytes_sent = 0
        self.connections = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "total_requests": sum(v for k, v in self.requests.items()),
            "bytes_sent": self.bytes_sent,
            "connections": self.connections,
            "cpu": time.process_time(),
        }


class _Connection(asyncio.Protocol):
    def __init__(self, server: UpstreamServer) -> None:
        self._server = server
        self._buf = b""
        self._transport: asyncio.Transport | None = None
        self._due = 0.0  # when the last delayed answer goes out (--latency)
        self._ready = 0.0  # when the server is done preparing the last answer (--think)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.stats.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        buf = self._buf + data if self._buf else data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > 65536:
                    transport.write(_BAD_REQUEST)
                    transport.close()
                    return
                break
            lines = buf[:end].split(b"\r\n")
            try:
                method, target, version = lines[0].split(b" ", 2)
            except ValueError:
                transport.write(_BAD_REQUEST)
                transport.close()
                return
            headers: dict[bytes, bytes] = {}
            for line in lines[1:]:
                key, _, value = line.partition(b":")
                headers[key.strip().lower()] = value.strip()
            try:
                length = int(headers.get(b"content-length", b"0"))
            except ValueError:
                length = -1
            if length < 0 or b"chunked" in headers.get(b"transfer-encoding", b""):
                transport.write(_BAD_REQUEST)
                transport.close()
                return
            if len(buf) < end + 4 + length:
                break
            buf = buf[end + 4 + length :]
            path = target.decode("latin-1")
            response = self._server.respond(method, path, headers)
            self._server.stats.bytes_sent += len(response)
            connection = headers.get(b"connection", b"").lower()
            close = connection == b"close" or (version == b"HTTP/1.0" and connection != b"keep-alive")
            if (self._server.latency or self._server.think) and not path.startswith("/_"):
                self._later(response, close)
                if close:
                    return
                continue
            transport.write(response)
            if close:
                transport.close()
                return
        self._buf = buf

    def _later(self, response: bytes, close: bool) -> None:
        """Answer after the server's latency, in request order (a pipelined answer never overtakes)."""
        loop = asyncio.get_running_loop()
        server = self._server
        # Thinking starts once the answer ahead is done; the latency is on the way, not in line.
        self._ready = max(loop.time(), self._ready) + server.think
        self._due = max(self._ready + server.latency, self._due)
        loop.call_at(self._due, self._deliver, response, close)

    def _deliver(self, response: bytes, close: bool) -> None:
        if self._transport is not None:
            self._transport.write(response)
            if close:
                self._transport.close()


class UpstreamServer:
    """Routes requests to the pre-rendered bodies of an ``Upstream``."""

    def __init__(self, upstream: Upstream, latency: float = 0.0, think: float = 0.0) -> None:
        self.upstream = upstream
        self.stats = Stats()
        # Seconds before each answer (not the admin calls'), as a far-away index would add.
        self.latency = latency
        # Seconds spent on each answer, one at a time per connection.
        self.think = think
        self._file_heads: dict[int, bytes] = {}

    def protocol(self) -> _Connection:
        return _Connection(self)

    @staticmethod
    def _send(body: Body, headers: dict[bytes, bytes], head_only: bool) -> bytes:
        inm = headers.get(b"if-none-match")
        if inm is not None and body.etag.encode() in [t.strip().removeprefix(b"W/") for t in inm.split(b",")]:
            return body.not_modified
        if body.gz is not None and b"gzip" in headers.get(b"accept-encoding", b""):
            return body.gz[: body.gz_head_len] if head_only else body.gz
        return body.full[: body.head_len] if head_only else body.full

    def respond(self, method: bytes, target: str, headers: dict[bytes, bytes]) -> bytes:
        path, _, query = target.partition("?")
        if path.startswith("/_"):
            return self._admin(method, path, query)
        head_only = method == b"HEAD"
        if method != b"GET" and not head_only:
            self.stats.requests["other"] += 1
            return _METHOD
        up = self.upstream
        if path.startswith("/packages/"):
            if path.endswith(".metadata"):
                return self._metadata(unquote(path).removesuffix(".metadata"), head_only)
            spec = up.files.get(unquote(path))
            if spec is None:
                self.stats.requests["404"] += 1
                return _NOT_FOUND
            self.stats.requests["file"] += 1
            head = self._file_heads.get(spec.size)
            if head is None:
                head = self._file_heads[spec.size] = _head(
                    "200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(spec.size))]
                )
            return head if head_only else head + up.content.data(spec.ident, spec.size)
        if path in ("/simple/", "/simple"):
            response = self._send(up.listing, headers, head_only)
            self.stats.requests["listing_304" if response is up.listing.not_modified else "listing"] += 1
            return response
        parts = [p for p in unquote(path).split("/") if p]
        if len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json":
            body = up.json_bodies.get(canonical(parts[1]))
            kind = "json"
        elif len(parts) == 2 and parts[0] == "simple":
            body = up.simple_bodies.get(canonical(parts[1]))
            kind = "simple_page"
        else:
            body, kind = None, "404"
        if body is None:
            self.stats.requests["404" if kind == "404" else kind + "_404"] += 1
            return _NOT_FOUND
        response = self._send(body, headers, head_only)
        self.stats.requests[kind + "_304" if response is body.not_modified else kind] += 1
        return response

    def _metadata(self, path: str, head_only: bool) -> bytes:
        spec = self.upstream.files.get(path)
        if spec is None or spec.metadata is None:
            self.stats.requests["404"] += 1
            return _NOT_FOUND
        self.stats.requests["metadata"] += 1
        head = _head("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(spec.metadata)))])
        return head if head_only else head + spec.metadata

    def _admin(self, method: bytes, path: str, query: str) -> bytes:
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        up = self.upstream
        result: dict[str, Any]
        if path == "/_stats" and method == b"GET":
            result = {**self.stats.as_dict(), **up.summary()}
        elif method != b"POST":
            return _METHOD
        elif path == "/_bump":
            names = up.bump(float(params.get("percent", "1")))
            result = {"bumped": names, **up.summary()}
        elif path == "/_reset":
            extras = params.get("extras")
            up.reset(None if extras is None else extras not in ("0", "false", "no"))
            result = up.summary()
        elif path == "/_extras":
            up.set_extras_visible(params.get("visible", "1") not in ("0", "false", "no"))
            result = up.summary()
        else:
            return _NOT_FOUND
        payload = _dumps(result)
        return _head("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]) + payload


async def serve(
    upstream: Upstream, port: int = 0, latency: float = 0.0, think: float = 0.0
) -> tuple[asyncio.Server, UpstreamServer, str]:
    """Listen on 127.0.0.1:``port`` (0: any free port), each answer ``latency`` seconds late;
    returns the server, its handler and base URL."""
    handler = UpstreamServer(upstream, latency, think)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(handler.protocol, HOST, port, backlog=512, reuse_address=True)
    bound = server.sockets[0].getsockname()[1]
    url = f"http://{HOST}:{bound}"
    upstream.set_base_url(url)
    return server, handler, url


class ThreadedUpstream:
    """Run an ``Upstream`` on a background event loop: ``with ThreadedUpstream(up) as url: ...``."""

    def __init__(self, upstream: Upstream, port: int = 0, latency: float = 0.0) -> None:
        self.upstream = upstream
        self.port = port
        self.latency = latency
        self.url = ""
        self.handler: UpstreamServer | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bench-upstream", daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> str:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(serve(self.upstream, self.port, self.latency), self._loop)
        self._server, self.handler, self.url = future.result()
        return self.url

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


# --------------------------------------------------------------------------- CLI


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Deterministic synthetic PyPI upstream on 127.0.0.1.")
    p.add_argument("--projects", type=int, default=200, help="real projects (default 200)")
    p.add_argument("--files", type=int, default=3, help="files per project (default 3)")
    p.add_argument("--size", type=int, default=20_000, help="bytes per file (default 20000)")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default 0: any free port)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--listing-only-extra", type=int, default=0, metavar="K", help="K extra projects present in /simple/ only"
    )
    p.add_argument("--hide-extras", action="store_true", help="start with the extra projects hidden")
    p.add_argument("--generation", type=int, default=0, help="apply this many bumps before serving")
    p.add_argument("--bump-percent", type=float, default=1.0, help="percent of projects per bump (default 1)")
    p.add_argument("--gzip", action="store_true", help="gzip JSON bodies for clients that accept it")
    p.add_argument("--metadata", action="store_true", help="serve PEP 658 .metadata for every wheel")
    p.add_argument("--latency", type=float, default=0.0, help="seconds before each answer (default 0)")
    p.add_argument("--think", type=float, default=0.0, help="seconds spent on each answer, in turn (default 0)")
    return p.parse_args(argv)


async def _main(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    upstream = Upstream(
        args.projects,
        args.files,
        args.size,
        seed=args.seed,
        extras=args.listing_only_extra,
        extras_visible=not args.hide_extras,
        use_gzip=args.gzip,
        metadata=args.metadata,
    )
    for _ in range(args.generation):
        upstream.bump(args.bump_percent)
    server, _, url = await serve(upstream, args.port, args.latency, args.think)
    print(url, flush=True)
    summary = json.dumps(upstream.summary())
    print(f"upstream ready in {time.perf_counter() - started:.1f}s: {summary}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    asyncio.run(_main(_parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
