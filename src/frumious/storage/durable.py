"""Making the run's writes durable before the serial advances, without flushing the whole host.

``os.sync()`` flushes every filesystem on the machine (other tenants' disks, network mounts);
``syncfs(fd)`` flushes only the filesystem holding ``fd``. The tree may span several
filesystems (a part mounted elsewhere: see fstemp.py), so there is one ``syncfs`` per
filesystem among the mirror root and the parts with their own temp directory. Python 3.11/3.12
have no ``os.syncfs``: it is libc's, through ctypes, on Linux; elsewhere (or when libc has no
``syncfs``) the fallback is ``os.sync()``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from collections.abc import Callable, Iterable

log = logging.getLogger("frumious.storage.durable")


def _libc_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = _libc()
        function = libc.syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


def _libc() -> ctypes.CDLL:
    """glibc's by its name first: find_library forks ``ldconfig -p`` (12-15 ms of CPU), and finds that name there."""
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # another libc (musl)
        from ctypes.util import find_library

        return ctypes.CDLL(find_library("c") or "libc.so.6", use_errno=True)


def _unresolved(fd: int) -> int:
    raise AssertionError("resolved by _function() before use")


# Looked up on first use, not at import: commands that write nothing (serve, --help) need no libc handle.
_syncfs: Callable[[int], int] | None = _unresolved


def _function() -> Callable[[int], int] | None:
    global _syncfs
    if _syncfs is _unresolved:
        _syncfs = _libc_syncfs()
    return _syncfs


def syncfs(fd: int) -> None:
    """Flush the filesystem holding ``fd``; OSError when the kernel reports a write-back error."""
    function = _function()
    if function is None:
        os.sync()
        return
    if function(fd) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def _device(fd: int) -> int:
    return os.fstat(fd).st_dev


def flush_filesystems(directories: Iterable[str]) -> int:
    """One ``syncfs`` per filesystem among ``directories`` (those that exist); how many were flushed."""
    if _function() is None:
        os.sync()
        return 0
    seen: set[int] = set()
    for directory in directories:
        try:
            fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except (FileNotFoundError, NotADirectoryError):
            continue  # a part the run never wrote to
        try:
            device = _device(fd)
            if device not in seen:
                seen.add(device)
                syncfs(fd)
        finally:
            os.close(fd)
    return len(seen)
