"""The objects ``frumious serve`` answers with: found in the store, kept in a small page cache.

On a local store files go out with sendfile and small pages are kept in memory, revalidated by
one ``stat`` per request; other stores are read through the port and reused for a few seconds.
Each page and saved JSON document carries its ``X-PyPI-Last-Serial``, read once when it is cached;
the root's is the mirror's (``status``).
"""

from __future__ import annotations

import functools
import os
import stat
import time
from collections import OrderedDict
from collections.abc import Callable
from email.utils import formatdate

import msgspec

from frumious.errors import FrumiousError
from frumious.models import replace
from frumious.protocol import layout, statefiles
from frumious.protocol.serving import make_etag
from frumious.storage.base import Store, local_paths

__all__ = ["CACHE_BYTES", "PAGE_MEMORY_LIMIT", "Entry", "SerialOf", "ServedFiles", "open_entry"]

PAGE_MEMORY_LIMIT = 512 * 1024  # larger pages are sent like files
CACHE_ENTRIES = 4096
CACHE_BYTES = 64 << 20  # pages kept in memory, per process
REMOTE_TTL = 5.0  # seconds a page read from an object store is reused
# Reads the serial an object carries (a page's, a saved JSON document's) for ``X-PyPI-Last-Serial``.
SerialOf = Callable[[bytes], str | None]


class Entry(msgspec.Struct, frozen=True):
    """One stored object ready to be served: validators, and where its bytes are."""

    key: str
    size: int
    mtime: float | None
    etag: str
    body: bytes | None = None  # in memory (pages)
    path: str | None = None  # a local file, sent with sendfile
    serial: str | None = None
    sig: tuple[int, ...] = ()
    loaded: float = 0.0

    @property
    def validators(self) -> dict[str, str]:
        headers = {"ETag": self.etag, "Accept-Ranges": "bytes"}
        if self.mtime is not None:
            headers["Last-Modified"] = _http_date(self.mtime)
        if self.serial is not None:
            headers["X-PyPI-Last-Serial"] = self.serial
        return headers


@functools.lru_cache(maxsize=4096)
def _http_date(mtime: float) -> str:
    return formatdate(mtime, usegmt=True)


