"""One "is the stored copy right?" check (download.check_stored) for the sync and verify alike."""

from __future__ import annotations

import hashlib

from frumious import download
from frumious.models import StoredFile
from frumious.record.db import MirrorRecord, ProjectRow
from frumious.settings import CompareMethod
from frumious.testing.memstore import MemoryStore

DATA = b"release bytes"
SHA = hashlib.sha256(DATA).hexdigest()
KEY = "web/packages/ab/cd/x-1.0.tar.gz"
UPLOADED = 1_700_000_000.0


async def stored(data: bytes, *, mtime: float | None, digests: dict[str, str] | None = None) -> MemoryStore:
    store = MemoryStore()
    writer = await store.writer(KEY)
    await writer.write(data)
    await writer.commit(mtime=mtime, digests=digests or {})
    return store


def wanted(**kw: object) -> StoredFile:
    values: dict[str, object] = {"version": "1.0", "size": len(DATA), "algorithm": "sha256", "digest": SHA}
    values |= {"uploaded": UPLOADED, **kw}
    return StoredFile(KEY, "x", **values)  # type: ignore[arg-type]


async def test_stat_trusts_size_and_upload_time_and_hash_rehashes() -> None:
    same_size = b"X" * len(DATA)  # right size and time, wrong bytes
    store = await stored(same_size, mtime=UPLOADED)
    assert await download.check_stored(store, wanted(), CompareMethod.STAT) is None
    problem = await download.check_stored(store, wanted(), CompareMethod.HASH)
    assert problem is not None and problem.startswith("sha256 is ")


async def test_problems_are_named() -> None:
    assert await download.check_stored(MemoryStore(), wanted(), CompareMethod.STAT) == "missing"
    store = await stored(DATA + b"!", mtime=UPLOADED)
    problem = await download.check_stored(store, wanted(), CompareMethod.STAT)
    assert problem == f"has {len(DATA) + 1} bytes, not {len(DATA)}"


async def test_right_content_records_the_upload_time_unless_told_not_to() -> None:
    store = await stored(DATA, mtime=5.0)
    assert await download.check_stored(store, wanted(), CompareMethod.STAT, fix=False) is None
    info = await store.stat(KEY)
    assert info is not None and info.mtime == 5.0
    assert await download.check_stored(store, wanted(), CompareMethod.STAT) is None
    info = await store.stat(KEY)
    assert info is not None and info.mtime == UPLOADED and info.digests.get("sha256") == SHA


async def test_a_sidecar_of_unknown_size_is_checked_by_digest() -> None:
    store = await stored(DATA, mtime=None)
    assert await download.check_stored(store, wanted(size=None, uploaded=None), CompareMethod.STAT) is None


def test_the_record_stores_and_returns_the_same_value(tmp_path: object) -> None:
    record = MirrorRecord(f"{tmp_path}/frumious.sqlite")
    file = wanted(urls=("http://up/x-1.0.tar.gz",), digests={"sha256": SHA, "md5": "00"})
    record.record(ProjectRow("x", "x", 1), [file])
    assert record.files("x") == [file]
    assert isinstance(record.files("x")[0], StoredFile)
    record.close()


async def test_hash_trusts_the_recorded_digest_while_size_and_time_match() -> None:
    same_size = b"X" * len(DATA)  # what only a re-hash would catch: verify's job
    store = await stored(same_size, mtime=UPLOADED)
    assert await download.check_stored(store, wanted(), CompareMethod.HASH, known=wanted()) is None
    # another digest on record, or the file's time changed since: hashed again
    other = wanted(digest="00" * 32)
    assert await download.check_stored(store, wanted(), CompareMethod.HASH, known=other) is not None
    moved = await stored(same_size, mtime=UPLOADED + 60)
    assert await download.check_stored(moved, wanted(), CompareMethod.HASH, known=wanted(), fix=False) is not None
