"""The Store contract (storage/base.py), run against every backend.

filesystem: a temp dir; s3 and swift: the real Swift 2.30 server from
tests/services/swift-saio.sh (through its s3api and its native API); s3-moto: moto's
server, which unlike Swift supports create-only conditional PUTs.
"""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from frumious.errors import LockHeld, ObjectMissing
from frumious.storage.base import Store

from .conftest import MIB, Backend


async def collect(store: Store, prefix: str) -> set[str]:
    return {key async for key in store.walk(prefix)}


async def test_write_read_and_overwrite(backend: Backend) -> None:
    store = backend.make()
    await store.write("web/simple/foo/index.html", b"<html>one</html>")
    assert await store.read("web/simple/foo/index.html") == b"<html>one</html>"
    await store.write("web/simple/foo/index.html", b"<html>two, longer</html>")
    assert await store.read("web/simple/foo/index.html") == b"<html>two, longer</html>"
    assert await store.exists("web/simple/foo/index.html")
    await store.write("status", b"")
    assert await store.read("status") == b""


async def test_missing_keys(backend: Backend) -> None:
    store = backend.make()
    with pytest.raises(ObjectMissing):
        await store.read("web/nothing/here")
    assert await store.stat("web/nothing/here") is None
    assert await store.digest("web/nothing/here", "sha256") is None
    assert not await store.exists("web/nothing/here")
    assert await store.delete("web/nothing/here") is False
    assert await store.children("web/nothing") == []
    assert await collect(store, "web/nothing") == set()
    assert await store.delete_prefix("web/nothing") == 0
    with pytest.raises(ObjectMissing):
        await store.copy("web/nothing/here", "web/elsewhere")


async def test_writer_commit_shows_nothing_before(backend: Backend) -> None:
    store = backend.make()
    writer = await store.writer("web/packages/aa/bb/pkg-1.0.tar.gz")
    for chunk in (b"abc", b"def" * 1000, b"g"):
        await writer.write(chunk)
    assert not await store.exists("web/packages/aa/bb/pkg-1.0.tar.gz")
    assert "web/packages/aa/bb/pkg-1.0.tar.gz" not in await collect(store, "web")
    await writer.commit(mtime=1_700_000_000.5, digests={"sha256": "0" * 64})
    assert await store.read("web/packages/aa/bb/pkg-1.0.tar.gz") == b"abc" + b"def" * 1000 + b"g"
    assert backend.spool_leftovers() == []


async def test_writer_abort_leaves_nothing(backend: Backend) -> None:
    store = backend.make()
    await store.write("web/packages/aa/keep.whl", b"old")
    writer = await store.writer("web/packages/aa/keep.whl")
    await writer.write(b"new content that must not land")
    await writer.abort()
    await writer.abort()  # twice is harmless
    assert await store.read("web/packages/aa/keep.whl") == b"old"
    fresh = await store.writer("web/packages/aa/never.whl")
    await fresh.write(b"x")
    await fresh.abort()
    assert not await store.exists("web/packages/aa/never.whl")
    assert await store.children("web/packages/aa") == ["keep.whl"]
    assert backend.spool_leftovers() == []


async def test_stat_reports_size_time_and_digests(backend: Backend) -> None:
    store = backend.make()
    data = b"wheel bytes" * 100
    sha = hashlib.sha256(data).hexdigest()
    await store.write("web/packages/x/y.whl", data, mtime=1_600_000_000.25, digests={"sha256": sha})
    info = await store.stat("web/packages/x/y.whl")
    assert info is not None
    assert info.size == len(data)
    assert info.mtime == pytest.approx(1_600_000_000.25, abs=1e-3)
    if backend.object_store:
        assert dict(info.digests) == {"sha256": sha}


