"""The filesystem backend: keys are paths under the mirror directory.

Writes go to a dot-prefixed temp file in the target directory and are renamed
into place, so a reader never sees a partial file. Durability is one
``flush()`` (a sync) before the serial advances, instead of an fsync per file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import BinaryIO

import filelock

from frumious.errors import LockHeld, ObjectMissing, StorageError
from frumious.storage.base import ObjectInfo

FILE_MODE = 0o644


class FilesystemStore:
    def __init__(self, root: str, *, manage_permissions: bool = True) -> None:
        self.root = Path(root)
        self.manage_permissions = manage_permissions

    @property
    def description(self) -> str:
        return str(self.root)

    def local_path(self, key: str) -> str | None:
        return str(self._path(key))

    def _path(self, key: str) -> Path:
        return self.root / key

    async def read(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectMissing(f"{key} is missing from {self.root}") from None
        except OSError as exc:
            raise StorageError(f"cannot read {self._path(key)}: {exc.strerror}") from exc

    async def write(
        self, key: str, data: bytes, *, mtime: float | None = None, digests: Mapping[str, str] | None = None
    ) -> None:
        writer = await self.writer(key)
        try:
            await writer.write(data)
            await writer.commit(mtime=mtime)
        except BaseException:
            await writer.abort()
            raise

    async def writer(self, key: str) -> FileWriter:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:200]}.", dir=path.parent)
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc.strerror}") from exc
        return FileWriter(path, Path(tmp), os.fdopen(fd, "wb"))

    async def stat(self, key: str) -> ObjectInfo | None:
        try:
            st = self._path(key).stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return ObjectInfo(size=st.st_size, mtime=st.st_mtime)

    async def digest(self, key: str, algorithm: str) -> str | None:
        return await asyncio.to_thread(_hash_file, self._path(key), algorithm)

    async def set_meta(self, key: str, *, mtime: float | None, digests: Mapping[str, str]) -> None:
        if mtime is not None:
            os.utime(self._path(key), (mtime, mtime))

    async def delete(self, key: str) -> bool:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except IsADirectoryError:
            return await self.delete_prefix(key) > 0
        _prune_empty_parents(path.parent, self.root)
        return True

    async def delete_prefix(self, prefix: str) -> int:
        return await asyncio.to_thread(_remove_tree, self._path(prefix), self.root)

    async def exists(self, key: str) -> bool:
        return self._path(key).exists()

    async def walk(self, prefix: str) -> AsyncIterator[str]:
        base = self._path(prefix)
        for dirpath, _dirs, files in os.walk(base):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in files:
                yield f"{rel}/{name}"
            await asyncio.sleep(0)

    async def children(self, prefix: str) -> list[str]:
        try:
            with os.scandir(self._path(prefix)) as entries:
                return [entry.name for entry in entries]
        except (FileNotFoundError, NotADirectoryError):
            return []

    async def copy(self, src: str, dst: str) -> None:
        source, target = self._path(src), self._path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.close(fd)
        try:
            copier = shutil.copy2 if self.manage_permissions else shutil.copyfile
            copier(source, tmp)
            if not self.manage_permissions:
                os.chmod(tmp, FILE_MODE)
            os.replace(tmp, target)
        except FileNotFoundError:
            os.unlink(tmp)
            raise ObjectMissing(f"{src} is missing from {self.root}") from None

    async def link(self, key: str, target: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Relative links keep the tree valid when it is moved or served from a container.
        relative = os.path.relpath(self._path(target), path.parent)
        tmp = path.parent / f".{path.name}.link{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(relative)
        os.replace(tmp, path)

    async def lock(self, key: str) -> FileLockHandle:
        self.root.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(self._path(key)), timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise LockHeld(f"another run holds {self._path(key)}; exiting") from None
        return FileLockHandle(lock)

    async def flush(self) -> None:
        await asyncio.to_thread(os.sync)

    async def close(self) -> None:
        return None


class FileWriter:
    def __init__(self, path: Path, tmp: Path, handle: BinaryIO) -> None:
        self.path, self.tmp = path, tmp
        self.handle = handle
        self.done = False

    async def write(self, chunk: bytes) -> None:
        self.handle.write(chunk)

    async def commit(self, *, mtime: float | None = None, digests: Mapping[str, str] | None = None) -> None:
        self.handle.close()
        os.chmod(self.tmp, FILE_MODE)
        if mtime is not None:
            os.utime(self.tmp, (mtime, mtime))
        try:
            os.replace(self.tmp, self.path)
        except IsADirectoryError:
            await self.abort()
            raise StorageError(f"cannot replace directory {self.path} with a file") from None
        self.done = True

    async def abort(self) -> None:
        if self.done:
            return
        self.done = True
        self.handle.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


class FileLockHandle:
    def __init__(self, lock: filelock.FileLock) -> None:
        self._lock = lock

    async def release(self) -> None:
        self._lock.release()


def _hash_file(path: Path, algorithm: str) -> str | None:
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, algorithm).hexdigest()
    except (FileNotFoundError, IsADirectoryError):
        return None


def _remove_tree(path: Path, root: Path) -> int:
    if not path.exists():
        return 0
    if not path.is_dir() or path.is_symlink():
        path.unlink()
        return 1
    count = sum(len(files) + sum(1 for d in dirs if (Path(top) / d).is_symlink()) for top, dirs, files in os.walk(path))
    shutil.rmtree(path)
    _prune_empty_parents(path.parent, root)
    return count


def _prune_empty_parents(directory: Path, root: Path) -> None:
    """Remove directories left empty, up to the top-level area (web/packages etc.)."""
    stop = {root, root / "web", root / "web" / "packages", root / "web" / "simple", root / "web" / "json"}
    while directory not in stop and root in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent
