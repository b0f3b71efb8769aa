"""Resource errors (issue 10 item 8, issue 15 item 3): disk full, read-only, permissions.

Each test points the mirror at a small tmpfs of its own, fills it (a balloon file sized
from statvfs) or remounts it read-only at a chosen stage of a run, and checks that the
run stops with one line naming the problem and the path, a summary and exit 1; that
``status`` and the index are kept; and that the next run, with space, converges to the
tree an uninterrupted run produces. Mounting needs root (as in CI); elsewhere these
tests skip with one line.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from fakepypi import FakeIndex, FakePyPI, default_index, write_config
from fakepypi.builder import Artifact
from frumious.record.db import MirrorRecord

from .helpers import mirror_dir, read, run, temp_files, tree

BLOB = 1024 * 1024
BLOBS = 4
# Derived files that differ between two runs by design: times, SQLite's own layout, and the
# listing's cached ETag (a run that resumed a todo does not refresh it).
VOLATILE = {
    "frumious.sqlite",
    "frumious.sqlite-wal",
    "frumious.sqlite-shm",
    "web/last-modified",
    ".lock",
    ".frumious/listing-etag",
    ".frumious/upstream-feed",  # when the upstream was last asked for a change feed
}


def _blob(number: int) -> bytes:
    seed = hashlib.sha256(str(number).encode()).digest()
    return b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(BLOB // 32))


@pytest.fixture
def fake_index() -> FakeIndex:
    """The default catalogue plus a few 1 MiB files, so a download can meet a full disk."""
    index = default_index()
    for number in range(BLOBS):
        index.add(f"blob-{number}", "1.0", Artifact(f"blob_{number}-1.0.tar.gz", _blob(number)))
    return index


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 12 MiB tmpfs of this test's own, unmounted after it."""
    if os.geteuid() != 0:
        pytest.skip("a small tmpfs needs root to mount")
    mount_point = tmp_path / "fs"
    mount_point.mkdir()
    mounted = _sh("mount", "-t", "tmpfs", "-o", "size=12m,mode=0755", "tmpfs", str(mount_point))
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        if _sh("umount", str(mount_point)).returncode:
            _sh("umount", "-l", str(mount_point))


def _sh(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


class Balloon:
    """A file that takes the filesystem's free space, leaving ``leave`` bytes."""

    def __init__(self, fs: Path) -> None:
        self.fs = fs
        self.path = fs / "balloon"

    def free(self) -> int:
        st = os.statvfs(self.fs)
        return st.f_bavail * st.f_frsize

    def fill(self, leave: int = 0) -> None:
        grow = self.free() - leave
        if grow <= 0:
            return
        with open(self.path, "ab") as handle:
            os.posix_fallocate(handle.fileno(), handle.tell(), grow)
        assert self.free() <= leave

    def pop(self) -> None:
        self.path.unlink(missing_ok=True)


def _config(tmp_path: Path, pypi: FakePyPI, fs: Path) -> Path:
    return write_config(tmp_path, pypi, directory=fs / "mirror")


def _root(config: Path) -> Path:
    return config.parent / "fs" / "mirror"


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file (and link target) of a tree but the volatile ones, with its bytes."""
    found = {}
    for key in tree(root):
        path = root / key
        if key in VOLATILE:
            continue
        found[key] = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
    return found


def reference(tmp_path: Path, pypi: FakePyPI) -> dict[str, bytes]:
    """The tree an uninterrupted run on a roomy filesystem produces."""
    (tmp_path / "reference").mkdir()
    config = write_config(tmp_path / "reference", pypi)
    assert run(config, "mirror") == 0
    return snapshot(mirror_dir(config))


def one_error_line(err: str, *fragments: str) -> str:
    """The run's single ``frumious:`` line, which must hold each fragment; and no traceback anywhere."""
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("frumious:")]
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def assert_stopped_cleanly(root: Path, out: str, status: str | None) -> None:
    """status as it was, the index where it was, no temp file, and a summary on stdout."""
    assert (read(root, "status") if (root / "status").exists() else None) == status
    assert not list(root.glob("*.unusable"))
    assert temp_files(root) == []
    assert "Projects:" in out
    assert "status unchanged" in out