async def test_set_meta(backend: Backend) -> None:
    store = backend.make()
    data = b"legacy object without metadata"
    sha = hashlib.sha256(data).hexdigest()
    await store.write("web/packages/l/legacy.tar.gz", data)
    await store.set_meta("web/packages/l/legacy.tar.gz", mtime=1_500_000_000.0, digests={"sha256": sha})
    info = await store.stat("web/packages/l/legacy.tar.gz")
    assert info is not None and info.mtime == pytest.approx(1_500_000_000.0)
    assert await store.read("web/packages/l/legacy.tar.gz") == data
    if backend.object_store:
        assert dict(info.digests) == {"sha256": sha}
        # A later call with only a time keeps the digest: metadata is merged, not dropped.
        await store.set_meta("web/packages/l/legacy.tar.gz", mtime=1_500_000_001.0, digests={})
        again = await store.stat("web/packages/l/legacy.tar.gz")
        assert again is not None and dict(again.digests) == {"sha256": sha}
        assert again.mtime == pytest.approx(1_500_000_001.0)
        with pytest.raises(ObjectMissing):
            await store.set_meta("web/packages/l/absent", mtime=1.0, digests={})


async def test_digest_hashes_content(backend: Backend) -> None:
    store = backend.make()
    data = os.urandom(300_000)
    # A recorded digest that is wrong must not be what digest() returns: it hashes the bytes.
    await store.write("web/packages/d/file.whl", data, digests={"sha256": "f" * 64})
    assert await store.digest("web/packages/d/file.whl", "sha256") == hashlib.sha256(data).hexdigest()
    assert await store.digest("web/packages/d/file.whl", "md5") == hashlib.md5(data).hexdigest()


async def test_delete(backend: Backend) -> None:
    store = backend.make()
    await store.write("web/packages/z/z.whl", b"z")
    assert await store.delete("web/packages/z/z.whl") is True
    assert not await store.exists("web/packages/z/z.whl")
    assert await store.delete("web/packages/z/z.whl") is False


async def test_delete_prefix_stops_at_the_boundary(backend: Backend) -> None:
    store = backend.make()
    inside = [f"web/simple/foo/{name}" for name in ("index.html", "index.v1_json", "versions/index_1.html")]
    for key in inside:
        await store.write(key, b"x")
    await store.write("web/simple/foobar/index.html", b"sibling with the same start")
    await store.write("web/simple/foo.html", b"a file next to the directory")
    if backend.raw is not None:
        backend.raw.put("web/simple/foo/.s3keep", b"")
    assert await store.delete_prefix("web/simple/foo") == 3
    assert await collect(store, "web/simple") == {"web/simple/foobar/index.html", "web/simple/foo.html"}
    if backend.raw is not None:
        assert not [n for n in backend.raw.names() if "/simple/foo/" in n]


async def test_walk_and_children_paginate_and_hide_markers(backend: Backend) -> None:
    store = backend.make(page_size=3) if backend.object_store else backend.make()
    keys = {f"web/packages/{a}/{b}/f{i}.whl" for a in ("aa", "bb") for b in ("11", "22") for i in range(3)}
    keys |= {"web/packages/top.txt", "web/last-modified"}
    await asyncio.gather(*(store.write(key, b"k") for key in keys))
    if backend.raw is not None:
        for marker in ("web/packages/.s3keep", "web/packages/aa/.s3keep", "web/packages/bb/11/.swiftkeep"):
            backend.raw.put(marker, b"")
    assert await collect(store, "web/packages") == {k for k in keys if k.startswith("web/packages/")}
    assert await collect(store, "web") == keys
    assert await collect(store, "") == keys
    assert sorted(await store.children("web/packages")) == ["aa", "bb", "top.txt"]
    assert sorted(await store.children("web/packages/aa/11")) == ["f0.whl", "f1.whl", "f2.whl"]
    assert sorted(await store.children("web")) == ["last-modified", "packages"]


async def test_copy_and_link(backend: Backend) -> None:
    store = backend.make()
    await store.write("web/simple/foo/versions/index_2.html", b"<p>v2</p>")
    await store.copy("web/simple/foo/versions/index_2.html", "web/simple/foo/index.v1_html")
    assert await store.read("web/simple/foo/index.v1_html") == b"<p>v2</p>"
    await store.link("web/simple/foo/index.html", "web/simple/foo/versions/index_2.html")
    assert await store.read("web/simple/foo/index.html") == b"<p>v2</p>"
    await store.write("web/simple/foo/versions/index_3.html", b"<p>v3</p>")
    await store.link("web/simple/foo/index.html", "web/simple/foo/versions/index_3.html")
    assert await store.read("web/simple/foo/index.html") == b"<p>v3</p>"
    assert await store.read("web/simple/foo/versions/index_2.html") == b"<p>v2</p>"


