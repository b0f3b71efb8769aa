"""The storage port: the narrow async interface every backend implements.

Backends know keys, not projects. A key is a ``/``-separated path relative to the
mirror root (``status``, ``web/simple/foo/index.html``). Every write becomes
visible atomically and complete: ``write`` replaces in one step, and an
``ObjectWriter`` shows nothing until ``commit``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a single stat/HEAD tells about a stored object."""

    size: int
    # The upload time recorded for the object: mtime on the filesystem, the
    # ``uploaded-at`` user metadata on object stores (None when absent).
    mtime: float | None
    # Digests recorded with the object (object-store metadata); empty when the
    # backend records none and the content must be hashed.
    digests: Mapping[str, str] = field(default_factory=dict)


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


class Store(Protocol):
    """A mirror's storage, addressed by key."""

    @property
    def description(self) -> str:
        """Where the mirror lives, for messages (a path or a URL)."""
        ...

    def local_path(self, key: str) -> str | None:
        """The filesystem path of a key, or None when the store is not local."""
        ...

    async def read(self, key: str) -> bytes:
        """The object's bytes; raises ObjectMissing."""
        ...

    async def write(
        self, key: str, data: bytes, *, mtime: float | None = None, digests: Mapping[str, str] | None = None
    ) -> None:
        """Replace ``key`` with ``data`` atomically."""
        ...

    async def writer(self, key: str) -> ObjectWriter:
        """Start a streamed write of ``key``."""
        ...

    async def stat(self, key: str) -> ObjectInfo | None:
        """Size, upload time and recorded digests, or None when missing."""
        ...

    async def digest(self, key: str, algorithm: str) -> str | None:
        """Hash the object's content; None when missing."""
        ...

    async def set_meta(self, key: str, *, mtime: float | None, digests: Mapping[str, str]) -> None:
        """Record upload time and digests for an existing object."""
        ...

    async def delete(self, key: str) -> bool:
        """Remove an object; True when something was removed."""
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Remove every object under ``prefix/``; the count removed."""
        ...

    async def exists(self, key: str) -> bool: ...

    def walk(self, prefix: str) -> AsyncIterator[str]:
        """Every object key under ``prefix/``, recursively, in no set order."""
        ...

    async def children(self, prefix: str) -> list[str]:
        """Names directly under ``prefix/`` (objects and pseudo-directories)."""
        ...

    async def copy(self, src: str, dst: str) -> None:
        """Atomically make ``dst`` a copy of ``src``."""
        ...

    async def link(self, key: str, target: str) -> None:
        """Make ``key`` resolve to ``target``: a symlink, or a copy on object stores."""
        ...

    async def lock(self, key: str) -> Lock:
        """Take the mirror lock or raise LockHeld at once."""
        ...

    async def flush(self) -> None:
        """Make everything written so far durable."""
        ...

    async def close(self) -> None: ...