def index_projects(root: Path) -> int:
    """How many projects the index holds; it must still be a sound database."""
    with closing(sqlite3.connect(root / "frumious.sqlite")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        return int(db.execute("SELECT count(*) FROM projects").fetchone()[0])


def converge(config: Path, tmp_path: Path, pypi: FakePyPI) -> None:
    root = _root(config)
    assert run(config, "mirror") == 0
    assert read(root, "status") == str(pypi.index.serial)
    assert temp_files(root) == []
    assert snapshot(root) == reference(tmp_path, pypi)


def test_disk_full_before_the_first_write(fake_pypi, tmp_path, small_fs, capsys) -> None:
    config = _config(tmp_path, fake_pypi, small_fs)
    balloon = Balloon(small_fs)
    balloon.fill(leave=0)
    assert run(config, "mirror") == 1
    captured = capsys.readouterr()
    one_error_line(captured.err, "No space left on device", str(small_fs / "mirror"))
    balloon.pop()
    converge(config, tmp_path, fake_pypi)


def test_disk_full_during_downloads(fake_pypi, tmp_path, small_fs, capsys) -> None:
    config = _config(tmp_path, fake_pypi, small_fs)
    balloon = Balloon(small_fs)
    # Room for the small projects and one blob, not for all of them.
    balloon.fill(leave=BLOB + BLOB // 2)
    assert run(config, "mirror") == 1
    captured = capsys.readouterr()
    # Usually a blob names itself; a concurrent page or index write may meet the full disk first.
    one_error_line(captured.err, "No space left on device", str(small_fs / "mirror"))
    root = _root(config)
    assert_stopped_cleanly(root, captured.out, None)
    blobs = {path.name for path in (root / "web/packages").rglob("blob_*")}
    assert len(blobs) < BLOBS  # stopped before the last one (which landed first depends on scheduling)
    assert (root / "frumious.sqlite").exists()
    balloon.pop()
    converge(config, tmp_path, fake_pypi)


def test_disk_full_during_the_index_update(fake_pypi, tmp_path, small_fs, capsys, monkeypatch) -> None:
    config = _config(tmp_path, fake_pypi, small_fs)
    balloon = Balloon(small_fs)
    record = MirrorRecord.record

    def record_on_a_full_disk(self: MirrorRecord, *args: object, **hints: object) -> None:
        # The project's files and pages are written; now the disk is full for SQLite.
        balloon.fill(leave=0)
        record(self, *args, **hints)  # type: ignore[arg-type]

    monkeypatch.setattr(MirrorRecord, "record", record_on_a_full_disk)
    assert run(config, "mirror") == 1
    captured = capsys.readouterr()
    line = one_error_line(captured.err, "No space left on device")
    root = _root(config)
    # The record commits in batches (every 500 projects or second), so the full disk may be met by
    # SQLite or by the next file the run writes; either way that file is named.
    assert str(root) in line, line
    assert_stopped_cleanly(root, captured.out, None)
    assert (root / "frumious.sqlite").exists()
    monkeypatch.setattr(MirrorRecord, "record", record)
    balloon.pop()
    assert index_projects(root) == 0
    converge(config, tmp_path, fake_pypi)


def test_a_full_disk_never_sets_a_healthy_index_aside(fake_pypi, tmp_path, small_fs, capsys) -> None:
    config = _config(tmp_path, fake_pypi, small_fs)
    assert run(config, "mirror") == 0
    root = _root(config)
    status = read(root, "status")
    inode = (root / "frumious.sqlite").stat().st_ino
    fake_pypi.index.add("blob-0", "2.0", Artifact("blob_0-2.0.tar.gz", _blob(9)))
    fake_pypi.index.touch("yanky")
    capsys.readouterr()
    balloon = Balloon(small_fs)
    balloon.fill(leave=0)
    assert run(config, "mirror") == 1
    captured = capsys.readouterr()
    one_error_line(captured.err, "No space left on device", "frumious.sqlite")
    assert "delete it" not in captured.err
    assert_stopped_cleanly(root, captured.out, status)
    assert (root / "frumious.sqlite").stat().st_ino == inode
    balloon.pop()
    assert index_projects(root) == len(fake_pypi.index)
    converge(config, tmp_path, fake_pypi)


def test_read_only_filesystem(fake_pypi, tmp_path, small_fs, capsys) -> None:
    config = _config(tmp_path, fake_pypi, small_fs)
    assert run(config, "mirror") == 0
    root = _root(config)
    status = read(root, "status")
    fake_pypi.index.add("blob-1", "2.0", Artifact("blob_1-2.0.tar.gz", _blob(8)))
    capsys.readouterr()
    assert _sh("mount", "-o", "remount,ro", str(small_fs)).returncode == 0
    try:
        assert run(config, "mirror") == 1
    finally:
        assert _sh("mount", "-o", "remount,rw", str(small_fs)).returncode == 0
    captured = capsys.readouterr()
    one_error_line(captured.err, "Read-only file system", str(root))
    assert "delete it" not in captured.err
    assert_stopped_cleanly(root, captured.out, status)
    converge(config, tmp_path, fake_pypi)


def test_verify_stops_at_a_full_disk(fake_pypi, tmp_path, small_fs, capsys) -> None:
    config = _config(tmp_path, fake_pypi, small_fs)
    assert run(config, "mirror") == 0
    root = _root(config)
    lost = list((root / "web/packages").rglob("blob_*.tar.gz"))
    for path in lost:
        path.unlink()
    capsys.readouterr()
    balloon = Balloon(small_fs)
    balloon.fill(leave=BLOB // 2)
    assert run(config, "verify") == 1
    captured = capsys.readouterr()
    one_error_line(captured.err, "No space left on device", str(root))
    assert "status unchanged" in captured.out
    assert temp_files(root) == []
    balloon.pop()
    assert run(config, "verify") == 0
    assert all(path.exists() for path in lost)


def test_reindex_stops_at_a_full_disk_and_keeps_the_index(fake_pypi, tmp_path, small_fs, capsys) -> None:
    config = _config(tmp_path, fake_pypi, small_fs)
    assert run(config, "mirror") == 0
    root = _root(config)
    capsys.readouterr()
    balloon = Balloon(small_fs)
    balloon.fill(leave=0)
    assert run(config, "reindex") == 1
    one_error_line(capsys.readouterr().err, "No space left on device", "frumious.sqlite")
    assert not list(root.glob("*.unusable"))
    balloon.pop()
    assert index_projects(root) == len(fake_pypi.index)
    assert run(config, "reindex") == 0
    assert index_projects(root) == len(fake_pypi.index)


def test_mirror_directory_on_a_read_only_filesystem_cannot_be_created(fake_pypi, tmp_path, small_fs, capsys) -> None:
    config = _config(tmp_path, fake_pypi, small_fs)
    assert _sh("mount", "-o", "remount,ro", str(small_fs)).returncode == 0
    try:
        assert run(config, "mirror") == 1
    finally:
        assert _sh("mount", "-o", "remount,rw", str(small_fs)).returncode == 0
    one_error_line(capsys.readouterr().err, "Read-only file system", str(small_fs / "mirror"))
    assert not (small_fs / "mirror").exists()


def test_mirror_directory_that_cannot_be_written(fake_pypi, tmp_path, small_fs, capsys) -> None:
    (small_fs / "mirror").mkdir()
    config = _config(tmp_path, fake_pypi, small_fs)
    assert _sh("mount", "-o", "remount,ro", str(small_fs)).returncode == 0
    try:
        assert run(config, "mirror") == 1
    finally:
        assert _sh("mount", "-o", "remount,rw", str(small_fs)).returncode == 0
    one_error_line(capsys.readouterr().err, "Read-only file system", str(small_fs / "mirror"))
    assert list((small_fs / "mirror").iterdir()) == []


def test_mirror_directory_without_permission_is_one_line(fake_pypi, tmp_path) -> None:
    """Without the right to write (root drops CAP_DAC_OVERRIDE): a directory it may not create, then write."""
    parent = tmp_path / "locked"
    (parent / "mirror").mkdir(parents=True)
    parent.chmod(0o555)
    (parent / "mirror").chmod(0o555)
    try:
        for directory in (parent / "new" / "mirror", parent / "mirror"):
            result = _run_without_permission(write_config(tmp_path, fake_pypi, directory=directory))
            assert result.returncode == 1, result.stderr
            one_error_line(result.stderr, "Permission denied", str(parent))
            assert list(parent.rglob("*")) == [parent / "mirror"]
    finally:
        parent.chmod(0o755)


def _run_without_permission(config: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "frumious", "-c", str(config), "mirror"]
    if os.geteuid() == 0:
        # Root ignores file modes unless it gives up the capabilities that let it.
        if shutil.which("setpriv") is None:
            pytest.skip("setpriv (util-linux) is needed to run without CAP_DAC_OVERRIDE as root")
        argv = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--", *argv]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
