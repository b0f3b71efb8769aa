"""The flush before the serial advances: syncfs on each filesystem the tree spans, not a global sync()."""

from __future__ import annotations

import asyncio
import os

import pytest

from frumious.errors import StorageError
from frumious.storage import durable
from frumious.storage.filesystem import FilesystemStore


@pytest.fixture
def synced(monkeypatch) -> list[int]:
    """The devices syncfs was called on (through the fd it got); os.sync must not be called."""
    devices: list[int] = []

    def fake(fd: int) -> int:
        devices.append(os.fstat(fd).st_dev)
        return 0

    monkeypatch.setattr(durable, "_syncfs", fake)
    monkeypatch.setattr(os, "sync", lambda: pytest.fail("a global sync()"))
    return devices


def store(root) -> FilesystemStore:
    root.mkdir(exist_ok=True)
    return FilesystemStore(str(root))


def test_flush_syncs_the_mirrors_filesystem_once(tmp_path, synced) -> None:
    root = tmp_path / "mirror"
    fs = store(root)
    asyncio.run(fs.write("web/simple/index.html", b"x"))
    fs.temps.registered.add("web")  # a part with its own temp directory, on the same filesystem here
    asyncio.run(fs.flush())
    assert synced == [os.stat(root).st_dev]


def test_one_syncfs_per_filesystem_the_tree_spans(tmp_path, synced, monkeypatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    other = os.stat(tmp_path / "b").st_ino
    # b as if it were a mount of another filesystem
    monkeypatch.setattr(durable, "_device", lambda fd: os.fstat(fd).st_dev + (os.fstat(fd).st_ino == other))
    assert (
        durable.flush_filesystems([str(tmp_path), str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "x")]) == 2
    )
    assert len(synced) == 2


def test_without_syncfs_it_falls_back_to_sync(tmp_path, monkeypatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(durable, "_syncfs", None)
    monkeypatch.setattr(os, "sync", lambda: calls.append("sync"))
    durable.flush_filesystems([str(tmp_path)])
    assert calls == ["sync"]


def test_a_write_back_error_stops_the_flush(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(durable, "_syncfs", lambda fd: -1)
    monkeypatch.setattr(durable.ctypes, "get_errno", lambda: 5)
    with pytest.raises(StorageError, match="cannot flush the mirror's writes"):
        asyncio.run(store(tmp_path).flush())


def test_the_real_syncfs_runs_on_linux(tmp_path) -> None:
    if durable._function() is None:
        pytest.skip("no syncfs in this libc")
    assert durable.flush_filesystems([str(tmp_path)]) == 1


def test_glibc_is_opened_without_forking_ldconfig() -> None:
    """find_library("c") runs ``ldconfig -p`` in a child (12-15 ms of every run's CPU); glibc's name is known."""
    import platform
    import subprocess
    import sys

    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only: another libc is found through find_library")
    script = (
        "import sys; from frumious.storage import durable; "
        "print(durable._function() is not None, 'ctypes.util' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.split() == ["True", "False"]
