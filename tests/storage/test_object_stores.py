"""What only the object-store backends do: bandersnatch's metadata, batching, leases, errors."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from frumious.errors import LeaseLost, LockHeld, StorageError
from frumious.storage import objectlock
from frumious.storage.s3 import S3Store
from frumious.storage.s3client import add_content_md5
from frumious.storage.swift import SwiftStore
from frumious.storage.swiftconn import SwiftAuth

from .conftest import PREFIX, Backend, RawS3, RawSwift, Saio

OBJECT_BACKENDS = [
    pytest.param("s3", marks=pytest.mark.swift),
    pytest.param("s3-moto"),
    pytest.param("swift", marks=pytest.mark.swift),
]


# Overrides the conftest fixture's parameters: these tests only make sense on object stores.
objects = pytest.mark.parametrize("backend", OBJECT_BACKENDS, indirect=True)
swift_only = pytest.mark.parametrize("backend", [pytest.param("swift", marks=pytest.mark.swift)], indirect=True)
moto_only = pytest.mark.parametrize("backend", ["s3-moto"], indirect=True)


def bandersnatch_put(raw: RawS3 | RawSwift, key: str, data: bytes, uploaded_at: str) -> None:
    """Write an object exactly as bandersnatch's S3 backend does: sha256 + uploaded-at user metadata."""
    raw.put(key, data, {"sha256": hashlib.sha256(data).hexdigest(), "uploaded-at": uploaded_at})


@objects
async def test_bandersnatch_objects_are_continued(backend: Backend) -> None:
    raw = backend.raw
    assert raw is not None
    data = b"a wheel bandersnatch downloaded"
    bandersnatch_put(raw, "web/packages/ab/cd/pkg-1.0-py3-none-any.whl", data, "1699999999.123456")
    store = backend.make()
    info = await store.stat("web/packages/ab/cd/pkg-1.0-py3-none-any.whl")
    assert info is not None
    assert info.size == len(data)
    assert info.mtime == pytest.approx(1699999999.123456)
    assert dict(info.digests) == {"sha256": hashlib.sha256(data).hexdigest()}
    # And ours are written the way bandersnatch reads them.
    await store.write("web/packages/ab/cd/new.whl", b"new", mtime=1_700_000_000.5, digests={"sha256": "ab" * 32})
    assert raw.meta("web/packages/ab/cd/new.whl") == {"sha256": "ab" * 32, "uploaded-at": "1700000000.5"}


@pytest.mark.swift
async def test_legacy_swift_upload_time(saio: Saio) -> None:
    """bandersnatch's old Swift backend kept an integer X-Object-Meta-Upload."""
    store, raw = _swift_pair(saio)
    try:
        raw.put("web/packages/old.whl", b"old", {"upload": "1500000000"})
        info = await store.stat("web/packages/old.whl")
        assert info is not None and info.mtime == 1_500_000_000.0
    finally:
        await store.close()


@pytest.mark.swift
async def test_s3_and_swift_see_the_same_metadata(saio: Saio) -> None:
    """A bucket filled through S3 can be continued through Swift, and the reverse."""
    swift_store, _raw = _swift_pair(saio)
    s3 = S3Store(
        swift_store.container,
        PREFIX,
        endpoint_url=saio.s3_endpoint,
        aws_access_key_id=saio.s3_key_id,
        aws_secret_access_key=saio.s3_secret,
    )
    try:
        await s3.write("web/a.whl", b"via s3", mtime=10.5, digests={"sha256": "1" * 64})
        await swift_store.write("web/b.whl", b"via swift", mtime=20.5, digests={"sha256": "2" * 64})
        from_swift, from_s3 = await swift_store.stat("web/a.whl"), await s3.stat("web/b.whl")
        assert from_swift is not None and from_swift.mtime == 10.5 and from_swift.digests == {"sha256": "1" * 64}
        assert from_s3 is not None and from_s3.mtime == 20.5 and from_s3.digests == {"sha256": "2" * 64}
    finally:
        await s3.close()
        await swift_store.close()


def _swift_pair(saio: Saio) -> tuple[SwiftStore, RawSwift]:
    import swiftclient

    container = f"frumious-{uuid.uuid4().hex[:20]}"
    conn = swiftclient.Connection(authurl=saio.auth_url, user=saio.user, key=saio.key, auth_version="1")
    conn.put_container(container)
    return SwiftStore(container, PREFIX, auth=SwiftAuth(saio.auth_url, saio.user, saio.key)), RawSwift(conn, container)