def _sig(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


class ServedFiles:
    """Finds objects in the store, refusing anything outside ``web/``, with a small page cache."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._files = local_paths(store)
        web_root = self._files.local_path("web") if self._files else None
        self.local_root = os.path.realpath(web_root) + os.sep if web_root else None
        self._cache: OrderedDict[str, Entry] = OrderedDict()  # least recently used first
        self._bytes = 0
        self._paths: dict[str, str] = {}
        self._status: tuple[tuple[int, ...] | None, str | None] = (None, None)  # (stat signature, serial)
        self._status_read = -REMOTE_TTL
        # Told whether each page found came from the cache (True) or the store: the metrics count both.
        self.on_page: Callable[[bool], None] = _ignore

    def _path(self, key: str) -> str:
        path = self._paths.get(key)
        if path is None:
            if len(self._paths) >= 4 * CACHE_ENTRIES:
                self._paths.clear()
            path = self._paths[key] = self._files.local_path(key) if self._files else ""
        return path

    async def lookup(self, key: str, *, page: bool, serial_of: SerialOf | None = None) -> Entry | None:
        """The object at ``key``; ``serial_of`` reads its ``X-PyPI-Last-Serial`` once, cached with it."""
        if self.local_root is not None:
            return self._local(key, page, serial_of)
        return await self._remote(key, page, serial_of)

    def _local(self, key: str, page: bool, serial_of: SerialOf | None) -> Entry | None:
        path = self._path(key)
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            return None
        cached = self._cache.get(key)
        if cached is not None and cached.sig == _sig(st):
            self._cache.move_to_end(key)
            if page:
                self.on_page(True)
            return cached
        if not stat.S_ISREG(st.st_mode) or not os.path.realpath(path).startswith(self.local_root or "/"):
            return None
        if page:
            self.on_page(False)
        body = _read_small(path) if page and st.st_size <= PAGE_MEMORY_LIMIT else None
        # Pages are rewritten in place of each other: their ETag carries the inode (make_etag). Release
        # files never change, so theirs stays nginx's, the same on both servers.
        etag = make_etag(st.st_size, st.st_mtime, inode=st.st_ino if page else 0)
        if body is None or len(body) != st.st_size:  # large, or replaced while read: sendfile
            serial = _serial(serial_of, _read_all(path)) if serial_of is not None else None
            entry = Entry(key, st.st_size, st.st_mtime, etag, path=path, serial=serial, sig=_sig(st))
        else:
            entry = Entry(key, st.st_size, st.st_mtime, etag, body, serial=_serial(serial_of, body), sig=_sig(st))
        self._remember(entry)
        return entry

    def _remember(self, entry: Entry) -> None:
        if (old := self._cache.pop(entry.key, None)) is not None:
            self._bytes -= len(old.body or b"")
        self._cache[entry.key] = entry
        self._bytes += len(entry.body or b"")
        while len(self._cache) > CACHE_ENTRIES or self._bytes > CACHE_BYTES:
            self._bytes -= len(self._cache.popitem(last=False)[1].body or b"")

    async def _remote(self, key: str, page: bool, serial_of: SerialOf | None) -> Entry | None:
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached.loaded < REMOTE_TTL:
            self.on_page(True)
            return cached
        try:
            info = await self.store.stat(key)
            body = await self.store.read(key) if page and info is not None else None
        except FrumiousError:
            return None
        if info is None:
            return None
        size = len(body) if body is not None else info.size
        serial = _serial(serial_of, body)
        entry = Entry(key, size, info.mtime, make_etag(size, info.mtime, info.digests), body, None, serial)
        if page:
            self.on_page(False)
            self._remember(replace(entry, loaded=time.monotonic()))
        return entry

    async def mirror_serial(self) -> str | None:
        """The serial in ``status`` (outside ``web/``): revalidated by one ``stat`` on a local store."""
        if self._files is not None:
            path = self._path(layout.STATUS)
            try:
                sig = _sig(os.stat(path))
            except (OSError, ValueError):
                return None
            if self._status[0] != sig:
                body = _read_small(path)
                self._status = (sig if body is not None else None, _status_serial(body))
            return self._status[1]
        if time.monotonic() - self._status_read >= REMOTE_TTL:
            try:
                remote: bytes | None = await self.store.read(layout.STATUS)
            except FrumiousError:
                remote = None
            self._status, self._status_read = (None, _status_serial(remote)), time.monotonic()
        return self._status[1]

    async def read(self, entry: Entry, start: int, length: int) -> bytes:
        """Bytes of an entry neither in memory nor local (the port has no ranged read)."""
        return (await self.store.read(entry.key))[start : start + length]


def _ignore(hit: bool) -> None:
    return None


def _status_serial(body: bytes | None) -> str | None:
    if body is None:
        return None
    try:
        serial = statefiles.parse_serial(body.decode("ascii", "replace"))
    except FrumiousError:  # a damaged status: no header rather than a wrong one
        return None
    return None if serial is None else str(serial)


def _serial(serial_of: SerialOf | None, body: bytes | None) -> str | None:
    return serial_of(body) if serial_of is not None and body is not None else None


def _read_all(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _read_small(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(PAGE_MEMORY_LIMIT + 1)
    except OSError:
        return None


def open_entry(entry: Entry) -> tuple[int, Entry] | None:
    """Open a local entry; validators are re-taken when the file changed since the lookup."""
    try:
        fd = os.open(entry.path or "", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    st = os.fstat(fd)
    if _sig(st) != entry.sig:
        paged = entry.etag.count("-") == 2  # a page's ETag carries the inode
        etag = make_etag(st.st_size, st.st_mtime, inode=st.st_ino if paged else 0)
        entry = replace(entry, size=st.st_size, mtime=st.st_mtime, etag=etag, sig=_sig(st))
    return fd, entry
