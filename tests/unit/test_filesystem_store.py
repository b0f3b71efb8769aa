"""The filesystem store's write path: modes, temp names, directories, nothing left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from frumious.errors import StorageError
from frumious.storage import filesystem, fstemp
from frumious.storage.filesystem import FilesystemStore


def leftovers(root: Path) -> list[str]:
    return [p.name for p in root.rglob(".*") if p.is_file()]


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002, 0o000])
async def test_files_are_0644_whatever_the_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        store = FilesystemStore(str(tmp_path))
        await store.write("web/simple/a/index.html", b"page")
        writer = await store.writer("web/packages/aa/bb/a-1.0.tar.gz")
        await writer.write(b"data")
        await writer.commit(mtime=1_700_000_000.5)
    finally:
        os.umask(old)
    for path in (tmp_path / "web/simple/a/index.html", tmp_path / "web/packages/aa/bb/a-1.0.tar.gz"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert (tmp_path / "web/packages/aa/bb/a-1.0.tar.gz").stat().st_mtime == 1_700_000_000.5
    assert leftovers(tmp_path) == []


async def test_a_stale_temp_file_with_our_name_is_stepped_over(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / ".frumious/tmp").mkdir(parents=True)
    counter = iter(range(100))
    monkeypatch.setattr(fstemp, "_serials", counter)
    (tmp_path / ".frumious/tmp" / f".frumious-{os.getpid()}-0").write_bytes(b"stale")
    store = FilesystemStore(str(tmp_path))
    await store.write("web/page", b"fresh")
    assert (tmp_path / "web" / "page").read_bytes() == b"fresh"
    assert leftovers(tmp_path) == [f".frumious-{os.getpid()}-0"]


async def test_abort_and_failed_commit_leave_nothing(tmp_path: Path) -> None:
    store = FilesystemStore(str(tmp_path))
    writer = await store.writer("web/packages/x/y.whl")
    await writer.write(b"partial")
    await writer.abort()
    await writer.abort()
    (tmp_path / "web/simple/dir").mkdir(parents=True)
    (tmp_path / "web/simple/dir/inner").write_bytes(b"")
    writer = await store.writer("web/simple/dir")
    await writer.write(b"x")
    with pytest.raises(StorageError, match="cannot replace directory"):
        await writer.commit()
    assert leftovers(tmp_path) == []
    assert not (tmp_path / "web/packages/x/y.whl").exists()


async def test_large_writes_in_pieces(tmp_path: Path) -> None:
    store = FilesystemStore(str(tmp_path))
    data = os.urandom(3 << 20)
    writer = await store.writer("web/packages/big.bin")
    for start in range(0, len(data), 256 * 1024):
        await writer.write(data[start : start + 256 * 1024])
    await writer.commit()
    assert (tmp_path / "web/packages/big.bin").read_bytes() == data


async def test_unwritable_directory_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "web").write_bytes(b"a file where a directory should be")
    store = FilesystemStore(str(tmp_path))
    with pytest.raises(StorageError, match="cannot write"):
        await store.write("web/simple/index.html", b"x")


@pytest.mark.parametrize("size", [0, 20_000, filesystem.INLINE_DIGEST + 1])
async def test_digest_small_inline_and_large_on_a_thread(tmp_path: Path, size: int) -> None:
    import hashlib

    data = os.urandom(size)
    store = FilesystemStore(str(tmp_path))
    await store.write("web/packages/f", data)
    assert await store.digest("web/packages/f", "sha256") == hashlib.sha256(data).hexdigest()
    assert await store.digest("web/packages", "sha256") is None  # a directory
    assert await store.digest("web/packages/f/g", "sha256") is None
    assert await store.digest("web/nothing", "md5") is None


async def test_write_alike_writes_the_bytes_once_and_links_the_other_names(tmp_path: Path) -> None:
    store = FilesystemStore(str(tmp_path))
    keys = ["web/simple/foo/index.html", "web/simple/foo/index.v1_html"]
    await store.write_alike(keys, b"<html>1</html>", new_dir=True)
    html, v1 = (tmp_path / key for key in keys)
    assert html.read_bytes() == v1.read_bytes() == b"<html>1</html>"
    assert html.stat().st_ino == v1.stat().st_ino  # one inode, two names
    assert stat.S_IMODE(html.stat().st_mode) == 0o644
    # A later write replaces each name by rename: the other name keeps its bytes until written too.
    await store.write(keys[0], b"<html>2</html>")
    assert (html.read_bytes(), v1.read_bytes()) == (b"<html>2</html>", b"<html>1</html>")
    await store.write_alike(keys, b"<html>3</html>")
    assert html.read_bytes() == v1.read_bytes() == b"<html>3</html>"
    assert os.listdir(tmp_path / ".frumious/tmp") == []


async def test_write_alike_links_a_new_directorys_names_in_place_and_replaces_one_there(tmp_path: Path) -> None:
    store = FilesystemStore(str(tmp_path))
    keys = ["web/simple/foo/index.html", "web/simple/foo/index.v1_html"]
    links: list[tuple[str, str]] = []
    real_link = os.link

    def link(source: str, target: str, **kwargs: object) -> None:
        links.append((source, target))
        real_link(source, target, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "link", link)
        await store.write_alike(keys, b"<html>1</html>", new_dir=True)
    # The second name linked straight to the first, no temp: it did not exist in the new directory.
    assert links == [(str(tmp_path / keys[0]), str(tmp_path / keys[1]))]
    # A name that is there after all (a directory the caller took for new) is replaced whole, not kept.
    (tmp_path / keys[1]).unlink()
    (tmp_path / keys[1]).write_bytes(b"stale")
    await store.write_alike(keys, b"<html>2</html>", new_dir=True)
    html, v1 = (tmp_path / key for key in keys)
    assert html.read_bytes() == v1.read_bytes() == b"<html>2</html>"
    assert html.stat().st_ino == v1.stat().st_ino
    assert os.listdir(tmp_path / ".frumious/tmp") == []


async def test_write_alike_without_hard_links_writes_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", refuse)  # e.g. a filesystem without hard links
    store = FilesystemStore(str(tmp_path))
    keys = ["web/simple/foo/index.html", "web/simple/foo/index.v1_html"]
    await store.write_alike(keys, b"page")
    assert [(tmp_path / key).read_bytes() for key in keys] == [b"page", b"page"]
    assert (tmp_path / keys[0]).stat().st_ino != (tmp_path / keys[1]).stat().st_ino
