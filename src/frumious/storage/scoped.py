"""A shard's view of the store: its state files under its own prefix, every other key shared.

A shard (``mirror --shard I/N``) keeps exactly the state files a single mirror keeps, so the
core reads and writes them as it always does; this view moves them under
``.frumious/shards/I-of-N/``: ``status``, ``todo``, the lock, the record (``frumious.sqlite``),
``web/last-modified`` (the record's stamp; the public one is the publish step's) and everything
under ``.frumious/`` but the temp directories. Pages and ``web/packages/`` are shared: the
shards hold disjoint projects and files are content-addressed, so no two shards write one key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence

from frumious.protocol import layout
from frumious.settings import Settings
from frumious.shard import SHARDS_DIR, Shard
from frumious.storage.base import LocalPaths, Lock, ObjectInfo, ObjectWriter, Store, local_paths

__all__ = ["ShardStore", "as_shard", "private_key", "scoped"]

# The state files at the top of a mirror, each shard's own.
_TOP = frozenset({layout.STATUS, layout.TODO, layout.LOCK, layout.RECORD, layout.LAST_MODIFIED})
_STATE_DIR = ".frumious"
# Shared under .frumious: the filesystem's temps (a shard's are tagged instead) and the shards' own tree.
_SHARED = (layout.TEMP_DIR, layout.TEMP_DIRS, SHARDS_DIR)


def private_key(key: str) -> bool:
    """Whether ``key`` is a state file each shard keeps for itself."""
    if key in _TOP:
        return True
    if key == _STATE_DIR:
        return True
    if not key.startswith(_STATE_DIR + "/"):
        return False
    return not any(key == shared or key.startswith(shared + "/") for shared in _SHARED)


class ShardStore(Store):
    """``inner`` with one shard's state files moved under the shard's prefix."""

    def __init__(self, inner: Store, shard: Shard) -> None:
        self.inner, self.shard = inner, shard
        self._prefix = shard.prefix + "/"

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        raise TypeError("a ShardStore wraps an open store (storage.scoped)")

    def key(self, key: str) -> str:
        return self._prefix + key if private_key(key) else key

    @property
    def description(self) -> str:
        return f"{self.inner.description} (shard {self.shard})"

    async def read(self, key: str) -> bytes:
        return await self.inner.read(self.key(key))

    async def writer(self, key: str) -> ObjectWriter:
        return await self.inner.writer(self.key(key))

    async def stat(self, key: str) -> ObjectInfo | None:
        return await self.inner.stat(self.key(key))

    async def set_meta(self, key: str, *, mtime: float | None, digests: Mapping[str, str]) -> None:
        await self.inner.set_meta(self.key(key), mtime=mtime, digests=digests)

    async def delete(self, key: str) -> bool:
        return await self.inner.delete(self.key(key))

    async def walk(self, prefix: str) -> AsyncIterator[str]:
        mapped = self.key(prefix) if prefix else prefix
        async for key in self.inner.walk(mapped):
            if mapped != prefix:
                yield key[len(self._prefix) :]
            elif not key.startswith(self._prefix):
                yield key

    async def lock(self, key: str) -> Lock:
        return await self.inner.lock(self.key(key))

    async def write(
        self, key: str, data: bytes, *, mtime: float | None = None, digests: Mapping[str, str] | None = None
    ) -> None:
        await self.inner.write(self.key(key), data, mtime=mtime, digests=digests)

    async def write_alike(self, keys: Sequence[str], data: bytes, *, new_dir: bool = False) -> None:
        await self.inner.write_alike([self.key(key) for key in keys], data, new_dir=new_dir)

    async def exists(self, key: str) -> bool:
        return await self.inner.exists(self.key(key))

    async def digest(self, key: str, algorithm: str) -> str | None:
        return await self.inner.digest(self.key(key), algorithm)

    async def delete_prefix(self, prefix: str) -> int:
        return await self.inner.delete_prefix(self.key(prefix))

    async def children(self, prefix: str) -> list[str]:
        return await self.inner.children(self.key(prefix))

    async def copy(self, src: str, dst: str) -> None:
        await self.inner.copy(self.key(src), self.key(dst))

    async def link(self, key: str, target: str) -> None:
        await self.inner.link(self.key(key), self.key(target))

    async def flush(self) -> None:
        await self.inner.flush()

    async def close(self) -> None:
        await self.inner.close()


class LocalShardStore(ShardStore):
    """A shard's view of a store with local paths (the filesystem): the paths follow the keys."""

    def __init__(self, inner: Store, shard: Shard, paths: LocalPaths) -> None:
        super().__init__(inner, shard)
        self.paths = paths

    def local_path(self, key: str) -> str:
        return self.paths.local_path(self.key(key))


def as_shard(store: Store, shard: Shard) -> ShardStore:
    """The store a shard's own run works through: its view, and (filesystem) its temps tagged with the shard,
    so its lock clears only its own crashed run's temps. Only the shard's process tags: a view alone
    (``scoped``, the publish step reading each shard) must not, or its lock would clear a running shard's."""
    tag = getattr(store, "tag_temps", None)
    if tag is not None:
        tag(f"s{shard.index}of{shard.count}")
    return scoped(store, shard)


def scoped(store: Store, shard: Shard) -> ShardStore:
    """``store`` as shard ``shard`` sees it (a view: the store itself is not changed)."""
    paths = local_paths(store)
    return ShardStore(store, shard) if paths is None else LocalShardStore(store, shard, paths)
