"""The aiohttp application: pypi.org's endpoints over a ``FakeIndex``, plus fault injection.

Endpoints: ``/simple/`` (PEP 691 JSON or PEP 503 HTML, ETag/304), ``/simple/<name>/``,
``/pypi/<name>/json``, ``/pypi/<name>/<version>/json``, XML-RPC ``POST /pypi``
(``list_packages_with_serial``, ``changelog_since_serial``, for bandersnatch < 8), and the
files: any path the index serves a file at, and ``<that path>.metadata``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
import threading
import time
import xmlrpc.client
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from . import render
from .faults import Fault, FaultKind, Faults
from .index import FakeIndex

__all__ = ["STATE", "RequestRecord", "ServerState", "make_app"]

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
SIMPLE_HTML = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
SERIAL_HEADER = "X-PyPI-Last-Serial"
# Ties go to the first: no Accept (or */*) gets HTML, as on pypi.org.
OFFERED = (TEXT_HTML, SIMPLE_HTML, SIMPLE_JSON)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    at: float = 0.0  # time.monotonic() on arrival (for rate checks: meter.busiest_window)
    peer: int = 0  # the client's port: requests with the same one came on one connection


@dataclass
class ServerState:
    """What the handlers share with the test thread."""

    index: FakeIndex
    url: str = ""
    files_url: str | None = None
    faults: Faults = field(default_factory=Faults)
    log: list[RequestRecord] = field(default_factory=list)
    log_lock: threading.Lock = field(default_factory=threading.Lock)
    # (time.monotonic(), body bytes) of each response as it is handed to the transport.
    sent: list[tuple[float, int]] = field(default_factory=list)

    @property
    def files_base(self) -> str:
        return (self.files_url or self.url).rstrip("/")

    def record(self, request: web.Request) -> None:
        peer = request.transport.get_extra_info("peername") if request.transport is not None else None
        entry = RequestRecord(
            request.method,
            request.path,
            request.query_string,
            dict(request.headers),
            time.monotonic(),
            peer[1] if peer else 0,
        )
        with self.log_lock:
            self.log.append(entry)

    def count_sent(self, response: web.StreamResponse) -> None:
        body = response.body if isinstance(response, web.Response) else None
        size = len(body) if isinstance(body, bytes | bytearray) else 0
        with self.log_lock:
            self.sent.append((time.monotonic(), size))


STATE = web.AppKey("fakepypi_state", ServerState)


def negotiate(accept: str) -> str:
    """The offered media type the Accept header prefers (HTML when nothing fits)."""
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media:
            ranges.append((media.lower(), q))

    def quality(offer: str) -> float:
        major = offer.split("/")[0] + "/*"
        best = dict(reversed(ranges))
        for candidate in (offer, major, "*/*"):
            if candidate in best:
                return best[candidate]
        return 0.0

    scored = [(quality(offer), -i, offer) for i, offer in enumerate(OFFERED)]
    q, _, offer = max(scored)
    return offer if q > 0 else TEXT_HTML


def document(request: web.Request, body: bytes, content_type: str, serial: int | None) -> web.Response:
    """A page with ETag (and 304 on a matching If-None-Match) and X-PyPI-Last-Serial."""
    etag = '"' + hashlib.sha256(content_type.encode() + body).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Vary": "Accept", "Cache-Control": "max-age=600, public"}
    if serial is not None:
        headers[SERIAL_HEADER] = str(serial)
    wanted = [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]
    if etag in wanted or "*" in wanted:
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = content_type
    return web.Response(body=body, headers=headers)


def not_found() -> web.Response:
    return web.Response(status=404, text="404 Not Found")


def redirect(location: str) -> web.Response:
    return web.Response(status=301, headers={"Location": location})


def _json_bytes(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True).encode()


async def simple_root(request: web.Request) -> web.Response:
    state = request.app[STATE]
    kind = negotiate(request.headers.get("Accept", "*/*"))
    with state.index.lock:
        serial = state.index.serial
        if kind == SIMPLE_JSON:
            body = _json_bytes(render.simple_root_json(state.index))
        else:
            body = render.simple_root_html(state.index).encode()
    return document(request, body, kind if kind != TEXT_HTML else "text/html; charset=utf-8", serial)


async def simple_project(request: web.Request) -> web.Response:
    state = request.app[STATE]
    name = request.match_info["name"]
    kind = negotiate(request.headers.get("Accept", "*/*"))
    with state.index.lock:
        project = state.index.get(name)
        if project is None:
            return not_found()
        if name != project.canonical or not request.path.endswith("/"):
            return redirect(f"{state.url}/simple/{project.canonical}/")
        serial = project.last_serial
        if kind == SIMPLE_JSON:
            body = _json_bytes(render.simple_project_json(project, state.files_base))
        else:
            body = render.simple_project_html(project, state.files_base).encode()
    return document(request, body, kind if kind != TEXT_HTML else "text/html; charset=utf-8", serial)


async def warehouse_json(request: web.Request) -> web.Response:
    state = request.app[STATE]
    name, version = request.match_info["name"], request.match_info.get("version")
    with state.index.lock:
        project = state.index.get(name)
        if project is None:
            return not_found()
        if name != project.canonical:
            tail = f"{version}/json" if version else "json"
            return redirect(f"{state.url}/pypi/{project.canonical}/{tail}")
        doc = render.warehouse_json(project, state.files_base, state.url, version=version)
        serial = project.last_serial
    if doc is None:
        return not_found()
    return document(request, _json_bytes(doc), "application/json", serial)


async def xmlrpc_endpoint(request: web.Request) -> web.Response:
    state = request.app[STATE]
    params, method = xmlrpc.client.loads(await request.read())
    with state.index.lock:
        serial = state.index.serial
        if method == "list_packages_with_serial":
            result: Any = {p.name: p.last_serial for p in state.index.projects()}
        elif method == "changelog_since_serial":
            since = params[0] if params and isinstance(params[0], int) else 0
            result = [list(entry) for entry in state.index.journal if entry.serial > since]
        else:
            result = xmlrpc.client.Fault(-32601, f"method {method!r} not supported")
    if isinstance(result, xmlrpc.client.Fault):
        body = xmlrpc.client.dumps(result, methodresponse=True)
    else:
        body = xmlrpc.client.dumps((result,), methodresponse=True, allow_none=True)
    return web.Response(text=body, content_type="text/xml", headers={SERIAL_HEADER: str(serial)})


async def files(request: web.Request) -> web.Response:
    state = request.app[STATE]
    path = request.path
    with state.index.lock:
        found = state.index.find_file(path)
        meta = state.index.find_file(path.removesuffix(".metadata")) if path.endswith(".metadata") else None
    if found is not None:
        body = found.artifact.content
    elif meta is not None and meta.artifact.metadata is not None:
        body = meta.artifact.metadata
    else:
        return not_found()
    headers = {"ETag": f'"{hashlib.md5(body).hexdigest()}"', "Cache-Control": "max-age=365000000, immutable, public"}
    return web.Response(body=body, content_type="application/octet-stream", headers=headers)


# --- faults ----------------------------------------------------------------------------


async def _call(handler: Handler, request: web.Request) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        return web.Response(status=exc.status, text=exc.text, headers=exc.headers)


def _copy_headers(response: web.StreamResponse) -> dict[str, str]:
    skip = {"content-length", "transfer-encoding"}
    return {key: value for key, value in response.headers.items() if key.lower() not in skip}


async def _drop(request: web.Request, response: web.StreamResponse | None, keep: int) -> web.StreamResponse:
    """Close the connection, after the headers and ``keep`` body bytes if a response is given."""
    transport = request.transport
    if response is None or not isinstance(response, web.Response) or response.body is None:
        if transport is not None:
            transport.close()
        return web.Response(status=500)
    body = bytes(response.body)  # type: ignore[arg-type]
    stream = web.StreamResponse(status=response.status, headers=_copy_headers(response))
    stream.content_length = len(body)
    await stream.prepare(request)
    await stream.write(body[:keep])
    if transport is not None:
        transport.close()
    return stream


async def _trickle(request: web.Request, response: web.StreamResponse, piece: int, pause: float) -> web.StreamResponse:
    """Send the whole body slowly, so the client holds a partial download for a while."""
    if not isinstance(response, web.Response) or response.body is None:
        return response
    body = bytes(response.body)  # type: ignore[arg-type]
    stream = web.StreamResponse(status=response.status, headers=_copy_headers(response))
    stream.content_length = len(body)
    await stream.prepare(request)
    for start in range(0, len(body), piece):
        await stream.write(body[start : start + piece])
        await asyncio.sleep(pause)
    await stream.write_eof()
    return stream


def _replace_body(response: web.Response, body: bytes) -> web.Response:
    return web.Response(status=response.status, body=body, headers=_copy_headers(response))


def _mangle(response: web.Response, fault: Fault) -> web.Response:
    body = bytes(response.body) if response.body is not None else b""  # type: ignore[arg-type]
    if fault.kind is FaultKind.TRUNCATE:
        return _replace_body(response, body[: len(body) // 2 if fault.keep is None else fault.keep])
    if fault.kind is FaultKind.CORRUPT:
        if not body:
            return _replace_body(response, b"x")
        middle = len(body) // 2
        return _replace_body(response, body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :])
    if fault.kind is FaultKind.BAD_JSON:
        return _replace_body(response, b'{"info": {"name": "truncated-json", ')
    if fault.kind is FaultKind.PATCH_JSON:
        patched = _replace_body(response, json.dumps({**json.loads(body), **fault.fields}).encode())
        patched.headers.update(fault.headers)
        return patched
    if fault.kind is FaultKind.NO_SERIAL:
        response.headers.popall(SERIAL_HEADER, None)
    if fault.kind is FaultKind.STALE_SERIAL:
        real = int(response.headers.get(SERIAL_HEADER, "0"))
        response.headers[SERIAL_HEADER] = str(fault.serial if fault.serial is not None else max(real - 1, 0))
    return response


def gzip_bomb(size: int) -> bytes:
    """A gzip stream of ``size`` zero bytes (rounded up to MiB), about 1 KiB per MiB, built quickly."""
    mebibytes, zeros = -(-size // (1 << 20)), bytes(1 << 20)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    # After a full flush the compressor forgets its history: every MiB compresses to the same bytes.
    segment = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    trailer = struct.pack("<II", crc, (mebibytes << 20) & 0xFFFFFFFF)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + segment * mebibytes + packer.flush() + trailer


async def _oversize(request: web.Request, response: web.Response, fault: Fault) -> web.StreamResponse:
    """The real body and then filler, chunked, until ``keep`` bytes (1 GiB) or the client leaves."""
    total = fault.keep if fault.keep is not None else 1 << 30
    stream = web.StreamResponse(status=response.status, headers=_copy_headers(response))
    await stream.prepare(request)
    body = bytes(response.body) if response.body is not None else b""  # type: ignore[arg-type]
    filler = b"\0" * (256 * 1024)
    try:
        piece = body[:total]
        while piece:
            await stream.write(piece)
            fault.sent += len(piece)
            piece = filler[: total - fault.sent]
        await stream.write_eof()
    except (ConnectionError, asyncio.CancelledError):
        pass  # the client refused the rest: what matters is how much it took
    return stream


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    state.record(request)
    response = await _respond(state, request, handler)
    state.count_sent(response)
    return response


async def _respond(state: ServerState, request: web.Request, handler: Handler) -> web.StreamResponse:
    fault = state.faults.take(request.method, request.path)
    if fault is None:
        return await _call(handler, request)
    if fault.kind is FaultKind.DELAY:
        await asyncio.sleep(fault.delay)
        return await _call(handler, request)
    if fault.kind is FaultKind.STATUS:
        return web.Response(status=fault.status, text=f"{fault.status} (fakepypi fault)", headers=fault.headers)
    if fault.kind is FaultKind.DROP and fault.keep is None:
        return await _drop(request, None, 0)
    response = await _call(handler, request)
    if fault.kind is FaultKind.DROP:
        return await _drop(request, response, fault.keep or 0)
    if fault.kind is FaultKind.TRICKLE:
        return await _trickle(request, response, fault.keep or 1024, fault.delay)
    if not isinstance(response, web.Response):
        return response
    if fault.kind is FaultKind.OVERSIZE:
        return await _oversize(request, response, fault)
    if fault.kind is FaultKind.GZIP_BOMB:
        bomb = gzip_bomb(fault.keep if fault.keep is not None else 1 << 30)
        return web.Response(
            status=response.status, body=bomb, headers={**_copy_headers(response), "Content-Encoding": "gzip"}
        )
    return _mangle(response, fault)


def make_app(state: ServerState) -> web.Application:
    app = web.Application(middlewares=[fault_middleware])
    app[STATE] = state
    app.router.add_get("/simple", simple_root)
    app.router.add_get("/simple/", simple_root)
    app.router.add_get("/simple/{name}", simple_project)
    app.router.add_get("/simple/{name}/", simple_project)
    app.router.add_get("/pypi/{name}/json", warehouse_json)
    app.router.add_get("/pypi/{name}/{version}/json", warehouse_json)
    app.router.add_post("/pypi", xmlrpc_endpoint)
    app.router.add_get("/{tail:.*}", files)
    return app
