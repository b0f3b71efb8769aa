"""Whole commands on the object stores: the same mirror runs on S3 and Swift as on disk."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import swiftclient

from integration.helpers import run

from .conftest import RawS3, RawSwift, Saio, s3_client

pytestmark = pytest.mark.swift


@dataclass
class Target:
    kind: str
    raw: Any
    keys: dict[str, Any]
    sections: dict[str, dict[str, str]]

    def names(self) -> set[str]:
        return {name.removeprefix("mirror/") for name in self.raw.names()}


@pytest.fixture(params=["s3", "swift"])
def target(request: pytest.FixtureRequest, saio: Saio) -> Iterator[Target]:
    name = f"frumious-{uuid.uuid4().hex[:16]}"
    if request.param == "s3":
        client = s3_client(saio.s3_endpoint, saio.s3_key_id, saio.s3_secret)
        client.create_bucket(Bucket=name)
        section = {
            "endpoint_url": saio.s3_endpoint,
            "aws_access_key_id": saio.s3_key_id,
            "aws_secret_access_key": saio.s3_secret,
            "region_name": "us-east-1",
        }
        yield Target("s3", RawS3(client, name), {"directory": f"/{name}/mirror"}, {"s3": section})
        return
    conn = swiftclient.Connection(authurl=saio.auth_url, user=saio.user, key=saio.key, auth_version="1")
    conn.put_container(name)
    section = {"default_container": name, "auth_url": saio.auth_url, "username": saio.user, "password": saio.key}
    yield Target("swift", RawSwift(conn, name), {"directory": "/mirror"}, {"swift": section})


def make_object_config(make_config, tmp_path: Path, fake_pypi, target: Target, **keys: Any) -> Path:
    return make_config(
        tmp_path, fake_pypi, sections=target.sections, storage_backend=target.kind, **target.keys, **keys
    )


def test_mirror_incremental_and_force_check_on_object_stores(target, fake_pypi, make_config, tmp_path) -> None:
    config = make_object_config(make_config, tmp_path, fake_pypi, target, json=True)
    assert run(config, "mirror") == 0
    names = target.names()
    assert {"generation", "status", "web/simple/index.html", "web/simple/foo-bar/index.v1_json"} <= names
    assert "web/json/foo-bar" in names and "web/pypi/foo-bar/json" in names
    wheel = next(n for n in names if n.endswith("dep_lib-0.1-py3-none-any.whl"))
    assert f"{wheel}.metadata" in names
    meta = target.raw.meta(wheel)
    content = fake_pypi.index.file("dep-lib", "dep_lib-0.1-py3-none-any.whl").artifact.content
    assert meta["sha256"] == hashlib.sha256(content).hexdigest() and "uploaded-at" in meta
    assert not any(n.startswith("todo") for n in names)

    fake_pypi.reset_log()
    assert run(config, "mirror", "--force-check") == 0
    assert fake_pypi.downloads == []

    target.raw.put(wheel, content[:-1] + bytes([content[-1] ^ 1]), {})
    assert run(config, "mirror", "--force-check") == 0
    assert [Path(p).name for p in fake_pypi.downloads] == ["dep_lib-0.1-py3-none-any.whl"]


def test_second_run_is_refused_while_the_lease_is_held(target, fake_pypi, make_config, tmp_path) -> None:
    config = make_object_config(make_config, tmp_path, fake_pypi, target)
    assert run(config, "mirror") == 0
    # A bandersnatch run's empty lock object is a held lock until it expires.
    target.raw.put(".lock", b"", {})
    assert run(config, "mirror") == 1


def test_keep_index_versions_copies_pages_on_object_stores(target, fake_pypi, make_config, tmp_path) -> None:
    config = make_object_config(make_config, tmp_path, fake_pypi, target, keep_index_versions=2)
    for _ in range(3):
        assert run(config, "mirror", "--force-check") == 0
    names = target.names()
    versions = sorted(n for n in names if n.startswith("web/simple/yanky/versions/") and n.endswith(".html"))
    assert len(versions) == 2
    current = target.raw.client.get_object if target.kind == "s3" else None
    if current is not None:
        body = current(Bucket=target.raw.bucket, Key="mirror/web/simple/yanky/index.html")["Body"].read()
        newest = current(Bucket=target.raw.bucket, Key=f"mirror/{versions[-1]}")["Body"].read()
    else:
        body = target.raw.conn.get_object(target.raw.container, "mirror/web/simple/yanky/index.html")[1]
        newest = target.raw.conn.get_object(target.raw.container, f"mirror/{versions[-1]}")[1]
    assert body == newest and b"yanky" in body


def test_verify_repairs_a_damaged_object_and_removes_orphans(target, fake_pypi, make_config, tmp_path) -> None:
    config = make_object_config(make_config, tmp_path, fake_pypi, target)
    assert run(config, "mirror") == 0
    wheel = next(n for n in target.names() if n.endswith("dep_lib-0.1-py3-none-any.whl"))
    content = fake_pypi.index.file("dep-lib", "dep_lib-0.1-py3-none-any.whl").artifact.content
    target.raw.put(wheel, content[:10], {})
    target.raw.put("web/packages/ff/ee/orphan/orphan-1.0.tar.gz", b"nobody owns me", {})
    fake_pypi.reset_log()
    assert run(config, "verify", "--delete", "--restart") == 0
    assert [Path(p).name for p in fake_pypi.downloads] == ["dep_lib-0.1-py3-none-any.whl"]
    names = target.names()
    assert "web/packages/ff/ee/orphan/orphan-1.0.tar.gz" not in names
    assert wheel in names


def test_delete_removes_the_project_and_updates_the_root(target, fake_pypi, make_config, tmp_path) -> None:
    config = make_object_config(make_config, tmp_path, fake_pypi, target, json=True)
    assert run(config, "mirror") == 0
    assert run(config, "delete", "yanky") == 0
    names = target.names()
    assert not any("yanky" in name for name in names)
    root = (
        target.raw.client.get_object(Bucket=target.raw.bucket, Key="mirror/web/simple/index.html")["Body"].read()
        if target.kind == "s3"
        else target.raw.conn.get_object(target.raw.container, "mirror/web/simple/index.html")[1]
    )
    assert b"yanky" not in root and b"foo-bar" in root


def test_serve_reads_pages_and_files_from_the_object_store(target, fake_pypi, make_config, tmp_path) -> None:
    config = make_object_config(make_config, tmp_path, fake_pypi, target)
    assert run(config, "mirror") == 0
    content = fake_pypi.index.file("dep-lib", "dep_lib-0.1-py3-none-any.whl").artifact.content
    asyncio.run(fetch_through_serve(config, content))


async def fetch_through_serve(config: Path, content: bytes) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from frumious import config as config_module
    from frumious.serve.app import make_app
    from frumious.storage import open_store

    store = open_store(config_module.load(str(config)))
    client = TestClient(TestServer(make_app(store, hash_index=False)))
    await client.start_server()
    try:
        response = await client.get("/simple/dep-lib/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        assert response.status == 200
        page = await response.json(content_type=None)
        url = page["files"][0]["url"]
        wheel = await client.get(f"/simple/dep-lib/{url}")
        assert wheel.status == 200 and await wheel.read() == content
    finally:
        await client.close()
        await store.close()


def test_diff_file_can_live_in_the_bucket(target, fake_pypi, make_config, tmp_path) -> None:
    directory = target.keys["directory"]
    config = make_object_config(make_config, tmp_path, fake_pypi, target, diff_file=f"{directory}/diffs/new-files")
    assert run(config, "mirror") == 0
    assert "diffs/new-files" in target.names()
    body = (
        target.raw.client.get_object(Bucket=target.raw.bucket, Key="mirror/diffs/new-files")["Body"].read()
        if target.kind == "s3"
        else target.raw.conn.get_object(target.raw.container, "mirror/diffs/new-files")[1]
    )
    lines = body.decode().split("\n")
    assert f"{directory}/web/simple/foo-bar/index.html" in lines
    assert any(line.endswith("dep_lib-0.1-py3-none-any.whl") for line in lines)


@pytest.mark.parametrize("how", ["stolen", "unrenewable"])
def test_a_lost_lease_stops_the_run_before_another_write(
    target, fake_pypi, make_config, tmp_path, monkeypatch, capsys, how
) -> None:
    import threading
    import time

    from frumious.errors import StorageError
    from frumious.storage import objectlock
    from frumious.storage.s3 import S3LeaseIO
    from frumious.storage.swift import _SwiftLeaseIO

    # A short lease, so the loss is noticed within a second or two (renewals every ttl / 4).
    monkeypatch.setattr(objectlock, "DEFAULT_TTL", 3.0)
    config = make_object_config(make_config, tmp_path, fake_pypi, target)
    # Every file answer is held back, so the run is mid-way (pages fetched, files pending) when the lease goes.
    fake_pypi.delay("/packages/*", 8.0, times=None)
    broken, done = threading.Event(), threading.Event()
    for io in (S3LeaseIO, _SwiftLeaseIO):
        original = io.get

        async def get(self, original=original):  # type: ignore[no-untyped-def]
            if broken.is_set():
                raise StorageError("read lock: 503 Service Unavailable")
            return await original(self)

        monkeypatch.setattr(io, "get", get)
    rival = objectlock.Lease("rival-token", "rival-host:2", time.time() + 600).encode()

    def thief() -> None:
        while not fake_pypi.downloads and not done.is_set():
            time.sleep(0.02)
        if how == "unrenewable":
            broken.set()
            return
        while not done.is_set():  # a rival holder that keeps renewing its own lease
            target.raw.put(".lock", rival, {})
            time.sleep(0.1)

    thread = threading.Thread(target=thief)
    thread.start()
    try:
        code = run(config, "mirror")
    finally:
        done.set()
        thread.join()
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err
    last = [line for line in err.splitlines() if line.startswith("frumious:")]
    assert len(last) == 1 and last[0].startswith("frumious: lost the mirror lock"), err
    assert ("another run took it over: rival-host:2" in last[0]) == (how == "stolen")
    names = target.names()
    assert not [n for n in names if n.startswith("web/packages/")], "a file was written after the loss"
    assert "status" not in names, "the serial advanced"
    if how == "stolen":
        assert target.raw.names() and b"rival-host:2" in _lock_body(target), "the rival's lease was removed"
        target.raw.put(".lock", objectlock.Lease("x", "done:1", time.time() - 1).encode(), {})  # it finished
    else:
        # Our own unrenewed lease runs out; the next run takes it over. Wait for the expiry the lease
        # itself names (not a fixed time: under load the last renewal may come late).
        try:
            body = _lock_body(target)
        except Exception:  # no lock object left (S3's NoSuchKey, Swift's 404): nothing to wait for
            body = b""
        expires = json.loads(body)["expires"] if body else 0.0
        time.sleep(max(0.0, expires - time.time()) + 0.5)
    fake_pypi.clear_faults()
    broken.clear()
    assert run(config, "mirror") == 0
    assert "status" in target.names() and any(n.startswith("web/packages/") for n in target.names())


def _lock_body(target: Target) -> bytes:
    if target.kind == "s3":
        body: bytes = target.raw.client.get_object(Bucket=target.raw.bucket, Key="mirror/.lock")["Body"].read()
        return body
    return bytes(target.raw.conn.get_object(target.raw.container, "mirror/.lock")[1])
