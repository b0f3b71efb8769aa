"""Object-store pieces that need no server: settings, auth, retries, metadata, the lease logic."""

from __future__ import annotations

import asyncio
import time

import pytest
import swiftclient

from frumious import config
from frumious.errors import ConfigError, LockHeld, StorageError
from frumious.storage import local_paths, objectlock
from frumious.storage.objectbase import content_type, info_from_meta, metadata
from frumious.storage.s3 import S3Store
from frumious.storage.s3client import parse_directory
from frumious.storage.swift import SwiftStore
from frumious.storage.swiftconn import Connections, SwiftAuth
from frumious.storage.swiftsettings import SwiftSettings, read_swift


def test_parse_directory() -> None:
    assert parse_directory("/my-bucket/pypi/mirror") == ("my-bucket", "pypi/mirror")
    assert parse_directory("/my-bucket") == ("my-bucket", "")
    assert parse_directory("s3://my-bucket/p/") == ("my-bucket", "p")
    with pytest.raises(ConfigError):
        parse_directory("/")


async def test_s3_from_settings() -> None:
    settings = config.loads(
        "[mirror]\ndirectory = /bucket/pre/fix\nstorage-backend = s3\n[s3]\nregion_name = eu-west-1\n"
        "aws_access_key_id = id\naws_secret_access_key = secret\nendpoint_url = http://127.0.0.1:9\n"
        "signature_version = s3v4\nconfig_param_ServerSideEncryption = aws:kms\n"
        "config_param_BucketKeyEnabled = true\nconfig_param_Bogus = 1\nverify_concurrency = 64\nmax_attempts = 7\n"
    )
    store = S3Store.from_settings(settings)
    try:
        assert (store.bucket, store.prefix) == ("bucket", "pre/fix")
        assert store.description == "s3://bucket/pre/fix"
        assert local_paths(store) is None
        boto = store._client.meta.config
        # botocore counts retries after the first try, as bandersnatch passed it.
        assert boto.retries == {"total_max_attempts": 8, "mode": "adaptive"}
        assert boto.max_pool_connections == 64
        assert boto.signature_version == "s3v4"
        assert store._client.meta.region_name == "eu-west-1"
        # config_param_* values reach only operations that take them, with their types.
        assert store._extra_for("PutObject") == {"ServerSideEncryption": "aws:kms", "BucketKeyEnabled": True}
        assert "BucketKeyEnabled" not in store._extra_for("UploadPart")
    finally:
        await store.close()


def test_swift_auth_from_settings_and_environment() -> None:
    env = {"OS_AUTH_URL": "https://keystone.example/v3", "OS_USERNAME": "env-user", "OS_PASSWORD": "pw"}
    text = "[mirror]\ndirectory = /p\nstorage-backend = swift\n[swift]\nproject_name = proj\nregion = RegionTwo\n"
    auth = SwiftAuth.from_settings(read_swift(config.loads(text), environ=env))
    assert auth.auth_url == "https://keystone.example/v3" and auth.username == "env-user"
    assert auth.version == "3"
    conn = auth.connect(None, retries=1)
    assert conn.auth_version == "3"
    assert conn.os_options["project_name"] == "proj"
    assert conn.os_options["region_name"] == "RegionTwo"
    assert conn.os_options["user_domain_name"] == "default"
    # The config file wins over the environment; /auth/v1.0 means TempAuth.
    v1 = SwiftAuth.from_settings(SwiftSettings(auth_url="http://h/auth/v1.0", username="a:b", password="k"))
    assert (v1.version, v1.username) == ("1", "a:b")
    with pytest.raises(ConfigError, match="auth_url"):
        SwiftAuth.from_settings(SwiftSettings(auth_url=""))


async def test_swift_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "[mirror]\ndirectory = /pypi\nstorage-backend = swift\n"
    settings = config.loads(
        text + "[swift]\ndefault_container = c\nauth_url = http://127.0.0.1:9/auth/v1.0\nusername = u:v\n"
    )
    # from_settings reads the environment, but a key [swift] sets wins over it.
    monkeypatch.setenv("OS_USERNAME", "someone-else")
    store = SwiftStore.from_settings(settings)
    try:
        assert store.description == "swift://c/pypi"
        assert store._conns._auth.username == "u:v"
        assert local_paths(store) is None
    finally:
        await store.close()


