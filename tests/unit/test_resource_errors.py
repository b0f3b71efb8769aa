"""Resource errors: which failures stop a run, what their one line says, and the index's mapping."""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
from pathlib import Path

import pytest

from frumious.cli import progress
from frumious.errors import ResourceError, StateError, StorageError, UpstreamError, resource_error
from frumious.record.errors import RecordUnusable, db_error
from frumious.storage.filesystem import FileWriter
from frumious.storage.fstemp import TempDirs


@pytest.mark.parametrize(
    ("code", "problem", "advice"),
    [
        (errno.ENOSPC, "No space left on device", "free some space"),
        (errno.EDQUOT, "Disk quota exceeded", "raise the quota"),
        (errno.EROFS, "Read-only file system", "remount it read-write"),
        (errno.EACCES, "Permission denied", "check the permissions"),
    ],
)
def test_an_os_error_the_machine_raised_is_a_resource_error(code: int, problem: str, advice: str) -> None:
    found = resource_error(OSError(code, os.strerror(code), "/srv/mirror/web/x"))
    assert isinstance(found, ResourceError)
    assert found.exit_code == 1
    assert str(found).startswith(f"{problem}: /srv/mirror/web/x; ")
    assert advice in str(found)
    assert "\n" not in str(found)


def test_other_errors_are_not_resource_errors() -> None:
    assert resource_error(FileNotFoundError(errno.ENOENT, "gone", "/x")) is None
    assert resource_error(ValueError("bad")) is None
    assert resource_error(StorageError("cannot write /x: Is a directory")) is None


def test_a_resource_error_is_found_in_groups_and_causes() -> None:
    full = OSError(errno.ENOSPC, "No space left on device", "/m/f")
    try:
        raise StorageError("cannot write") from full
    except StorageError as wrapped:
        group = ExceptionGroup("workers", [ValueError("other"), wrapped])
    found = resource_error(group)
    assert found is not None and found.path == "/m/f"


def test_a_network_refusal_is_not_a_resource_error() -> None:
    """connect() answers EPERM when a local firewall drops the packet: the upstream's problem, not the disk's."""
    refused = OSError(errno.EPERM, "Operation not permitted")
    try:
        raise UpstreamError("cannot connect to pypi.org:443") from refused
    except UpstreamError as exc:
        assert resource_error(exc) is None
    assert resource_error(refused) is None


def test_a_write_to_a_full_disk_names_the_target_not_the_temp_file(tmp_path: Path) -> None:
    fd = os.open("/dev/full", os.O_WRONLY)
    temps = TempDirs(str(tmp_path))
    writer = FileWriter(str(tmp_path / "web/packages/f.whl"), str(tmp_path / ".f.whl.tmp"), fd, False, temps)
    with pytest.raises(ResourceError) as caught:
        asyncio.run(writer.write(b"x" * 10))
    assert caught.value.path == str(tmp_path / "web/packages/f.whl")
    assert caught.value.code == errno.ENOSPC
    asyncio.run(writer.abort())


def _sqlite_error(code: int, message: str) -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError(message)
    exc.sqlite_errorcode = code  # type: ignore[attr-defined]
    return exc


def test_only_a_damaged_index_is_unusable(tmp_path: Path) -> None:
    path = str(tmp_path / "frumious.sqlite")
    assert isinstance(db_error(_sqlite_error(sqlite3.SQLITE_CORRUPT, "malformed"), path), RecordUnusable)
    assert isinstance(db_error(_sqlite_error(sqlite3.SQLITE_NOTADB, "not a database"), path), RecordUnusable)
    full = db_error(_sqlite_error(sqlite3.SQLITE_FULL, "database or disk is full"), path)
    assert isinstance(full, ResourceError) and full.code == errno.ENOSPC and full.path == path
    busy = db_error(_sqlite_error(sqlite3.SQLITE_BUSY, "database is locked"), path)
    assert isinstance(busy, StateError) and not isinstance(busy, RecordUnusable)
    assert "delete it" not in str(full) + str(busy)


def test_an_io_error_on_a_healthy_disk_is_still_not_damage(tmp_path: Path) -> None:
    path = str(tmp_path / "frumious.sqlite")
    failed = db_error(_sqlite_error(sqlite3.SQLITE_IOERR | (3 << 8), "disk I/O error"), path)
    assert isinstance(failed, ResourceError) and failed.code == errno.EIO


def test_the_summary_of_a_stopped_run_says_status_is_unchanged() -> None:
    from frumious.runreport import SyncReport

    lines = progress.stopped_summary(SyncReport(synced=["a", "b"]), 3.0)
    assert lines[0].startswith("Projects: 2 synced")
    assert "status unchanged" in lines[2]
    assert lines[-1].startswith("Stopped:")
