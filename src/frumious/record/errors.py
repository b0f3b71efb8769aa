"""What a failed SQLite call on the mirror's record means.

SQLite reports a full disk, a read-only filesystem and a damaged file all as
``sqlite3.OperationalError`` or ``DatabaseError``. Only a damaged file may be set
aside and rebuilt; a disk that refuses writes is a ``ResourceError`` that stops the
command and keeps the record (and its WAL) as they are.
"""

from __future__ import annotations

import errno
import functools
import os
import sqlite3
from collections.abc import Callable
from typing import ClassVar, Concatenate, ParamSpec, Protocol, TypeVar

from frumious.errors import FrumiousError, ResourceError, StateError


class RecordUnusable(StateError):
    """The record's file is damaged (not a database, or malformed): only this sets it aside.

    Met mid-run it ends the run: every later project would need the record too.
    """

    stops_run: ClassVar[bool] = True


class RowsLost(StateError):
    """Rows written behind (``MirrorRecord.record``) could not be written: projects reported synced have none.

    It ends the run, which would otherwise go on with a record that lacks them (the root pages
    edited from it, their keys unclaimed); the record stays marked open, so the next command rebuilds it.
    """

    stops_run: ClassVar[bool] = True


# SQLite's primary result codes for a damaged file; every other failure is not the file's fault.
_DAMAGED = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
# Codes a refused disk shows up as (a read-only or full filesystem, missing permissions).
_REFUSED = {sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_IOERR}


def db_error(exc: sqlite3.Error, path: str) -> FrumiousError:
    """What a failed SQLite call means: a damaged record, a refused disk, or another problem (named)."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    if code in _DAMAGED:
        return RecordUnusable(f"the mirror's record {path} is unusable ({exc}); delete it to rebuild it")
    if code == sqlite3.SQLITE_FULL:
        return ResourceError(errno.ENOSPC, path)
    refused = _refusal(os.path.dirname(path))
    if refused is not None and code in _REFUSED:
        return ResourceError(refused, path)
    if code == sqlite3.SQLITE_IOERR:
        return ResourceError(errno.EIO, path, str(exc))
    return StateError(f"cannot use the mirror's record {path}: {exc}")


def _refusal(directory: str) -> int | None:
    """Why the filesystem holding ``directory`` refuses writes (an errno), or None when it seems not to."""
    try:
        st = os.statvfs(directory)
    except OSError:
        return None
    if st.f_flag & os.ST_RDONLY:
        return errno.EROFS
    if not os.access(directory, os.W_OK):
        return errno.EACCES
    if st.f_bavail == 0:
        return errno.ENOSPC
    return None


_P = ParamSpec("_P")
_R = TypeVar("_R")
_Record = TypeVar("_Record", bound="HasPath")


class HasPath(Protocol):
    path: str


def writes(method: Callable[Concatenate[_Record, _P], _R]) -> Callable[Concatenate[_Record, _P], _R]:
    """A method that writes to the record: SQLite's errors become frumious's (a full disk is a ResourceError)."""

    @functools.wraps(method)
    def wrapper(record: _Record, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(record, *args, **kwargs)
        except sqlite3.OperationalError as exc:
            raise db_error(exc, record.path) from exc

    return wrapper
