"""The OpenStack Swift backend: a mirror under ``prefix/`` in one container.

Objects carry ``X-Object-Meta-Sha256`` and ``X-Object-Meta-Uploaded-At``, the same
metadata an S3 client sees through Swift's s3api as ``sha256`` and ``uploaded-at``, so
``stat`` is one HEAD. Objects above ``large_object_threshold`` are uploaded as a Static
Large Object whose segments live in ``<container>_segments`` under the object's name.
"""

from __future__ import annotations

import email.utils
import functools
import hashlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import swiftclient

from frumious.errors import ObjectMissing, StorageError
from frumious.settings import Settings
from frumious.storage import objectlock
from frumious.storage.base import ObjectInfo, Store
from frumious.storage.objectbase import (
    Blocking,
    PrefixedKeys,
    Spooled,
    SpoolWriter,
    content_type,
    dir_prefix,
    hidden,
    info_from_meta,
    join,
    metadata,
)
from frumious.storage.swiftconn import Connections, SwiftAuth, failure
from frumious.storage.swiftlarge import upload_large
from frumious.storage.swiftsettings import read_swift

log = logging.getLogger(__name__)

T = TypeVar("T")
GIB = 1024 * 1024 * 1024
META = "x-object-meta-"
DELETE_BATCH = 1000
Headers = dict[str, str]


def _absent(fn: Callable[[swiftclient.Connection], T]) -> Callable[[swiftclient.Connection], T | None]:
    """The same call, answering None where Swift says 404."""

    def call(conn: swiftclient.Connection) -> T | None:
        try:
            return fn(conn)
        except swiftclient.ClientException as exc:
            if exc.http_status == 404:
                return None
            raise

    return call


def _meta_headers(meta: Mapping[str, str]) -> Headers:
    return {f"X-Object-Meta-{name}": value for name, value in meta.items()}


def _user_meta(headers: Mapping[str, str]) -> Headers:
    return {name[len(META) :]: value for name, value in headers.items() if name.lower().startswith(META)}


def _delete_object(container: str, name: str, conn: swiftclient.Connection) -> None:
    conn.delete_object(container, name)


