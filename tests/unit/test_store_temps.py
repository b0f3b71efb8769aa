"""Filesystem temp files: one known directory, recognisable names, bounded in bytes, cleaned under the lock."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from frumious.protocol import layout
from frumious.storage import filesystem
from frumious.storage.filesystem import FilesystemStore


def temps(root: Path) -> list[str]:
    """Every temp file anywhere under ``root``: dot-files but the lock (old and new temp names)."""
    found = (p for p in root.rglob(".*") if p.is_file() and p.name != layout.LOCK)
    return sorted(p.relative_to(root).as_posix() for p in found)


async def test_a_252_byte_utf8_name_is_stored(tmp_path: Path) -> None:
    name = "é" * 120 + "x-1.0.tar.gz"  # 240 + 12 bytes: legal, but too long for a name-derived temp
    assert len(name.encode()) == 252
    store = FilesystemStore(str(tmp_path))
    await store.write(f"web/packages/aa/bb/{name}", b"sdist")
    writer = await store.writer(f"web/packages/aa/cc/{name}")
    await writer.write(b"streamed")
    await writer.commit(mtime=1_700_000_000)
    assert (tmp_path / "web/packages/aa/bb" / name).read_bytes() == b"sdist"
    assert (tmp_path / "web/packages/aa/cc" / name).read_bytes() == b"streamed"
    assert temps(tmp_path) == []


async def test_open_writers_live_in_the_temp_directory_under_a_recognisable_name(tmp_path: Path) -> None:
    store = FilesystemStore(str(tmp_path))
    writer = await store.writer("web/packages/aa/bb/x-1.0.whl")
    await writer.write(b"partial")
    found = temps(tmp_path)
    assert len(found) == 1
    assert found[0].startswith(f"{layout.TEMP_DIR}/{layout.TEMP_PREFIX}{os.getpid()}-")
    assert not (tmp_path / "web/packages/aa/bb").exists() or list((tmp_path / "web/packages/aa/bb").iterdir()) == []
    await writer.abort()
    assert temps(tmp_path) == []


async def test_copies_and_links_are_renamed_from_the_temp_directory(tmp_path: Path, monkeypatch) -> None:
    real_replace, sources = os.replace, []

    def replace(src: str, dst: str) -> None:
        sources.append(Path(src).parent.relative_to(tmp_path).as_posix())
        real_replace(src, dst)

    monkeypatch.setattr(filesystem.os, "replace", replace)
    store = FilesystemStore(str(tmp_path))
    await store.write("web/simple/a/index.html", b"page")
    await store.copy("web/simple/a/index.html", "web/simple/a/versions/index_1.html")
    await store.link("web/simple/a/latest", "web/simple/a/versions/index_1.html")
    assert (tmp_path / "web/simple/a/latest").read_bytes() == b"page"
    assert os.readlink(tmp_path / "web/simple/a/latest") == "versions/index_1.html"
    assert set(sources) == {layout.TEMP_DIR}
    assert temps(tmp_path) == []


async def test_taking_the_lock_removes_temps_of_a_crashed_run(tmp_path: Path) -> None:
    store = FilesystemStore(str(tmp_path))
    crashed = await store.writer("web/packages/aa/bb/x-1.0.whl")
    await crashed.write(b"half a wheel")  # never committed nor aborted: the process "died"
    assert temps(tmp_path) != []
    lock = await FilesystemStore(str(tmp_path)).lock(layout.LOCK)
    try:
        assert temps(tmp_path) == []
    finally:
        await lock.release()


async def test_releasing_the_lock_removes_a_forgotten_temp(tmp_path: Path) -> None:
    store = FilesystemStore(str(tmp_path))
    lock = await store.lock(layout.LOCK)
    writer = await store.writer("web/packages/aa/bb/x-1.0.whl")
    await writer.write(b"never finished")
    await lock.release()
    assert temps(tmp_path) == []


@contextlib.contextmanager
def tmpfs(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(directory)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=True)


async def test_packages_on_another_filesystem_get_their_own_temp_directory(tmp_path: Path) -> None:
    packages = tmp_path / "web" / "packages"
    with tmpfs(packages):
        store = FilesystemStore(str(tmp_path))
        await store.write("web/packages/aa/bb/x-1.0.whl", b"first")  # EXDEV from the main temp dir
        writer = await store.writer("web/packages/aa/bb/y-1.0.whl")
        await writer.write(b"second")
        assert [Path(t).parent.as_posix() for t in temps(tmp_path)] == [f"web/packages/{layout.TEMP_FALLBACK_DIR}"]
        await writer.commit()
        assert (packages / "aa/bb/x-1.0.whl").read_bytes() == b"first"
        assert (packages / "aa/bb/y-1.0.whl").read_bytes() == b"second"
        crashed = await FilesystemStore(str(tmp_path)).writer("web/packages/aa/bb/z-1.0.whl")
        await crashed.write(b"half")
        assert temps(tmp_path) != []
        lock = await FilesystemStore(str(tmp_path)).lock(layout.LOCK)
        assert temps(tmp_path) == []
        await lock.release()


async def test_a_cross_device_rename_is_not_an_error(tmp_path: Path, monkeypatch) -> None:
    """EXDEV although the devices look alike (a bind mount): the file still lands, nothing stays behind."""
    real_replace = os.replace
    calls = []

    def replace(src: str, dst: str) -> None:
        calls.append(src)
        if len(calls) == 1:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(src, dst)

    monkeypatch.setattr(filesystem.os, "replace", replace)
    store = FilesystemStore(str(tmp_path))
    await store.write("web/packages/aa/bb/x-1.0.whl", b"data")
    assert (tmp_path / "web/packages/aa/bb/x-1.0.whl").read_bytes() == b"data"
    assert temps(tmp_path) == []
