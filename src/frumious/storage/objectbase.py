"""What the S3 and Swift backends share: key mapping, metadata, spooled writers, a thread pool.

Object stores keep bandersnatch's conventions so a bucket or container it wrote is
continued without downloads: user metadata ``<digest name>`` (``sha256``) and
``uploaded-at`` (an epoch float as a string), and ``.s3keep``/``.swiftkeep``
directory markers, which are understood but never written or required.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, ParamSpec, TypeVar

import msgspec

from frumious.errors import StorageError
from frumious.storage.base import ObjectInfo

P = ParamSpec("P")
T = TypeVar("T")

UPLOADED_AT = "uploaded-at"
# bandersnatch's short-lived Swift backend (<= 6.x) recorded an integer epoch here.
LEGACY_SWIFT_UPLOADED = "upload"
# Directory markers written by bandersnatch's S3 and Swift backends.
KEEP_MARKERS = frozenset({".s3keep", ".swiftkeep"})
# Only metadata named after a hash algorithm counts as a digest.
DIGEST_NAMES = frozenset(hashlib.algorithms_guaranteed)
SPOOL_CHUNK = 1024 * 1024


def hidden(key: str) -> bool:
    """Markers and console-made "folder" objects are not mirror content."""
    return key.endswith("/") or key.rsplit("/", 1)[-1] in KEEP_MARKERS


def join(prefix: str, key: str) -> str:
    key = key.strip("/")
    if not prefix:
        return key
    return f"{prefix}/{key}" if key else prefix


def dir_prefix(prefix: str, key: str) -> str:
    """The listing prefix for everything under ``key/`` ("" lists the whole store)."""
    full = join(prefix, key)
    return f"{full}/" if full else ""


def metadata(mtime: float | None, digests: Mapping[str, str] | None) -> dict[str, str]:
    meta = {name.lower(): value for name, value in (digests or {}).items()}
    if mtime is not None:
        # repr-exact float text, as bandersnatch writes str(datetime.timestamp()).
        meta[UPLOADED_AT] = str(float(mtime))
    return meta


def info_from_meta(size: int, meta: Mapping[str, str]) -> ObjectInfo:
    lowered = {name.lower(): value for name, value in meta.items()}
    digests = {name: value for name, value in lowered.items() if name in DIGEST_NAMES and value}
    return ObjectInfo(size=size, mtime=parse_epoch(lowered), digests=digests)


def parse_epoch(meta: Mapping[str, str]) -> float | None:
    for name in (UPLOADED_AT, LEGACY_SWIFT_UPLOADED):
        raw = meta.get(name)
        if raw:
            try:
                return float(raw)
            except ValueError:
                continue
    return None


def content_type(key: str) -> str:
    """The Content-Type static hosting (S3 website, Swift staticweb, a CDN) will serve."""
    name = key.rsplit("/", 1)[-1]
    if name.endswith(".html"):
        return "text/html; charset=utf-8"
    if name == "index.v1_json":
        return "application/vnd.pypi.simple.v1+json"
    if name == "index.v1_html":
        return "application/vnd.pypi.simple.v1+html"
    if key.startswith(("web/json/", "web/pypi/")) or key.endswith("/json"):
        return "application/json"
    if name.endswith(".metadata"):
        return "text/plain; charset=utf-8"
    # Never guess an encoding: a .tar.gz served with Content-Encoding: gzip gets unpacked by clients.
    return "application/octet-stream"


class PrefixedKeys:
    """Keys of an object store live under ``prefix``."""

    prefix: str

    def _key(self, key: str) -> str:
        return join(self.prefix, key)

    def _relative(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full


class Blocking:
    """A bounded thread pool for a blocking client library, so the event loop never waits on it."""

    def __init__(self, workers: int, name: str) -> None:
        self.executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=name)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class Spooled(msgspec.Struct, frozen=True):
    """A finished spool file, ready to upload."""

    path: str
    size: int
    md5: str


# Uploads a spooled file as ``key`` with the given metadata; must make it visible only complete.
Uploader = Callable[[Spooled, dict[str, str]], Awaitable[None]]


class SpoolWriter:
    """An ObjectWriter for object stores: chunks go to a local temp file, commit uploads it.

    The temp file bounds memory whatever the object size, and lets the upload be retried
    or split into parts. The MD5 is computed on the way so the server can check the body.
    """

    def __init__(self, key: str, description: str, upload: Uploader, spool_dir: str | None) -> None:
        self.key = key
        self._description = description
        self._upload = upload
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._size = 0
        try:
            fd, self._path = tempfile.mkstemp(prefix=".frumious-spool-", dir=spool_dir)
        except OSError as exc:
            raise StorageError(f"cannot create a spool file for {key}: {exc.strerror}") from exc
        self._handle: BinaryIO | None = os.fdopen(fd, "wb")

    async def write(self, chunk: bytes) -> None:
        if self._handle is None:
            raise StorageError(f"write to {self.key} after commit or abort")
        # A local page-cache write, like the filesystem backend's; not worth a thread hop per chunk.
        self._handle.write(chunk)
        self._md5.update(chunk)
        self._size += len(chunk)

    async def commit(self, *, mtime: float | None = None, digests: Mapping[str, str] | None = None) -> None:
        if self._handle is None:
            raise StorageError(f"commit of {self.key} after commit or abort")
        self._handle.close()
        self._handle = None
        try:
            await self._upload(Spooled(self._path, self._size, self._md5.hexdigest()), metadata(mtime, digests))
        finally:
            _remove(self._path)

    async def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        _remove(self._path)


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