class SwiftStore(PrefixedKeys, Store):
    """A Store in a Swift container. ``from_settings`` reads the config; the constructor takes values."""

    def __init__(
        self,
        container: str,
        prefix: str = "",
        *,
        auth: SwiftAuth,
        concurrency: int = 16,
        attempts: int = 3,
        large_object_threshold: int = 4 * GIB,
        segment_size: int = GIB,
        page_size: int = 10000,
        lock_ttl: float | None = None,  # None: objectlock.DEFAULT_TTL
        lock_settle: float = 2.0,
        spool_dir: str | None = None,
    ) -> None:
        self.container, self.prefix = container, prefix.strip("/")
        self.segments = f"{container}_segments"
        self._conns = Connections(auth, attempts=attempts)
        self._blocking = Blocking(concurrency, "frumious-swift")
        self._threshold, self._segment_size = large_object_threshold, segment_size
        self._page_size = page_size
        self._lock_ttl, self._lock_settle = lock_ttl, lock_settle
        self._conditional = objectlock.ConditionalSupport()
        # Every write below calls self._lease.check() first: nothing is written once the lock is lost.
        self._lease = objectlock.LeaseGuard()
        self._bulk_delete = True
        self._spool_dir = spool_dir

    @classmethod
    def from_settings(cls, settings: Settings) -> SwiftStore:
        swift = read_swift(settings)
        return cls(swift.default_container, settings.mirror.directory, auth=SwiftAuth.from_settings(swift))

    @property
    def description(self) -> str:
        return f"swift://{join(self.container, self.prefix)}"

    async def _do(self, what: str, fn: Callable[[swiftclient.Connection], T]) -> T:
        return await self._blocking.run(self._sync, what, fn)

    def _sync(self, what: str, fn: Callable[[swiftclient.Connection], T]) -> T:
        """Run one call in this worker thread, as a StorageError naming the store if it fails."""
        try:
            return self._conns.call(what, fn)
        except swiftclient.ClientException as exc:
            raise failure(f"{what} in {self.description}", exc) from exc

    # -- reads -----------------------------------------------------------------------------

    async def read(self, key: str) -> bytes:
        got = await self._do(f"read {key}", _absent(lambda c: c.get_object(self.container, self._key(key))))
        if got is None:
            raise ObjectMissing(f"{key} is missing from {self.description}")
        body: bytes = got[1]
        return body

    async def _head(self, key: str) -> Headers | None:
        return await self._do(f"stat {key}", _absent(lambda c: c.head_object(self.container, self._key(key))))

    async def stat(self, key: str) -> ObjectInfo | None:
        headers = await self._head(key)
        return None if headers is None else info_from_meta(int(headers["content-length"]), _user_meta(headers))

    async def exists(self, key: str) -> bool:
        return await self._head(key) is not None

    async def digest(self, key: str, algorithm: str) -> str | None:
        return await self._do(f"digest {key}", _absent(functools.partial(self._hash, key, algorithm)))

    def _hash(self, key: str, algorithm: str, conn: swiftclient.Connection) -> str:
        hasher = hashlib.new(algorithm)
        _headers, body = conn.get_object(self.container, self._key(key), resp_chunk_size=1024 * 1024)
        for chunk in body:
            hasher.update(chunk)
        return hasher.hexdigest()

    # -- writes ----------------------------------------------------------------------------

    async def write(
        self, key: str, data: bytes, *, mtime: float | None = None, digests: Mapping[str, str] | None = None
    ) -> None:
        self._lease.check()
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        headers = _meta_headers(metadata(mtime, digests))
        await self._do(f"write {key}", functools.partial(self._put, key, lambda: data, len(data), etag, headers))

    def _put(
        self, key: str, body: Callable[[], Any], size: int, etag: str, headers: Headers, conn: swiftclient.Connection
    ) -> None:
        # The ETag makes Swift check the body's MD5, so a corrupted upload never lands.
        conn.put_object(
            self.container,
            self._key(key),
            contents=body(),
            content_length=size,
            etag=etag,
            content_type=content_type(key),
            headers=headers,
        )

    async def writer(self, key: str) -> SpoolWriter:
        async def upload(spooled: Spooled, meta: dict[str, str]) -> None:
            self._lease.check()
            await self._blocking.run(self._upload, key, spooled, _meta_headers(meta))

        return SpoolWriter(key, self.description, upload, self._spool_dir)

    def _upload(self, key: str, spooled: Spooled, headers: Headers) -> None:
        if spooled.size <= self._threshold:
            with open(spooled.path, "rb") as handle:

                def rewound() -> Any:
                    handle.seek(0)
                    return handle

                self._sync(
                    f"write {key}", functools.partial(self._put, key, rewound, spooled.size, spooled.md5, headers)
                )
            return
        upload_large(self, key, spooled, headers)

    async def set_meta(self, key: str, *, mtime: float | None, digests: Mapping[str, str]) -> None:
        headers = await self._head(key)
        if headers is None:
            raise ObjectMissing(f"{key} is missing from {self.description}")
        # A POST replaces all user metadata, so send the old values with the new ones.
        self._lease.check()
        merged = _meta_headers({**_user_meta(headers), **metadata(mtime, digests)})
        await self._do(f"set metadata of {key}", lambda c: c.post_object(self.container, self._key(key), merged))

    async def copy(self, src: str, dst: str) -> None:
        self._lease.check()
        destination = f"/{self.container}/{self._key(dst)}"
        copied = await self._do(
            f"copy {src} to {dst}",
            _absent(lambda c: c.copy_object(self.container, self._key(src), destination) or True),
        )
        if copied is None:
            raise ObjectMissing(f"{src} is missing from {self.description}")

    async def link(self, key: str, target: str) -> None:
        # A copy, not a Swift symlink: staticweb and every client then see an ordinary object.
        await self.copy(target, key)

    # -- deletes ---------------------------------------------------------------------------

    async def delete(self, key: str) -> bool:
        headers = await self._head(key)
        if headers is None:
            return False
        self._lease.check()
        gone = await self._do(f"delete {key}", _absent(lambda c: c.delete_object(self.container, self._key(key)) or 1))
        if headers.get("x-static-large-object", "").lower() == "true":
            await self._delete_listed(self.segments, f"{self._key(key)}/")
        return gone is not None

    async def delete_prefix(self, prefix: str) -> int:
        base = dir_prefix(self.prefix, prefix)
        removed = await self._delete_listed(self.container, base)
        await self._delete_listed(self.segments, base)
        return removed

    async def _delete_listed(self, container: str, base: str, keep: str = "") -> int:
        """Delete every object under ``base`` (except names starting with ``keep``); count the visible ones."""
        removed = 0
        async for page in self._pages(container, base):
            names = [item["name"] for item in page if not (keep and item["name"].startswith(keep))]
            for start in range(0, len(names), DELETE_BATCH):
                await self._delete_many(container, names[start : start + DELETE_BATCH])
            removed += sum(1 for name in names if not hidden(name))
        return removed

    async def _delete_many(self, container: str, names: list[str]) -> None:
        if not names:
            return
        self._lease.check()
        if self._bulk_delete:
            if await self._do(f"bulk delete in {container}", functools.partial(self._bulk, container, names)):
                return
            log.info("%s has no bulk delete; deleting one object at a time", self.description)
            self._bulk_delete = False
        for name in names:
            self._lease.check()
            await self._do(f"delete {name}", _absent(functools.partial(_delete_object, container, name)))

    def _bulk(self, container: str, names: list[str], conn: swiftclient.Connection) -> bool:
        """One bulk-delete request; False when the cluster has no bulk middleware."""
        body = "\n".join(quote(f"/{container}/{name}", safe="/") for name in names)
        headers = {"Content-Type": "text/plain", "Accept": "application/json"}
        _headers, raw = conn.post_account(headers=headers, data=body.encode(), query_string="bulk-delete")
        try:
            result = json.loads(raw)
        except ValueError:
            return False
        if not isinstance(result, dict) or "Number Deleted" not in result:
            return False
        errors = [e for e in result.get("Errors", []) if not str(e[1]).startswith("404")]
        if errors or not str(result.get("Response Status", "200")).startswith(("200", "404")):
            raise StorageError(f"bulk delete in {container}: {result.get('Response Status')}, errors {errors[:3]}")
        return True

    # -- listings --------------------------------------------------------------------------

    async def _pages(self, container: str, base: str, delimiter: str = "") -> AsyncIterator[list[dict[str, Any]]]:
        marker = ""
        while True:
            fetch = functools.partial(self._list_page, container, base, marker, delimiter)
            # Only the segments container may be missing (no large object was ever written).
            page = await self._do(f"list {container}/{base}", _absent(fetch) if container == self.segments else fetch)
            page = page or []
            if page:
                yield page
            if len(page) < self._page_size:
                return
            marker = page[-1].get("name") or page[-1]["subdir"]

    def _list_page(self, container: str, base: str, marker: str, delimiter: str, conn: swiftclient.Connection) -> Any:
        _headers, listing = conn.get_container(
            container, prefix=base, marker=marker, limit=self._page_size, delimiter=delimiter or None
        )
        return listing

    async def walk(self, prefix: str) -> AsyncIterator[str]:
        async for page in self._pages(self.container, dir_prefix(self.prefix, prefix)):
            for item in page:
                if not hidden(item["name"]):
                    yield self._relative(item["name"])

    async def children(self, prefix: str) -> list[str]:
        base = dir_prefix(self.prefix, prefix)
        names: set[str] = set()
        async for page in self._pages(self.container, base, "/"):
            for item in page:
                if "subdir" in item:
                    names.add(item["subdir"][len(base) :].rstrip("/"))
                elif not hidden(item["name"]):
                    names.add(item["name"][len(base) :])
        names.discard("")
        return sorted(names)

    # -- lock and lifecycle ----------------------------------------------------------------

    async def lock(self, key: str) -> objectlock.LeaseLock:
        name = f"swift://{self.container}/{self._key(key)}"
        ttl = self._lock_ttl or objectlock.DEFAULT_TTL
        self._lease.lock = await objectlock.acquire(
            _SwiftLeaseIO(self, key), name, support=self._conditional, ttl=ttl, settle=self._lock_settle
        )
        return self._lease.lock

    async def flush(self) -> None:
        # A PUT that returned is durable on the cluster.
        return None

    async def close(self) -> None:
        self._blocking.close()
        self._conns.close()


