"""The filesystem backend: keys are paths under the mirror directory.

Writes go to a temp file in a known temp directory on the same filesystem
(see ``fstemp``) and are renamed into place, so a reader never sees a partial
file and a crashed run's temps are found without walking the tree. Durability
is one ``flush()`` (a ``syncfs`` of each filesystem the tree spans: durable.py) before the
serial advances, instead of an fsync per file.

A full sync writes tens of thousands of files, so a write is kept to the fewest
system calls: the temp file is created ``O_EXCL`` under a name unique to this
process (no random names, no retries), the target's directory only when the
rename says it is missing, its mode set by ``open`` unless the umask would strip
bits, its time set on the open descriptor, then one rename.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import filelock

from frumious.errors import LockHeld, ObjectMissing, StorageError, resource_error
from frumious.settings import Settings
from frumious.storage import durable
from frumious.storage.base import ObjectInfo, Store
from frumious.storage.fstemp import FILE_MODE, TempDirs, make_dir

log = logging.getLogger("frumious.storage")

INLINE_DIGEST = 256 * 1024  # files up to this size are hashed on the event loop's thread


def _write_failed(exc: OSError, path: str) -> StorageError:
    """A failed write, naming the target (a temp file's errno carries the wrong name, or none)."""
    exc.filename = path
    return resource_error(exc) or StorageError(f"cannot write {path}: {exc.strerror}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class FilesystemStore(Store):
    """Keys are files under ``root``; it has the ``LocalPaths`` capability."""

    def __init__(self, root: str, *, manage_permissions: bool = True) -> None:
        self.root = Path(root)
        self.manage_permissions = manage_permissions
        self._base = str(self.root)
        # Files are created 0644; only a umask that strips some of those bits needs a chmod.
        self._fix_mode = bool(_umask() & FILE_MODE)
        self.temps = TempDirs(self._base)

    def tag_temps(self, tag: str) -> None:
        """A shard's store (``storage/scoped``): its temps carry ``tag``, and only those are its to clear."""
        self.temps.tag = tag

    @classmethod
    def from_settings(cls, settings: Settings) -> FilesystemStore:
        return cls(settings.mirror.directory, manage_permissions=settings.mirror.manage_permissions)

    @property
    def description(self) -> str:
        return str(self.root)

    def local_path(self, key: str) -> str:
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
        # A small release file or a page, whole: one call from the temp to the rename, not a ``FileWriter``
        # and its three awaits (the per-file Python around the system calls, issue 12).
        path = f"{self._base}/{key}"
        try:
            tmp, fd = self.temps.new_file(key)
        except OSError as exc:
            raise _write_failed(exc, path) from exc
        try:
            _write_all(fd, data, path)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _place(fd, tmp, path, self._fix_mode, mtime, self.temps)

    async def write_alike(self, keys: Sequence[str], data: bytes, *, new_dir: bool = False) -> None:
        """The bytes written once under the first key, the others hard links to it (renamed into place, or
        in a new directory linked in place directly).

        A project's ``index.html`` and ``index.v1_html`` are the same bytes: a link and a rename
        instead of a second open, write, close and rename. ``new_dir`` makes the directory first,
        not after a failed rename.
        """
        if new_dir:
            for directory in {f"{self._base}/{key}".rpartition("/")[0] for key in keys}:
                make_dir(directory)
        first, *others = keys
        await self.write(first, data)
        source = f"{self._base}/{first}"
        for key in others:
            path = f"{self._base}/{key}"
            if new_dir and _linked(source, path):
                continue  # a name new in a new directory: the link alone puts it in place, whole
            try:
                tmp = self.temps.new_link(key, source)
            except OSError:  # no hard links here (or across to the key's temp directory): a write of its own
                await self.write(key, data)
                continue
            try:
                self.temps.place(tmp, path)
            except BaseException as exc:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                if isinstance(exc, OSError):
                    raise _write_failed(exc, path) from exc
                raise

    async def writer(self, key: str) -> FileWriter:
        path = f"{self._base}/{key}"
        try:
            tmp, fd = self.temps.new_file(key)
        except OSError as exc:
            raise _write_failed(exc, path) from exc
        return FileWriter(path, tmp, fd, self._fix_mode, self.temps)

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
        tmp, fd = self.temps.new_file(dst)
        os.close(fd)
        try:
            copier = shutil.copy2 if self.manage_permissions else shutil.copyfile
            copier(source, tmp)
            if not self.manage_permissions:
                os.chmod(tmp, FILE_MODE)
            self.temps.place(tmp, str(target))
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            if isinstance(exc, FileNotFoundError) and not source.exists():
                raise ObjectMissing(f"{src} is missing from {self.root}") from None
            raise

    async def link(self, key: str, target: str) -> None:
        path = self._path(key)
        # Relative links keep the tree valid when it is moved or served from a container.
        relative = os.path.relpath(self._path(target), path.parent)
        tmp = self.temps.new_symlink(key, relative)
        try:
            self.temps.place(tmp, str(path))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    async def lock(self, key: str) -> FileLockHandle:
        self.root.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(self._path(key)), timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise LockHeld(f"another run holds {self._path(key)}; exiting") from None
        # Only the lock holder writes, so every temp there now is a crashed run's.
        self.remove_stale_temps("left by an interrupted run")
        return FileLockHandle(lock, self)

    def remove_stale_temps(self, why: str) -> int:
        try:
            removed = self.temps.remove_stale()
        except OSError as exc:
            raise StorageError(f"cannot remove temp files under {self.root}: {exc.strerror}") from exc
        if removed:
            log.info("Removed %d temp file(s) %s", removed, why)
        return removed

    async def flush(self) -> None:
        """Every filesystem the tree's writes went to: the root's, and each part with its own temp directory."""
        parts = [self._base, *(f"{self._base}/{prefix}" for prefix in self.temps.registered if prefix)]
        try:
            await asyncio.to_thread(durable.flush_filesystems, parts)
        except OSError as exc:  # a write-back error: the serial must not advance past lost writes
            raise StorageError(f"cannot flush the mirror's writes to disk under {self.root}: {exc.strerror}") from exc

    async def close(self) -> None:
        return None


class FileWriter:
    """An open temp file; ``commit`` renames it over the target, ``abort`` removes it."""

    __slots__ = ("done", "fd", "fix_mode", "path", "temps", "tmp")

    def __init__(self, path: str, tmp: str, fd: int, fix_mode: bool, temps: TempDirs) -> None:
        self.path, self.tmp, self.fd, self.fix_mode, self.temps = path, tmp, fd, fix_mode, temps
        self.done = False

    async def write(self, chunk: bytes) -> None:
        # Written here, not on a thread: measured, a hand-off per chunk cost more than it saved
        # (downloads hash large files on a thread instead).
        self.write_blocking(chunk)

    def write_blocking(self, chunk: bytes | memoryview) -> None:
        """``write`` for a worker thread (a large download's, ``http.bulk``): one thread at a time."""
        _write_all(self.fd, chunk, self.path)

    async def commit(self, *, mtime: float | None = None, digests: Mapping[str, str] | None = None) -> None:
        fd, self.fd = self.fd, -1
        self.done = True  # ``_place`` removes the temp if it fails
        _place(fd, self.tmp, self.path, self.fix_mode, mtime, self.temps)

    async def abort(self) -> None:
        if self.done:
            return
        self.done = True
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp)


def _write_all(fd: int, chunk: bytes | memoryview, path: str) -> None:
    try:
        written = os.write(fd, chunk)
        if written < len(chunk):  # rare (a signal, a full disk): finish or raise
            with memoryview(chunk) as view:
                while written < len(chunk):
                    written += os.write(fd, view[written:])
    except OSError as exc:
        raise _write_failed(exc, path) from exc


def _place(fd: int, tmp: str, path: str, fix_mode: bool, mtime: float | None, temps: TempDirs) -> None:
    """Close the written temp (its mode and upload time set first) and rename it over ``path``; on any
    failure the temp is removed."""
    try:
        try:
            if fix_mode:
                os.fchmod(fd, FILE_MODE)
            if mtime is not None:
                os.utime(fd, (mtime, mtime))
        finally:
            os.close(fd)  # on NFS a full disk may first show here
        temps.place(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, IsADirectoryError):
            raise StorageError(f"cannot replace directory {path} with a file") from None
        if isinstance(exc, OSError):
            raise _write_failed(exc, path) from exc
        raise


class FileLockHandle:
    """A flock lasts as long as this process: it cannot be lost, so there is nothing to watch."""

    def __init__(self, lock: filelock.FileLock, store: FilesystemStore) -> None:
        self._lock, self._store = lock, store

    def stop_on_loss(self, task: asyncio.Task[object]) -> None:
        return None

    def check(self) -> None:
        return None

    async def release(self) -> None:
        try:
            # Every writer is committed or aborted by now; a temp still there was forgotten.
            self._store.remove_stale_temps("left behind by this run")
        finally:
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


def _linked(source: str, path: str) -> bool:
    """``path`` made a hard link to ``source`` where it does not exist yet (no temp, no rename); False otherwise."""
    try:
        os.link(source, path)
    except OSError:  # it exists after all, or no hard links here: the temp and rename way
        return False
    return True