ODD_KEYS = [
    "web/packages/a b+c/ünï cödé+1.0.tar.gz",
    "web/packages/sym/%~=;&@,!'().whl",
    "web/simple/日本語/index.html",
]


async def test_odd_characters_in_keys(backend: Backend) -> None:
    store = backend.make()
    for index, key in enumerate(ODD_KEYS):
        await store.write(key, f"body {index}".encode(), mtime=1.5, digests={"sha256": "a" * 64})
    for index, key in enumerate(ODD_KEYS):
        assert await store.read(key) == f"body {index}".encode()
        info = await store.stat(key)
        assert info is not None and info.size == len(f"body {index}")
    assert await collect(store, "web") == set(ODD_KEYS)
    assert await store.children("web/packages/a b+c") == ["ünï cödé+1.0.tar.gz"]
    assert sorted(await store.children("web/packages")) == ["a b+c", "sym"]
    await store.copy(ODD_KEYS[0], "web/packages/a b+c/copy + of.tar.gz")
    assert await store.read("web/packages/a b+c/copy + of.tar.gz") == b"body 0"
    assert await store.delete(ODD_KEYS[1]) is True
    assert await store.delete_prefix("web/packages/a b+c") == 2


async def test_large_streamed_upload(backend: Backend) -> None:
    store = backend.make()
    data = os.urandom(9 * MIB + 12345)
    sha = hashlib.sha256(data).hexdigest()
    writer = await store.writer("web/packages/big/model-1.0-py3-none-any.whl")
    for start in range(0, len(data), MIB):
        await writer.write(data[start : start + MIB])
    assert not await store.exists("web/packages/big/model-1.0-py3-none-any.whl")
    await writer.commit(mtime=1_234_567_890.0, digests={"sha256": sha})
    info = await store.stat("web/packages/big/model-1.0-py3-none-any.whl")
    assert info is not None and info.size == len(data)
    assert await store.digest("web/packages/big/model-1.0-py3-none-any.whl", "sha256") == sha
    assert await store.read("web/packages/big/model-1.0-py3-none-any.whl") == data
    assert backend.spool_leftovers() == []
    if backend.raw is not None:
        # Multipart on S3 (ETag "...-2"), a Static Large Object on Swift.
        assert backend.raw.multipart("web/packages/big/model-1.0-py3-none-any.whl")
        assert dict(info.digests) == {"sha256": sha}
        assert backend.raw.meta("web/packages/big/model-1.0-py3-none-any.whl")["sha256"] == sha
    await store.copy("web/packages/big/model-1.0-py3-none-any.whl", "web/packages/big/copy.whl")
    assert await store.digest("web/packages/big/copy.whl", "sha256") == sha
    assert await store.delete("web/packages/big/model-1.0-py3-none-any.whl") is True
    assert await store.delete_prefix("web/packages/big") == 1


async def test_lock_is_exclusive(backend: Backend) -> None:
    first, second = backend.make(), backend.make()
    held = await first.lock(".lock")
    with pytest.raises(LockHeld):
        await second.lock(".lock")
    await held.release()
    again = await second.lock(".lock")
    with pytest.raises(LockHeld):
        await first.lock(".lock")
    await again.release()


async def test_concurrent_lockers_exactly_one_wins(backend: Backend) -> None:
    stores = [backend.make() for _ in range(4)]
    results = await asyncio.gather(*(s.lock(".lock") for s in stores), return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1, results
    assert all(isinstance(r, LockHeld) for r in losers), losers
    await winners[0].release()


async def test_lock_and_content_together(backend: Backend) -> None:
    # The lock object is an ordinary key in the mirror root; it must not disturb content listings.
    store = backend.make()
    lock = await store.lock(".lock")
    await store.write("web/simple/index.html", b"root")
    assert await collect(store, "web") == {"web/simple/index.html"}
    await lock.release()
    # Released means free at once: taking it again does not wait for a lease to expire.
    relock = await store.lock(".lock")
    await relock.release()
