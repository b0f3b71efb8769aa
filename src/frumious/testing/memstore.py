"""An in-memory storage backend: the backend guide's example (docs/storage.md), run by the tests.

It implements only the seven required verbs of ``Store`` and ``from_settings``; every other
verb is the base class's default. Its objects live in a ``Volume`` that several stores may
share, as several runs share a bucket. It is for tests: a mirror kept in memory is gone when
the process exits, so the ``memory`` backend is not registered by frumious's own install.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

from frumious.errors import LockHeld, ObjectMissing, StorageError
from frumious.settings import Settings
from frumious.storage.base import ObjectInfo, Store


@dataclass(frozen=True, slots=True)
class Stored:
    data: bytes
    mtime: float | None
    digests: Mapping[str, str]


@dataclass(slots=True)
class Volume:
    """What a bucket would hold: the objects, and the lock keys taken."""

    objects: dict[str, Stored] = field(default_factory=dict)
    locks: set[str] = field(default_factory=set)


VOLUMES: dict[str, Volume] = {}  # by [memory] volume, so every store opened on one name shares it


class MemoryStore(Store):
    def __init__(self, volume: Volume | None = None, name: str = "") -> None:
        self.volume = Volume() if volume is None else volume
        self.name = name

    @classmethod
    def from_settings(cls, settings: Settings) -> MemoryStore:
        # A backend reads its own section; [memory] volume names the shared Volume.
        name = settings.sections.get("memory", {}).get("volume", "default")
        return cls(VOLUMES.setdefault(name, Volume()), name)

    @property
    def description(self) -> str:
        return f"memory://{self.name}"

    async def read(self, key: str) -> bytes:
        stored = self.volume.objects.get(key)
        if stored is None:
            raise ObjectMissing(f"{key} is missing from {self.description}")
        return stored.data

    async def writer(self, key: str) -> MemoryWriter:
        return MemoryWriter(self.volume, key)

    async def stat(self, key: str) -> ObjectInfo | None:
        stored = self.volume.objects.get(key)
        if stored is None:
            return None
        return ObjectInfo(size=len(stored.data), mtime=stored.mtime, digests=dict(stored.digests))

    async def set_meta(self, key: str, *, mtime: float | None, digests: Mapping[str, str]) -> None:
        stored = self.volume.objects.get(key)
        if stored is None:
            raise ObjectMissing(f"{key} is missing from {self.description}")
        # Merged, not replaced: a call with only a time keeps the digests recorded before.
        merged = {**stored.digests, **digests}
        self.volume.objects[key] = Stored(stored.data, stored.mtime if mtime is None else mtime, merged)

    async def delete(self, key: str) -> bool:
        return self.volume.objects.pop(key, None) is not None

    async def walk(self, prefix: str) -> AsyncIterator[str]:
        start = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
        # A snapshot: the caller may write or delete while it iterates.
        for key in [k for k in self.volume.objects if k.startswith(start)]:
            yield key
            await asyncio.sleep(0)

    async def lock(self, key: str) -> MemoryLock:
        if key in self.volume.locks:
            raise LockHeld(f"another run holds {key} in {self.description}; exiting")
        self.volume.locks.add(key)
        return MemoryLock(self.volume, key)


class MemoryWriter:
    """Chunks collect here; ``commit`` stores them in one step, so readers never see a part."""

    def __init__(self, volume: Volume, key: str) -> None:
        self.volume, self.key = volume, key
        self.chunks: list[bytes] | None = []

    async def write(self, chunk: bytes) -> None:
        if self.chunks is None:
            raise StorageError(f"write to {self.key} after commit or abort")
        self.chunks.append(bytes(chunk))

    async def commit(self, *, mtime: float | None = None, digests: Mapping[str, str] | None = None) -> None:
        if self.chunks is None:
            raise StorageError(f"commit of {self.key} after commit or abort")
        data, self.chunks = b"".join(self.chunks), None
        self.volume.objects[self.key] = Stored(data, mtime, dict(digests or {}))

    async def abort(self) -> None:
        self.chunks = None


class MemoryLock:
    """Held until released; nothing can take it away, so there is no loss to watch."""

    def __init__(self, volume: Volume, key: str) -> None:
        self.volume, self.key = volume, key

    def stop_on_loss(self, task: asyncio.Task[object]) -> None:
        return None

    def check(self) -> None:
        return None

    async def release(self) -> None:
        self.volume.locks.discard(self.key)
