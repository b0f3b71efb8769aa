"""The filesystem backend: keys are paths under the mirror directory.

Writes go to a dot-prefixed temp file in the target directory and are renamed
into place, so a reader never sees a partial file. Durability is one
``flush()`` (a sync) before the serial advances, instead of an fsync per file.

A full sync writes tens of thousands of files, so a write is kept to the fewest
system calls: the temp file is created ``O_EXCL`` under a name unique to this
process (no random names, no retries), its directory only when the create says
it is missing, its mode set by ``open`` unless the umask would strip bits, its
time set on the open descriptor, then one rename.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import filelock

from frumious.errors import LockHeld, ObjectMissing, StorageError
from frumious.storage.base import ObjectInfo

FILE_MODE = 0o644
INLINE_DIGEST = 256 * 1024  # files up to this size are hashed on the event loop's thread
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_serials = itertools.count()


_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):  # temp names carry the pid; a forked child must not reuse ours
    os.register_at_fork(after_in_child=_forked)


def _make_dir(directory: str) -> None:
    """Most new files land in a new leaf directory (packages/aa/bb/<hash>/) of an existing parent."""
    try:
        os.mkdir(directory)
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)
    except FileExistsError:
        pass  # made meanwhile, or a file (the retried open reports that)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class FilesystemStore:
    def __init__(self, root: str, *, manage_permissions: bool = True) -> None:
        self.root = Path(root)
        self.manage_permissions = manage_permissions
        self._base = str(self.root)
        # Files are created 0644; only a umask that strips some of those bits needs a chmod.
        self._fix_mode = bool(_umask() & FILE_MODE)

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
        path = f"{self._base}/{key}"
        directory, _, name = path.rpartition("/")
        try:
            tmp, fd = self._create(directory, name)
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc.strerror}") from exc
        return FileWriter(path, tmp, fd, self._fix_mode)

    def _create(self, directory: str, name: str) -> tuple[str, int]:
        """A new temp file next to ``directory/name``: its path and an open descriptor."""
        for _attempt in range(100):
            tmp = f"{directory}/.{name[:200]}.{_pid}-{next(_serials)}"
            try:
                return tmp, os.open(tmp, _CREATE, FILE_MODE)
            except FileNotFoundError:
                _make_dir(directory)
            except FileExistsError:
                continue  # left behind by an earlier process that had our pid
        raise FileExistsError(errno.EEXIST, "no free temp file name", directory)

    async def stat(self, key: str) -> ObjectInfo | None:
        try:
            st = os.stat(f"{self._base}/{key}")
        except (FileNotFoundError, NotADirectoryError):
            return None
        return ObjectInfo(size=st.st_size, mtime=st.st_mtime)

    async def digest(self, key: str, algorithm: str) -> str | None:
        path = f"{self._base}/{key}"
        try:
            if os.stat(path).st_size <= INLINE_DIGEST:
                # Most release files are small: hashing one here costs less than the thread hop.
                return _hash_file(path, algorithm)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return await asyncio.to_thread(_hash_file, path, algorithm)

    async def set_meta(self, key: str, *, mtime: float | None, digests: Mapping[str, str]) -> None:
        if mtime is not None:
            os.utime(f"{self._base}/{key}", (mtime, mtime))

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
    """An open temp file; ``commit`` renames it over the target, ``abort`` removes it."""

    __slots__ = ("done", "fd", "fix_mode", "path", "tmp")

    def __init__(self, path: str, tmp: str, fd: int, fix_mode: bool) -> None:
        self.path, self.tmp, self.fd, self.fix_mode = path, tmp, fd, fix_mode
        self.done = False

    async def write(self, chunk: bytes) -> None:
        # Written here, not on a thread: measured, a hand-off per chunk cost more than it saved
        # (downloads hash large files on a thread instead).
        written = os.write(self.fd, chunk)
        if written < len(chunk):  # rare (a signal, a full disk): finish or raise
            with memoryview(chunk) as view:
                while written < len(chunk):
                    written += os.write(self.fd, view[written:])

    async def commit(self, *, mtime: float | None = None, digests: Mapping[str, str] | None = None) -> None:
        fd, self.fd = self.fd, -1
        try:
            if self.fix_mode:
                os.fchmod(fd, FILE_MODE)
            if mtime is not None:
                os.utime(fd, (mtime, mtime))
        finally:
            os.close(fd)
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
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)


class FileLockHandle:
    """A flock lasts as long as this process: it cannot be lost, so there is nothing to watch."""

    def __init__(self, lock: filelock.FileLock) -> None:
        self._lock = lock

    def stop_on_loss(self, task: asyncio.Task[object]) -> None:
        return None

    def check(self) -> None:
        return None

    async def release(self) -> None:
        self._lock.release()


def _hash_file(path: str, algorithm: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, algorithm).hexdigest()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
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