@objects
async def test_object_without_metadata_has_no_time(backend: Backend) -> None:
    store = backend.make()
    await store.write("web/simple/foo/index.html", b"page")
    info = await store.stat("web/simple/foo/index.html")
    assert info is not None and info.mtime is None and dict(info.digests) == {}


@objects
async def test_prefix_isolation(backend: Backend) -> None:
    assert backend.raw is not None
    store = backend.make()
    backend.raw.put_outside("outside", b"o")
    await store.write("inside", b"i")
    assert [key async for key in store.walk("")] == ["inside"]
    assert await store.delete_prefix("") == 1
    assert "outside" in backend.raw.names()


@objects
async def test_content_types_for_static_hosting(backend: Backend) -> None:
    raw, store = backend.raw, backend.make()
    assert raw is not None
    await store.write("web/simple/foo/index.html", b"<html>")
    await store.write("web/simple/foo/index.v1_json", b"{}")
    await store.write("web/packages/aa/foo-1.0.tar.gz", b"gz")
    assert raw.content_type("web/simple/foo/index.html").startswith("text/html")
    assert raw.content_type("web/simple/foo/index.v1_json") == "application/vnd.pypi.simple.v1+json"
    assert raw.content_type("web/packages/aa/foo-1.0.tar.gz") == "application/octet-stream"
    # Replacing metadata must not reset the type (CopyObject REPLACE would, unless carried over).
    await store.set_meta("web/simple/foo/index.html", mtime=5.0, digests={})
    assert raw.content_type("web/simple/foo/index.html").startswith("text/html")


@pytest.mark.swift
async def test_delete_prefix_over_one_batch(saio: Saio) -> None:
    """1100 keys: two ListObjectsV2 pages and two DeleteObjects calls, each with Content-MD5."""
    store, raw = _s3_pair(saio)
    try:
        keys = [f"web/packages/{i % 7}/{i:05d}.whl" for i in range(1100)]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda key: raw.put(key, b"k"), keys))
        walked = [key async for key in store.walk("web/packages")]
        assert sorted(walked) == sorted(keys)
        started = time.monotonic()
        assert await store.delete_prefix("web/packages") == 1100
        assert store._multi_delete, "DeleteObjects should have been accepted (Content-MD5 hook)"
        assert raw.names() == []
        print(f"deleted 1100 keys in {time.monotonic() - started:.1f}s")
    finally:
        await store.close()
        raw.client.delete_bucket(Bucket=raw.bucket)


@pytest.mark.swift
async def test_delete_objects_rejected_falls_back_to_single_deletes(saio: Saio) -> None:
    store, raw = _s3_pair(saio)
    try:
        # Without the hook this server refuses DeleteObjects (InvalidRequest: missing Content-MD5).
        store._client.meta.events.unregister("before-call.s3.DeleteObjects", add_content_md5)
        for i in range(5):
            raw.put(f"web/x/{i}", b"x")
        assert await store.delete_prefix("web/x") == 5
        assert not store._multi_delete
        assert raw.names() == []
    finally:
        await store.close()
        raw.client.delete_bucket(Bucket=raw.bucket)


def _s3_pair(saio: Saio) -> tuple[S3Store, RawS3]:
    from .conftest import s3_client

    bucket = f"frumious-{uuid.uuid4().hex[:20]}"
    client = s3_client(saio.s3_endpoint, saio.s3_key_id, saio.s3_secret)
    client.create_bucket(Bucket=bucket)
    store = S3Store(
        bucket,
        PREFIX,
        endpoint_url=saio.s3_endpoint,
        aws_access_key_id=saio.s3_key_id,
        aws_secret_access_key=saio.s3_secret,
        concurrency=16,
    )
    return store, RawS3(client, bucket)


