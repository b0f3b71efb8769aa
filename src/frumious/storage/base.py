"""The storage port: seven verbs every backend implements, the rest built on them.

Backends know keys, not projects. A key is a ``/``-separated path relative to the
mirror root (``status``, ``web/simple/foo/index.html``). Every write becomes
visible atomically and complete: ``write`` replaces in one step, and an
``ObjectWriter`` shows nothing until ``commit``.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Protocol, runtime_checkable

import msgspec

from frumious.errors import ObjectMissing
from frumious.settings import Settings


class ObjectInfo(msgspec.Struct, frozen=True):
    """What a single stat/HEAD tells about a stored object."""

    size: int
    # The upload time recorded for the object: mtime on the filesystem, the
    # ``uploaded-at`` user metadata on object stores (None when absent).
    mtime: float | None
    # Digests recorded with the object (object-store metadata); empty when the
    # backend records none and the content must be hashed.
    digests: Mapping[str, str] = msgspec.field(default_factory=dict)


class ObjectWriter(Protocol):
    """A pending object; nothing is visible until ``commit``."""

    async def write(self, chunk: bytes) -> None: ...

    async def commit(self, *, mtime: float | None = None, digests: Mapping[str, str] | None = None) -> None: ...

    async def abort(self) -> None: ...


class Lock(Protocol):
    """The mirror lock. Object-store leases can be lost mid-run; a flock cannot."""

    def stop_on_loss(self, task: asyncio.Task[object]) -> None:
        """Cancel ``task`` (the run holding the lock) the moment the lock is lost."""
        ...

    def check(self) -> None:
        """Raise LeaseLost when the lock has been lost."""
        ...

    async def release(self) -> None: ...


class Store(abc.ABC):
    """A mirror's storage, addressed by key: the port the core calls.

    A backend subclasses it and implements the seven abstract verbs (``read``, ``writer``,
    ``stat``, ``set_meta``, ``delete``, ``walk``, ``lock``) and ``from_settings``; every other
    verb has a default here built on those, which a backend overrides when it has a faster way
    (the filesystem's rename-based ``write``, a server-side ``copy``, a bulk ``delete_prefix``).
    docs/storage.md is the guide; ``frumious.testing.memstore`` follows it.
    """

    @classmethod
    @abc.abstractmethod
    def from_settings(cls, settings: Settings) -> Store:
        """The store the config names; a backend reads its own section (``settings.sections``)."""

    # -- the required verbs --------------------------------------------------------------------

    @abc.abstractmethod
    async def read(self, key: str) -> bytes:
        """The object's bytes; raises ObjectMissing."""

    @abc.abstractmethod
    async def writer(self, key: str) -> ObjectWriter:
        """Start a streamed write of ``key``; nothing shows until the writer commits."""

    @abc.abstractmethod
    async def stat(self, key: str) -> ObjectInfo | None:
        """Size, upload time and recorded digests, or None when missing."""

    @abc.abstractmethod
    async def set_meta(self, key: str, *, mtime: float | None, digests: Mapping[str, str]) -> None:
        """Record upload time and digests for an existing object (merged with what is there)."""

    @abc.abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove an object; True when something was removed."""

    @abc.abstractmethod
    def walk(self, prefix: str) -> AsyncIterator[str]:
        """Every object key under ``prefix/`` (the whole store for ""), recursively, in no set order."""

    @abc.abstractmethod
    async def lock(self, key: str) -> Lock:
        """Take the mirror lock or raise LockHeld at once."""

    # -- defaults built on them ----------------------------------------------------------------

    @property
    def description(self) -> str:
        """Where the mirror lives, for messages (a path or a URL)."""
        return type(self).__name__

    async def write(
        self, key: str, data: bytes, *, mtime: float | None = None, digests: Mapping[str, str] | None = None
    ) -> None:
        """Replace ``key`` with ``data`` atomically."""
        writer = await self.writer(key)
        try:
            await writer.write(data)
            await writer.commit(mtime=mtime, digests=digests)
        except BaseException:
            await writer.abort()
            raise

    async def write_alike(self, keys: Sequence[str], data: bytes, *, new_dir: bool = False) -> None:
        """Replace each of ``keys`` with the same ``data`` (a page under two names), one after the other.

        ``new_dir``: their directory is most likely new. Filesystems write the bytes once and link them.
        """
        for key in keys:
            await self.write(key, data)

    async def exists(self, key: str) -> bool:
        return await self.stat(key) is not None

    async def digest(self, key: str, algorithm: str) -> str | None:
        """Hash the object's content (never a recorded digest); None when missing."""
        try:
            data = await self.read(key)
        except ObjectMissing:
            return None
        return hashlib.new(algorithm, data).hexdigest()

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix/``; the count removed."""
        # Listed first: deleting while a listing is under way can skip keys on some stores.
        keys = [key async for key in self.walk(prefix)]
        return sum([await self.delete(key) for key in keys])

    async def children(self, prefix: str) -> list[str]:
        """Names directly under ``prefix/`` (objects and pseudo-directories)."""
        start = len(prefix.strip("/")) + 1 if prefix.strip("/") else 0
        return sorted({key[start:].partition("/")[0] async for key in self.walk(prefix)})

    async def copy(self, src: str, dst: str) -> None:
        """Atomically make ``dst`` a copy of ``src``, its time and digests included."""
        info = await self.stat(src)
        if info is None:
            raise ObjectMissing(f"{src} is missing from {self.description}")
        await self.write(dst, await self.read(src), mtime=info.mtime, digests=info.digests)

    async def link(self, key: str, target: str) -> None:
        """Make ``key`` resolve to ``target``: a symlink on filesystems, a copy by default."""
        await self.copy(target, key)

    async def flush(self) -> None:
        """Make everything written so far durable (nothing to do where a commit already is)."""
        return None

    async def close(self) -> None:
        """Release connections and threads; the store is not used after."""
        return None


@runtime_checkable
class LocalPaths(Protocol):
    """The optional capability of a store whose keys are files on this machine.

    ``serve`` uses it for sendfile and the record opens its SQLite file in place; other stores
    lack it and those callers take their object-store path.
    """

    def local_path(self, key: str) -> str:
        """The filesystem path of ``key`` (whether or not it exists)."""
        ...


def local_paths(store: Store) -> LocalPaths | None:
    """The store as ``LocalPaths`` when it has local files; check once, outside loops."""
    return store if isinstance(store, LocalPaths) else None


def local_path(store: Store, key: str) -> str | None:
    """The filesystem path of ``key``, or None when the store is not local."""
    paths = local_paths(store)
    return None if paths is None else paths.local_path(key)
