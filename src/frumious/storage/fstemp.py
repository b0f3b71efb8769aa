"""Where the filesystem store's temp files live, so a crashed run's leftovers are cheap to find.

Every write lands in a temp file named ``.frumious-<pid>-<n>`` (at most ~30 bytes, whatever
the target's name: a legal 255-byte UTF-8 filename still gets a legal temp name) in one known
directory, ``.frumious/tmp``, and is renamed into place. Before, temps sat next to their
targets, so the leftovers of a kill -9 or a power cut could be anywhere among a full mirror's
~700k directories, and only a walk of the whole tree finds them: measured on ext4 (warm cache),
walking 150k directories took 2.4-3.4 s, so about 15 s for a full mirror with every inode
cached and minutes cold, at the start of every run. Listing the known directory took 30 us,
and a write renamed from it cost the same as one renamed within its own directory (median
242 vs 223 us of CPU over 5,000 small writes into a 150k-directory tree). The directory is
removed when a run ends, so each run starts with a small one.

A part of the tree on another filesystem (``web/packages`` mounted from elsewhere, ``web`` a
symlink to another disk, a bind mount) makes that rename fail with EXDEV. The temp is then
copied once to a ``.frumious-tmp`` directory at the top of that part (found by probing
renames upwards from the target's directory), which is recorded in ``.frumious/tmp-dirs``
before anything is written there, and later writes under that part go there directly. So the
cleanup at the start of a run lists a handful of known directories, never the tree.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import shutil
from collections.abc import Callable

from frumious.protocol import layout
from frumious.storage.fsdirs import PackageDirs

FILE_MODE = 0o644
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_serials = itertools.count()
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):  # temp names carry the pid; a forked child must not reuse ours
    os.register_at_fork(after_in_child=_forked)


def make_dir(directory: str) -> None:
    """Most new files land in a new leaf directory (packages/aa/bb/<hash>/) of an existing parent."""
    try:
        os.mkdir(directory)
    except FileNotFoundError:
        os.makedirs(directory, exist_ok=True)
    except FileExistsError:
        pass  # made meanwhile, or a file (the retried rename reports that)


class TempDirs:
    """The temp directories of one mirror root, by the key prefix they serve."""

    def __init__(self, base: str) -> None:
        self.base = base
        # A shard's temps carry its tag (``.frumious-s0of4-<pid>-<n>``), so each lock holder clears its own only.
        self.tag = ""
        self.default = f"{base}/{layout.TEMP_DIR}"
        self.registry = f"{base}/{layout.TEMP_DIRS}"
        self.package_dirs = PackageDirs(base)
        self.registered: set[str] = set()
        try:
            with open(self.registry, encoding="utf-8") as handle:
                self.registered = {line.rstrip("\n") for line in handle if line.strip()}
        except FileNotFoundError:
            pass
        self._order = sorted(self.registered, key=len, reverse=True)

    def _fallback(self, prefix: str) -> str:
        top = f"{self.base}/{prefix}" if prefix else self.base
        return f"{top}/{layout.TEMP_FALLBACK_DIR}"

    def directory_for(self, key: str) -> str:
        for prefix in self._order:
            if not prefix or key.startswith(prefix + "/"):
                return self._fallback(prefix)
        return self.default

    def all_directories(self) -> list[str]:
        return [self.default, *(self._fallback(prefix) for prefix in self._order)]

    def new_file(self, key: str) -> tuple[str, int]:
        """A new empty temp file for ``key``: its path and an open descriptor."""
        if not self._order:  # one temp directory: the name made and opened here (``fresh``'s first try)
            tmp = f"{self.default}/{layout.TEMP_PREFIX}{self.tag}{'-' if self.tag else ''}{_pid}-{next(_serials)}"
            try:
                return tmp, os.open(tmp, _CREATE, FILE_MODE)
            except OSError:
                pass  # no directory yet, or a name an earlier process with our pid left: ``fresh`` sees to it
        fd = -1

        def create(tmp: str) -> None:
            nonlocal fd
            fd = os.open(tmp, _CREATE, FILE_MODE)

        return fresh(self.directory_for(key), create, self.tag), fd

    def new_symlink(self, key: str, target: str) -> str:
        return fresh(self.directory_for(key), lambda tmp: os.symlink(target, tmp), self.tag)

    def mine(self, name: str) -> bool:
        """Whether a temp file's name is this holder's: the shard's tag, or (untagged) a plain pid."""
        rest = name[len(layout.TEMP_PREFIX) :]
        return rest.startswith(self.tag + "-") if self.tag else rest[:1].isdigit()

    def new_link(self, key: str, source: str) -> str:
        """A temp hard link to ``source`` for ``key`` (the same bytes under a second name)."""
        return fresh(self.directory_for(key), lambda tmp: os.link(source, tmp), self.tag)

    def place(self, tmp: str, path: str) -> None:
        """Rename ``tmp`` over ``path``; on failure ``tmp`` is still there for the caller to remove."""
        leaf = self.package_dirs.fresh_leaf(path)
        if leaf is not None:
            self.package_dirs.make_leaf(leaf)  # a new release file's directory: made first, not after a failure
        made = leaf is not None
        current = tmp
        try:
            for _attempt in range(3):
                try:
                    os.replace(current, path)
                    break
                except FileNotFoundError:
                    if made:
                        raise
                    made = True  # the target's directory is new (the temp cannot vanish under the lock)
                    make_dir(os.path.dirname(path))
                except OSError as exc:
                    if exc.errno != errno.EXDEV or current != tmp:
                        raise
                    current = self._move_across(tmp, path)
            else:
                raise OSError(errno.EXDEV, "cannot rename into place", path)
        except BaseException:
            if current != tmp:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(current)
            raise
        if current != tmp:
            os.unlink(tmp)

    def remove_stale(self) -> int:
        """Remove every temp file, then the emptied directories; only under the mirror lock. The count."""
        removed = 0
        for directory in self.all_directories():
            try:
                with os.scandir(directory) as entries:
                    names = [e.name for e in entries if e.name.startswith(layout.TEMP_PREFIX) and self.mine(e.name)]
            except (FileNotFoundError, NotADirectoryError):
                continue
            for name in names:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(f"{directory}/{name}")
                    removed += 1
            with contextlib.suppress(OSError):
                os.rmdir(directory)  # recreated by the next write; a fresh directory stays small
        return removed

    def _move_across(self, tmp: str, path: str) -> str:
        """Copy ``tmp`` into a temp directory on the filesystem of ``path``; the copy's path."""
        prefix = self._mount_prefix(os.path.dirname(path))
        self._register(prefix)
        directory = self._fallback(prefix)
        if os.path.islink(tmp):
            return fresh(directory, lambda new: os.symlink(os.readlink(tmp), new), self.tag)
        new = fresh(directory, lambda new: os.close(os.open(new, _CREATE, FILE_MODE)), self.tag)
        try:
            shutil.copyfile(tmp, new)
            shutil.copystat(tmp, new)  # the mode and the upload time set on the temp
        except BaseException:
            os.unlink(new)
            raise
        return new

    def _mount_prefix(self, directory: str) -> str:
        """The key prefix of the highest directory from which a rename into ``directory`` works."""
        best, made = directory, []
        while best != self.base and best.startswith(self.base + "/"):
            parent = os.path.dirname(best)
            works, created = _probe(parent, directory)
            made.extend(created)
            if not works:
                break
            best = parent
        for tmp_dir in made:  # probed on the way but not chosen
            if tmp_dir != f"{best}/{layout.TEMP_FALLBACK_DIR}":
                with contextlib.suppress(OSError):
                    os.rmdir(tmp_dir)
        return "" if best == self.base else os.path.relpath(best, self.base)

    def _register(self, prefix: str) -> None:
        """Record the new temp directory first, so a crash cannot leave temps nobody looks for."""
        if prefix in self.registered:
            return
        text = "".join(f"{line}\n" for line in sorted(self.registered | {prefix}))
        fd = -1

        def create(tmp: str) -> None:
            nonlocal fd
            fd = os.open(tmp, _CREATE, FILE_MODE)

        tmp = fresh(self.default, create, self.tag)
        try:
            os.write(fd, text.encode("utf-8"))
        finally:
            os.close(fd)
        os.replace(tmp, self.registry)
        self.registered.add(prefix)
        self._order = sorted(self.registered, key=len, reverse=True)