class _SwiftLeaseIO:
    """The lock object's three calls, for objectlock."""

    def __init__(self, store: SwiftStore, key: str) -> None:
        self._store, self._key = store, key
        self._name = store._key(key)

    async def get(self) -> objectlock.Stored | None:
        # X-Newest: on a multi-replica cluster, ask every replica, so a just-written lease is seen.
        fetch = _absent(lambda c: c.get_object(self._store.container, self._name, headers={"X-Newest": "true"}))
        got = await self._store._do("read lock", fetch)
        if got is None:
            return None
        headers, body = got
        modified = headers.get("last-modified")
        when = email.utils.parsedate_to_datetime(modified).timestamp() if modified else None
        return objectlock.Stored(body, when)

    async def put(self, body: bytes, *, create_only: bool) -> None:
        headers = {"If-None-Match": "*"} if create_only else {}
        await self._store._blocking.run(self._put, body, headers)

    def _put(self, body: bytes, headers: Headers) -> None:
        try:
            self._store._conns.call(
                "write lock", lambda c: c.put_object(self._store.container, self._name, body, headers=headers)
            )
        except swiftclient.ClientException as exc:
            if headers and exc.http_status == 412:
                raise objectlock.CreateConflict from None
            if headers and exc.http_status == 501:
                raise objectlock.ConditionalUnsupported from None
            raise failure(f"write lock {self._name}", exc) from exc

    async def delete(self) -> None:
        await self._store._do("delete lock", _absent(lambda c: c.delete_object(self._store.container, self._name)))