def test_swift_retries_what_swiftclient_gave_up_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda _s: None)
    conns = Connections(SwiftAuth("http://127.0.0.1:9/auth/v1.0", "u", "k"), attempts=3, inner_retries=0)
    calls: list[int] = []

    def flaky(_conn: swiftclient.Connection) -> str:
        calls.append(1)
        if len(calls) < 3:
            raise swiftclient.ClientException("slow down", http_status=503 if len(calls) == 1 else 429)
        return "ok"

    assert conns.call("op", flaky) == "ok" and len(calls) == 3

    def missing(_conn: swiftclient.Connection) -> str:
        raise swiftclient.ClientException("nope", http_status=404)

    with pytest.raises(swiftclient.ClientException):
        conns.call("op", missing)

    def down(_conn: swiftclient.Connection) -> str:
        raise ConnectionRefusedError("refused")

    with pytest.raises(StorageError, match="cannot reach"):
        conns.call("op", down)


def test_metadata_round_trip() -> None:
    meta = metadata(1_700_000_000.5, {"SHA256": "ab"})
    assert meta == {"sha256": "ab", "uploaded-at": "1700000000.5"}
    info = info_from_meta(3, {"Sha256": "ab", "uploaded-at": "12", "owner": "me", "md5": ""})
    assert (info.size, info.mtime, dict(info.digests)) == (3, 12.0, {"sha256": "ab"})
    assert info_from_meta(1, {"uploaded-at": "garbage"}).mtime is None


def test_content_types() -> None:
    assert content_type("web/simple/foo/index.html") == "text/html; charset=utf-8"
    assert content_type("web/simple/foo/index.v1_json") == "application/vnd.pypi.simple.v1+json"
    assert content_type("web/json/foo") == "application/json"
    assert content_type("web/pypi/foo/json") == "application/json"
    assert content_type("web/packages/a/b/foo-1.0.tar.gz") == "application/octet-stream"
    assert content_type("web/packages/a/b/foo-1.0-py3-none-any.whl.metadata").startswith("text/plain")


class MemoryLease:
    """An in-memory lock object; ``conditional`` says whether create-only writes work."""

    def __init__(self, conditional: bool, delay: float = 0.0) -> None:
        self.conditional, self.delay = conditional, delay
        self.body: bytes | None = None
        self.modified = 0.0

    async def get(self) -> objectlock.Stored | None:
        await asyncio.sleep(self.delay)
        return None if self.body is None else objectlock.Stored(self.body, self.modified)

    async def put(self, body: bytes, *, create_only: bool) -> None:
        await asyncio.sleep(self.delay)
        if create_only and not self.conditional:
            raise objectlock.ConditionalUnsupported
        if create_only and self.body is not None:
            raise objectlock.CreateConflict
        self.body, self.modified = body, time.time()

    async def delete(self) -> None:
        self.body = None


@pytest.mark.parametrize("conditional", [True, False])
async def test_lease_race_has_one_winner(conditional: bool) -> None:
    io = MemoryLease(conditional, delay=0.01)
    supports = [objectlock.ConditionalSupport() for _ in range(5)]
    results = await asyncio.gather(
        *(objectlock.acquire(io, "lock", support=s, settle=0.05) for s in supports), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, objectlock.LeaseLock)]
    assert len(winners) == 1 and all(isinstance(r, LockHeld) for r in results if r not in winners)
    assert all(s.supported is conditional for s in supports if s.supported is not None)
    await winners[0].release()
    assert io.body is None


async def test_lease_ignores_a_retried_own_create() -> None:
    io = MemoryLease(True)
    original = io.put

    async def put_twice(body: bytes, *, create_only: bool) -> None:
        # The first PUT landed but its answer was lost; the client's retry meets our own object.
        await original(body, create_only=create_only)
        if create_only:
            raise objectlock.CreateConflict

    io.put = put_twice  # type: ignore[method-assign]
    lock = await objectlock.acquire(io, "lock", support=objectlock.ConditionalSupport(), settle=0.0)
    await lock.release()


async def test_unreadable_lock_counts_until_last_modified_plus_ttl() -> None:
    io = MemoryLease(True)
    io.body, io.modified = b"", time.time()
    with pytest.raises(LockHeld, match="not a frumious lease"):
        await objectlock.acquire(io, "lock", support=objectlock.ConditionalSupport(), ttl=60, settle=0.0)
    io.modified = time.time() - 61
    lock = await objectlock.acquire(io, "lock", support=objectlock.ConditionalSupport(), ttl=60, settle=0.0)
    await lock.release()
    await lock.release()


class GuardedMemoryStore:
    """Just enough of a Store for ``runner.holding_lock``: a lease on MemoryLease, writes that check it."""

    def __init__(self, io: MemoryLease, ttl: float) -> None:
        self.io, self.ttl = io, ttl
        self.guard = objectlock.LeaseGuard()
        self.written: list[float] = []  # when each accepted write happened

    async def lock(self, key: str) -> objectlock.LeaseLock:
        self.guard.lock = await objectlock.acquire(
            self.io, key, support=objectlock.ConditionalSupport(), ttl=self.ttl, settle=0.0
        )
        return self.guard.lock

    async def write(self) -> None:
        self.guard.check()
        self.written.append(time.time())


async def busy_run(store: GuardedMemoryStore, loss_seen: list[int]) -> None:
    """Two workers writing like run_queue's, each failure caught per project as _sync_one does."""

    async def worker() -> None:
        while True:
            try:
                await store.write()
            except StorageError:
                pass
            except Exception as exc:  # any per-project handler: the loss must still stop the run
                loss_seen.append(len(store.written))
                assert "lost the mirror lock" in str(exc)
            await asyncio.sleep(0.005)

    async with asyncio.TaskGroup() as group:
        for _ in range(2):
            group.create_task(worker())


async def test_a_stolen_lease_stops_the_run_before_another_write() -> None:
    from frumious.cli.compose import holding_lock
    from frumious.errors import LeaseLost

    io = MemoryLease(True)
    store = GuardedMemoryStore(io, ttl=0.4)
    at_steal: list[int] = []
    original_get = io.get

    async def get_and_note() -> objectlock.Stored | None:
        stored = await original_get()
        if stored is not None and b"rival" in stored.body:
            at_steal.append(len(store.written))  # the renewal is about to see the rival's token
        return stored

    io.get = get_and_note  # type: ignore[method-assign]

    async def steal() -> None:
        await asyncio.sleep(0.25)
        io.body = objectlock.Lease("rival-token", "rival:2", time.time() + 60).encode()

    thief = asyncio.create_task(steal())
    with pytest.raises(LeaseLost, match=r"another run took it over: rival:2.*stopped before writing anything more"):
        async with holding_lock(store):  # type: ignore[arg-type]
            await busy_run(store, [])
    await thief
    assert at_steal and len(store.written) == at_steal[0], "a write landed after the loss was seen"
    assert io.body is not None and b"rival:2" in io.body, "the rival's lease must stay"
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


@pytest.mark.parametrize("failure", ["error", "hang"])
async def test_a_lease_that_cannot_be_renewed_stops_the_run_before_it_runs_out(failure: str) -> None:
    from frumious.cli.compose import holding_lock
    from frumious.errors import LeaseLost

    io = MemoryLease(True)
    store = GuardedMemoryStore(io, ttl=0.4)
    broken = asyncio.Event()
    original_get = io.get

    async def failing_get() -> objectlock.Stored | None:
        if broken.is_set():
            if failure == "hang":
                await asyncio.Event().wait()
            raise StorageError("read lock: 503 Service Unavailable")
        return await original_get()

    io.get = failing_get  # type: ignore[method-assign]

    async def break_soon() -> None:
        await asyncio.sleep(0.15)
        broken.set()

    breaker = asyncio.create_task(break_soon())
    with pytest.raises(LeaseLost, match=r"not renewed in time|could not be renewed"):
        async with holding_lock(store):  # type: ignore[arg-type]
            await busy_run(store, [])
    await breaker
    assert io.body is not None
    last_expiry = objectlock.Lease.decode(objectlock.Stored(io.body, None), 0.4).expires
    # Another run may take the lease over from last_expiry on: no write of ours may come that late.
    assert store.written and max(store.written) < last_expiry


async def test_writes_are_checked_after_the_loss_even_without_a_cancellable_run() -> None:
    from frumious.errors import LeaseLost

    io = MemoryLease(True)
    store = GuardedMemoryStore(io, ttl=0.4)
    lock = await store.lock("lock")
    io.body = objectlock.Lease("rival-token", "rival:2", time.time() + 60).encode()
    for _ in range(100):
        if lock.lost:
            break
        await asyncio.sleep(0.02)
    with pytest.raises(LeaseLost):
        await store.write()
    await lock.release()
    assert io.body is not None and b"rival:2" in io.body