@swift_only
async def test_swift_without_bulk_delete(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    store = backend.make()
    assert isinstance(store, SwiftStore)
    monkeypatch.setattr(store, "_bulk", lambda *args: False)
    for i in range(4):
        await store.write(f"web/y/{i}", b"y")
    assert await store.delete_prefix("web/y") == 4
    assert not store._bulk_delete
    assert [key async for key in store.walk("web")] == []


@swift_only
async def test_swift_large_objects_leave_no_segments(backend: Backend) -> None:
    raw, store = backend.raw, backend.make(large_object_threshold=1024, segment_size=1024)
    assert isinstance(raw, RawSwift) and isinstance(store, SwiftStore)
    segments = f"{raw.container}_segments"
    for round_ in range(2):  # the second upload replaces the first and drops its segments
        writer = await store.writer("web/packages/slo.whl")
        await writer.write(bytes([round_]) * 2500)
        await writer.commit()
        assert len(raw.names(segments)) == 3
    assert await store.read("web/packages/slo.whl") == bytes([1]) * 2500
    assert await store.delete("web/packages/slo.whl")
    assert raw.names(segments) == []
    for name in ("a", "b"):
        writer = await store.writer(f"web/packages/{name}.whl")
        await writer.write(b"s" * 1500)
        await writer.commit()
    assert await store.delete_prefix("web/packages") == 2
    assert raw.names(segments) == []


@objects
async def test_conditional_create_is_detected(backend: Backend) -> None:
    store = backend.make()
    lock = await store.lock(".lock")
    await lock.release()
    # Swift's native API and moto honour If-None-Match: *; Swift 2.30's s3api answers 501.
    assert store._conditional.supported is (backend.kind != "s3")  # type: ignore[attr-defined]


@objects
async def test_expired_and_foreign_locks(backend: Backend) -> None:
    raw, store = backend.raw, backend.make(lock_ttl=30.0)
    assert raw is not None
    # bandersnatch's lock is an empty object; a fresh one means a bandersnatch run is going on.
    raw.put(".lock", b"")
    with pytest.raises(LockHeld, match="not a frumious lease"):
        await store.lock(".lock")
    # A lease whose run crashed: expired, so it is taken over.
    stale = objectlock.Lease("dead" * 8, "crashed-host:1", time.time() - 5)
    raw.put(".lock", stale.encode())
    lock = await store.lock(".lock")
    await lock.release()
    assert not [n for n in raw.names() if n.endswith("/.lock")]


@objects
async def test_lease_is_renewed_and_loss_noticed(backend: Backend) -> None:
    raw = backend.raw
    assert raw is not None
    holder, rival = backend.make(lock_ttl=1.2), backend.make(lock_ttl=1.2)
    lock = await holder.lock(".lock")
    assert isinstance(lock, objectlock.LeaseLock)
    await asyncio.sleep(2.0)  # longer than the ttl: only renewal keeps it
    with pytest.raises(LockHeld):
        await rival.lock(".lock")
    await holder.write("web/before", b"written while the lease was ours")
    rival_lease = objectlock.Lease("other", "rival:2", time.time() + 60).encode()
    for _ in range(100):
        # Written again and again, as a rival holder renews it: a renewal of ours already past
        # its read may land once more, but the next one reads the rival's token.
        raw.put(".lock", rival_lease)
        if lock.lost:
            break
        await asyncio.sleep(0.1)
    assert lock.lost
    # From now on no write of any kind reaches the store.
    writer = await holder.writer("web/packages/late.whl")
    await writer.write(b"late")
    attempts = [
        holder.write("status", b"999"),
        writer.commit(),
        holder.set_meta("web/before", mtime=1.0, digests={}),
        holder.copy("web/before", "web/copy"),
        holder.link("web/link", "web/before"),
        holder.delete("web/before"),
        holder.delete_prefix("web"),
    ]
    for attempt in attempts:
        with pytest.raises(LeaseLost, match="lost the mirror lock"):
            await attempt
    await writer.abort()
    assert {n.removeprefix(f"{PREFIX}/") for n in raw.names()} == {".lock", "web/before"}
    assert (await holder.stat("web/before")) is not None and (await holder.stat("web/before")).mtime is None  # type: ignore[union-attr]
    await lock.release()
    assert b"rival:2" in await holder.read(".lock"), "release must not delete another run's lease"


@objects
async def test_missing_bucket_or_container_is_a_clear_error(backend: Backend) -> None:
    store = backend.make()
    if isinstance(store, S3Store):
        store.bucket = "frumious-no-such-bucket"
        expected = "does not exist"
    else:
        assert isinstance(store, SwiftStore)
        store.container = "frumious-no-such-container"
        expected = "404"
    with pytest.raises(StorageError, match=expected):
        await store.write("status", b"1")
    with pytest.raises(StorageError):
        await store.read("status")
    with pytest.raises(StorageError):
        [key async for key in store.walk("web")]


async def test_unreachable_endpoint() -> None:
    store = S3Store("bucket", endpoint_url="http://127.0.0.1:9", aws_access_key_id="a", aws_secret_access_key="b",
                    max_attempts=1)  # fmt: skip
    try:
        with pytest.raises(StorageError, match=r"127\.0\.0\.1:9"):
            await store.write("status", b"1")
    finally:
        await store.close()


@moto_only
async def test_extra_args_reach_every_upload(backend: Backend) -> None:
    # moto only: Swift's s3api answers NotImplemented to server-side encryption.
    store = backend.make(extra_args={"ServerSideEncryption": "AES256", "NotAParameter": "x"})
    raw = backend.raw
    assert isinstance(raw, RawS3)
    await store.write("small", b"s")
    writer = await store.writer("big")
    await writer.write(b"b" * (9 * 1024 * 1024))
    await writer.commit()
    await store.copy("small", "copied")
    for key in ("small", "big", "copied"):
        head = raw.client.head_object(Bucket=raw.bucket, Key=f"{PREFIX}/{key}")
        assert head.get("ServerSideEncryption") == "AES256", key


@objects
async def test_event_loop_never_does_the_io(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every socket read and write of the client library happens off the event loop's thread.

    Checked by thread identity, not by timing: a timing bound breaks under load on a shared machine.
    """
    store = backend.make()
    loop_thread = threading.get_ident()
    threads: list[int] = []
    for name in ("sendall", "recv_into"):
        original = getattr(socket.socket, name)

        def spy(self: socket.socket, *args: object, _original: Any = original) -> Any:
            threads.append(threading.get_ident())
            return _original(self, *args)

        monkeypatch.setattr(socket.socket, name, spy)
    await asyncio.gather(*(store.write(f"web/t/{i}", b"t" * 200_000) for i in range(20)))
    await asyncio.gather(*(store.digest(f"web/t/{i}", "sha256") for i in range(20)))
    monkeypatch.undo()
    assert threads, "the store made no socket I/O at all"
    assert loop_thread not in threads


@pytest.mark.swift
def test_client_error_codes_are_what_we_expect(saio: Saio) -> None:
    """Guards the fallbacks: this server still answers 501 to a conditional PUT."""
    from .conftest import s3_client

    client = s3_client(saio.s3_endpoint, saio.s3_key_id, saio.s3_secret)
    bucket = f"frumious-{uuid.uuid4().hex[:20]}"
    client.create_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket=bucket, Key="k", Body=b"", IfNoneMatch="*")
    assert caught.value.response["Error"]["Code"] == "NotImplemented"
    client.delete_bucket(Bucket=bucket)


@pytest.mark.swift
@pytest.mark.parametrize("kind", ["s3", "swift"])
async def test_open_store_from_a_bandersnatch_config(saio: Saio, kind: str) -> None:
    """The whole path the CLI takes: config text -> Settings -> open_store -> a working store."""
    from frumious import config
    from frumious.storage import open_store

    store, raw = _swift_pair(saio)  # the container doubles as the bucket: one account, two APIs
    await store.close()
    if kind == "s3":
        text = f"""[mirror]
directory = /{raw.container}/{PREFIX}
storage-backend = s3
[s3]
endpoint_url = {saio.s3_endpoint}
aws_access_key_id = {saio.s3_key_id}
aws_secret_access_key = {saio.s3_secret}
region_name = {saio.s3_region}
"""
    else:
        text = f"""[mirror]
directory = /{PREFIX}
storage-backend = swift
[swift]
default_container = {raw.container}
auth_url = {saio.auth_url}
username = {saio.user}
password = {saio.key}
"""
    opened = open_store(config.loads(text))
    try:
        assert opened.description == f"{kind}://{raw.container}/{PREFIX}"
        await opened.write("status", b"42", mtime=3.0, digests={"sha256": "c" * 64})
        assert raw.meta("status") == {"sha256": "c" * 64, "uploaded-at": "3.0"}
        lock = await opened.lock(".lock")
        await lock.release()
    finally:
        await opened.close()