def fresh(directory: str, create: Callable[[str], None], tag: str = "") -> str:
    """Make something (``create(path)``) under a new temp name in ``directory`` (``tag``: a shard's); the path."""
    prefix = f"{directory}/{layout.TEMP_PREFIX}{tag}{'-' if tag else ''}"
    for _attempt in range(100):
        tmp = f"{prefix}{_pid}-{next(_serials)}"
        try:
            create(tmp)
            return tmp
        except FileNotFoundError:
            os.makedirs(directory, exist_ok=True)
        except FileExistsError:
            continue  # left behind by an earlier process that had our pid
    raise FileExistsError(errno.EEXIST, "no free temp file name", directory)


def _probe(candidate: str, target_dir: str) -> tuple[bool, list[str]]:
    """Whether a file renames from ``candidate``'s temp directory into ``target_dir``; dirs made."""
    tmp_dir = f"{candidate}/{layout.TEMP_FALLBACK_DIR}"
    made = []
    try:
        if not os.path.isdir(tmp_dir):
            os.mkdir(tmp_dir)
            made.append(tmp_dir)
        probe = fresh(tmp_dir, lambda new: os.close(os.open(new, _CREATE, FILE_MODE)))
    except OSError:
        return False, made
    landed = f"{target_dir}/{os.path.basename(probe)}"
    try:
        os.rename(probe, landed)
    except OSError:
        os.unlink(probe)
        return False, made
    os.unlink(landed)
    return True, made
