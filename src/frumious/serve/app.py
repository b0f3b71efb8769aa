"""``frumious serve``: the mirror's ``web/`` tree over HTTP, read through the Store port.

Routes (under ``root_path``): ``/simple/`` and ``/simple/<project>/`` with PEP 691
content negotiation (``serving.choose``); ``/packages/...`` files and their
``.metadata`` sidecars with ETag, 304, Range and immutable caching;
``/json/<project>`` and ``/pypi/<project>/json`` when the mirror keeps JSON;
``/last-modified``; ``/feed/...`` (the change feed); ``/-/health``; the status page at ``/`` and ``/-/status.json``
(``serve/status``). Everything else is a 404: no listings, and no
path that leaves ``web/`` (``..``, encoded slashes, NUL, escaping symlinks).

Finding objects and their validators (and the page cache) is ``serve/files``; each page
carries ``X-PyPI-Last-Serial``, so a downstream mirror can sync from this one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from urllib.parse import quote

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from packaging.utils import canonicalize_name

from frumious.errors import FrumiousError
from frumious.models import replace
from frumious.protocol import layout, serving, statefiles
from frumious.protocol.serving import Variant
from frumious.serve.files import Entry, SerialOf, ServedFiles, open_entry
from frumious.serve.policy import NotCarried
from frumious.serve.status import StatusPage
from frumious.storage.base import Store

__all__ = ["Handler", "ServedFiles", "make_app"]

log = logging.getLogger("frumious.serve.app")

PAGE_CACHE_CONTROL = "max-age=600"
FILE_CACHE_CONTROL = "max-age=365000000, immutable"
TEXT = "text/plain; charset=utf-8"


class SendfileResponse(web.StreamResponse):
    """A byte range of an open file, sent with ``loop.sendfile``; closes the fd."""

    def __init__(self, fd: int, offset: int, count: int, *, status: int, headers: dict[str, str]) -> None:
        super().__init__(status=status, headers=headers)
        self.content_length = count
        self._fd, self._offset, self._count = fd, offset, count

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        with open(self._fd, "rb", buffering=0, closefd=True) as handle:
            writer = await super().prepare(request)
            if request.method == "HEAD" or self._count == 0 or request.transport is None:
                return writer
            try:
                await asyncio.get_running_loop().sendfile(request.transport, handle, self._offset, self._count)
            except NotImplementedError:  # a transport asyncio cannot sendfile to: copy in chunks
                handle.seek(self._offset)
                left = self._count
                while left > 0 and (chunk := handle.read(min(left, 1 << 18))):
                    await self.write(chunk)
                    left -= len(chunk)
            await super().write_eof()
            return writer


def _plain(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text, headers=headers)


def _not_found() -> web.Response:
    return _plain(404, "404 Not Found\n")


async def respond(
    request: web.BaseRequest, files: ServedFiles, entry: Entry, content_type: str, headers: dict[str, str]
) -> web.StreamResponse:
    """Answer for ``entry``: 304, 416, 206 or 200, from memory, by sendfile or from the store."""
    fd: int | None = None
    if entry.path is not None:
        if (opened := open_entry(entry)) is None:
            return _not_found()
        fd, entry = opened
    try:
        headers = {**headers, **entry.validators}
        outcome = serving.evaluate(request.headers, entry.size, entry.etag, entry.mtime)
        if outcome == 304:
            return web.Response(status=304, headers=headers)
        if outcome == 416:
            return _plain(416, "416 Range Not Satisfiable\n", {**headers, "Content-Range": f"bytes */{entry.size}"})
        status, start, length = 200, 0, entry.size
        if isinstance(outcome, serving.ByteRange):
            status, start, length = 206, outcome.start, outcome.length
            headers["Content-Range"] = outcome.content_range
        headers["Content-Type"] = content_type
        if fd is not None:
            response = SendfileResponse(fd, start, length, status=status, headers=headers)
            fd = None  # the response closes it
            return response
        if request.method == "HEAD":
            return web.Response(status=status, headers={**headers, "Content-Length": str(length)})
        if entry.body is None:
            return web.Response(status=status, body=await files.read(entry, start, length), headers=headers)
        body = entry.body if status == 200 else entry.body[start : start + length]
        return web.Response(status=status, body=body, headers=headers)
    finally:
        if fd is not None:
            os.close(fd)


class Handler:
    """Routes a request path to a key of the tree (the single handler of the app)."""

    def __init__(
        self,
        files: ServedFiles,
        *,
        hash_index: bool,
        root_path: str,
        json_enabled: bool,
        not_carried: NotCarried | None = None,
    ) -> None:
        self.files, self.hash_index, self.json_enabled = files, hash_index, json_enabled
        self.not_carried = not_carried or NotCarried()
        self.root_path = root_path
        self.prefix = "/" + root_path.strip("/") + "/" if root_path.strip("/") else "/"
        self.status = StatusPage(files.store, self.prefix)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            return _plain(405, "405 Method Not Allowed\n", {"Allow": "GET, HEAD"})
        parts = serving.split_path(request.raw_path, self.root_path)
        if parts is None:
            return _not_found()
        segments, slash = parts
        if any(segment.startswith(layout.TEMP_PREFIX) for segment in segments):
            return _not_found()  # a temp file or directory: never a finished file
        match segments:
            case ["simple"]:
                return await self.root(request) if slash else self.redirect(request, "simple/")
            case ["simple", name]:
                return await self.project(request, name, slash)
            case ["packages", _, *_] if not slash:
                kind = TEXT if segments[-1].endswith(".metadata") else "application/octet-stream"
                return await self.document(request, "web/" + "/".join(segments), kind, page=False)
            case ["json", name] if self.json_enabled and not slash:
                return await self.json_doc(request, name, layout.json_key, "json/{}")
            case ["pypi", name, "json"] if self.json_enabled and not slash:
                return await self.json_doc(request, name, layout.pypi_json_key, "pypi/{}/json")
            case ["feed", *rest] if rest and not slash:  # the change feed (docs/feed.md): static JSON files
                return await self.feed(request, "/".join(rest))
            case ["last-modified"] if not slash:
                return await self.document(request, layout.LAST_MODIFIED, TEXT)
            case ["-", "health"] if not slash:
                return await self.health()
            case [] if slash:
                return await self.status.html(request)
            case ["-", "status.json"] if not slash:
                return await self.status.json(request)
        return _not_found()

    def redirect(self, request: web.BaseRequest, path: str) -> web.Response:
        query = request.query_string
        location = self.prefix + path + (f"?{query}" if query else "")
        return web.Response(status=301, headers={"Location": location}, text=f"moved to {location}\n")

    async def project(self, request: web.BaseRequest, name: str, slash: bool) -> web.StreamResponse:
        canonical = canonicalize_name(name)
        if canonical != name or not slash:
            return self.redirect(request, f"simple/{quote(canonical)}/")
        try:
            directory = layout.simple_dir(canonical, self.hash_index)
        except FrumiousError:
            return _not_found()
        found = await self.simple(request, directory)
        if found.status == 404:  # not carried: filtered-projects says what instead (serve/policy.py)
            return self.not_carried.answer(canonical, request.query_string) or found
        return found

    async def root(self, request: web.BaseRequest) -> web.StreamResponse:
        # The mirror's serial (``status``), which a downstream mirror records as the point it reached;
        # the root page's own ``_last-serial`` is the same number, but HTML roots carry none.
        return await self.simple(request, layout.SIMPLE, root=True)

    async def simple(self, request: web.BaseRequest, directory: str, *, root: bool = False) -> web.StreamResponse:
        found: dict[Variant, Entry] = {}
        serial_of = None if root else serving.page_serial
        for offer in Variant:
            if entry := await self.files.lookup(f"{directory}/{offer.filename}", page=True, serial_of=serial_of):
                found[offer] = replace(entry, serial=await self.files.mirror_serial()) if root else entry
        for html, twin in ((Variant.TEXT_HTML, Variant.V1_HTML), (Variant.V1_HTML, Variant.TEXT_HTML)):
            if html not in found and twin in found:  # the two HTML files hold the same bytes
                found[html] = found[twin]
        if not found:
            return _not_found()
        variant = serving.choose(request.headers.get("Accept"), found, request.query.get("format"))
        headers = {"Vary": "Accept", "Cache-Control": PAGE_CACHE_CONTROL}
        if variant is None:
            offered = ", ".join(v.media_type for v in found)
            return _plain(406, f"406 Not Acceptable; this page is available as: {offered}\n", headers)
        media = "text/html; charset=utf-8" if variant is Variant.TEXT_HTML else variant.media_type
        return await respond(request, self.files, found[variant], media, headers)

    async def json_doc(
        self, request: web.BaseRequest, name: str, key_of: Callable[[str], str], path: str
    ) -> web.StreamResponse:
        canonical = canonicalize_name(name)
        if canonical != name:
            return self.redirect(request, path.format(quote(canonical)))
        try:
            key = key_of(canonical)
        except FrumiousError:
            return _not_found()
        return await self.document(request, key, "application/json", serial_of=serving.document_serial)

    async def document(
        self, request: web.BaseRequest, key: str, kind: str, *, page: bool = True, serial_of: SerialOf | None = None
    ) -> web.StreamResponse:
        if (entry := await self.files.lookup(key, page=page, serial_of=serial_of)) is None:
            return _not_found()
        cache = PAGE_CACHE_CONTROL if page else FILE_CACHE_CONTROL
        return await respond(request, self.files, entry, kind, {"Cache-Control": cache})

    async def feed(self, request: web.BaseRequest, path: str) -> web.StreamResponse:
        if (entry := await self.files.lookup(f"web/feed/{path}", page=False)) is None:
            return _not_found()
        # Segments never change once written; the head does at every run, so it is always revalidated.
        cache = "no-cache" if path == "head.json" else FILE_CACHE_CONTROL
        return await respond(request, self.files, entry, "application/json", {"Cache-Control": cache})

    async def health(self) -> web.Response:
        serial: int | None = None
        with contextlib.suppress(FrumiousError):  # no status yet, or one without a serial
            serial = statefiles.parse_serial((await self.files.store.read(layout.STATUS)).decode("ascii", "replace"))
        body = {"status": "ok", "serial": serial, "store": self.files.store.description}
        return web.json_response(body, headers={"Cache-Control": "no-store"})


def make_app(
    store: Store,
    *,
    hash_index: bool,
    root_path: str = "/",
    json_enabled: bool = True,
    not_carried: NotCarried | None = None,
) -> web.Application:
    """The aiohttp application serving ``store``'s ``web/`` tree."""
    app = web.Application()
    files = ServedFiles(store)
    handler = Handler(
        files, hash_index=hash_index, root_path=root_path, json_enabled=json_enabled, not_carried=not_carried
    )
    app.router.add_route("*", "/{tail:.*}", handler.handle)
    return app
