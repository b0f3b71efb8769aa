"""Storage fixtures: the real Swift+S3 server (tests/services/swift-saio.sh), moto, and one
``backend`` fixture giving each test a fresh store on every backend.

The server starts once per session (3-5 s, or about 25 s the first time, when it
installs its Debian packages) and is purged at the end. Every test gets its own uuid
bucket or container. Clients are built from the values the script prints; nothing is
exported into os.environ, so nobody's ~/.aws or AWS_* variables are picked up.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import swiftclient
from botocore.config import Config

from frumious.storage.base import Store
from frumious.storage.s3 import S3Store
from frumious.storage.s3client import add_content_md5
from frumious.storage.swift import SwiftStore
from frumious.storage.swiftconn import SwiftAuth

SCRIPT = Path(__file__).resolve().parent.parent / "services" / "swift-saio.sh"
PREFIX = "mirror"
MIB = 1024 * 1024


@dataclass(frozen=True)
class Saio:
    directory: Path
    auth_url: str
    user: str
    key: str
    s3_endpoint: str
    s3_key_id: str
    s3_secret: str
    s3_region: str


def parse_env(text: str) -> dict[str, str]:
    """The script's ``export NAME='value'`` lines as a dict."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("export ") and "=" in line:
            name, _, raw = line.removeprefix("export ").partition("=")
            values[name] = shlex.split(raw)[0] if raw else ""
    return values


@pytest.fixture(scope="session")
def saio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Saio]:
    installed = subprocess.run(["dpkg-query", "-W", "python3-swift"], capture_output=True).returncode == 0
    if shutil.which("apt-get") is None and not installed:
        pytest.skip("needs Debian's python3-swift (apt-get is missing here)")
    directory = tmp_path_factory.mktemp("saio")
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", str(directory)], capture_output=True, text=True, timeout=300
    )
    if started.returncode != 0:
        pytest.fail(f"swift-saio.sh start failed ({started.returncode}):\n{started.stderr[-4000:]}")
    env = parse_env(started.stdout)
    try:
        yield Saio(
            directory,
            env["SWIFT_AUTH_URL"],
            env["SWIFT_USER"],
            env["SWIFT_KEY"],
            env["S3_ENDPOINT_URL"],
            env["S3_ACCESS_KEY_ID"],
            env["S3_SECRET_ACCESS_KEY"],
            env["S3_REGION"],
        )
    finally:
        subprocess.run(["bash", str(SCRIPT), "purge", str(directory)], capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def s3_client(endpoint: str, key_id: str, secret: str, region: str = "us-east-1") -> Any:
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name=region,
        config=Config(s3={"addressing_style": "path"}),
    )
    client.meta.events.register("before-call.s3.DeleteObjects", add_content_md5)
    return client


class RawS3:
    """Direct access to the test bucket, to write and inspect objects the way other tools do."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client, self.bucket = client, bucket

    def put(self, key: str, data: bytes, meta: dict[str, str] | None = None) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"{PREFIX}/{key}", Body=data, Metadata=meta or {})

    def put_outside(self, name: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=name, Body=data)

    def meta(self, key: str) -> dict[str, str]:
        return dict(self.client.head_object(Bucket=self.bucket, Key=f"{PREFIX}/{key}")["Metadata"])

    def content_type(self, key: str) -> str:
        return str(self.client.head_object(Bucket=self.bucket, Key=f"{PREFIX}/{key}")["ContentType"])

    def multipart(self, key: str) -> bool:
        return "-" in self.client.head_object(Bucket=self.bucket, Key=f"{PREFIX}/{key}")["ETag"]

    def names(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


class RawSwift:
    def __init__(self, conn: swiftclient.Connection, container: str) -> None:
        self.conn, self.container = conn, container

    def put(self, key: str, data: bytes, meta: dict[str, str] | None = None) -> None:
        headers = {f"X-Object-Meta-{k}": v for k, v in (meta or {}).items()}
        self.conn.put_object(self.container, f"{PREFIX}/{key}", data, headers=headers)

    def put_outside(self, name: str, data: bytes) -> None:
        self.conn.put_object(self.container, name, data)

    def head(self, key: str) -> dict[str, str]:
        return dict(self.conn.head_object(self.container, f"{PREFIX}/{key}"))

    def meta(self, key: str) -> dict[str, str]:
        return {k[14:]: v for k, v in self.head(key).items() if k.startswith("x-object-meta-")}

    def content_type(self, key: str) -> str:
        return self.head(key)["content-type"]

    def multipart(self, key: str) -> bool:
        return self.head(key).get("x-static-large-object", "").lower() == "true"

    def names(self, container: str | None = None) -> list[str]:
        try:
            _headers, items = self.conn.get_container(container or self.container, full_listing=True)
        except swiftclient.ClientException as exc:
            if exc.http_status == 404:
                return []
            raise
        return [item["name"] for item in items]


@dataclass
class Backend:
    """One test's store, plus what the contract tests need to look behind it."""

    kind: str
    make: Callable[..., Store]  # another store ("another run") on the same bucket and prefix
    spool: Path
    raw: RawS3 | RawSwift | None = None

    @property
    def object_store(self) -> bool:
        return self.raw is not None

    def spool_leftovers(self) -> list[str]:
        return sorted(p.name for p in self.spool.iterdir()) if self.spool.exists() else []


BACKENDS = [
    pytest.param("filesystem", id="filesystem"),
    pytest.param("memory", id="memory"),
    pytest.param("s3", id="s3", marks=pytest.mark.swift),
    pytest.param("s3-moto", id="s3-moto"),
    pytest.param("swift", id="swift", marks=pytest.mark.swift),
]


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    kind: str = request.param
    spool = tmp_path / "spool"
    spool.mkdir()
    made: list[Store] = []
    cleanup: Callable[[], None] = lambda: None  # noqa: E731

    def remember(store: Store) -> Store:
        made.append(store)
        return store

    if kind == "filesystem":
        # Imported here so the object-store params still run if the filesystem backend is broken.
        from frumious.storage.filesystem import FilesystemStore

        root = tmp_path / "mirror"
        result = Backend(kind, lambda **kw: remember(FilesystemStore(str(root), **kw)), spool)
    elif kind == "memory":
        # The backend guide's example: required verbs only, every other verb the base class's.
        from frumious.testing.memstore import MemoryStore, Volume

        volume = Volume()
        result = Backend(kind, lambda: remember(MemoryStore(volume)), spool)
    elif kind in ("s3", "s3-moto"):
        result, cleanup = _s3_backend(request, kind, spool, remember)
    else:
        result, cleanup = _swift_backend(request, spool, remember)
    try:
        yield result
    finally:
        for store in made:
            await store.close()
        cleanup()


def _s3_backend(
    request: pytest.FixtureRequest, kind: str, spool: Path, remember: Callable[[Store], Store]
) -> tuple[Backend, Callable[[], None]]:
    if kind == "s3":
        saio: Saio = request.getfixturevalue("saio")
        endpoint, key_id, secret = saio.s3_endpoint, saio.s3_key_id, saio.s3_secret
    else:
        endpoint, key_id, secret = request.getfixturevalue("moto_endpoint"), "testing", "testing"
    bucket = f"frumious-{uuid.uuid4().hex[:20]}"
    client = s3_client(endpoint, key_id, secret)
    client.create_bucket(Bucket=bucket)

    def make(**overrides: Any) -> Store:
        options: dict[str, Any] = {"lock_settle": 0.2, "lock_ttl": 30.0, "spool_dir": str(spool)}
        options.update(overrides)
        return remember(
            S3Store(
                bucket,
                PREFIX,
                endpoint_url=endpoint,
                aws_access_key_id=key_id,
                aws_secret_access_key=secret,
                region_name="us-east-1",
                **options,
            )
        )

    def cleanup() -> None:
        raw = RawS3(client, bucket)
        for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        names = raw.names()
        for start in range(0, len(names), 1000):
            objects = [{"Key": k} for k in names[start : start + 1000]]
            client.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
        client.delete_bucket(Bucket=bucket)

    return Backend(kind, make, spool, RawS3(client, bucket)), cleanup


def _swift_backend(
    request: pytest.FixtureRequest, spool: Path, remember: Callable[[Store], Store]
) -> tuple[Backend, Callable[[], None]]:
    saio: Saio = request.getfixturevalue("saio")
    container = f"frumious-{uuid.uuid4().hex[:20]}"
    conn = swiftclient.Connection(authurl=saio.auth_url, user=saio.user, key=saio.key, auth_version="1")
    conn.put_container(container)
    auth = SwiftAuth(saio.auth_url, saio.user, saio.key)

    def make(**overrides: Any) -> Store:
        # Small large-object limits, so the >8 MiB contract test goes through the SLO path.
        options: dict[str, Any] = {
            "lock_settle": 0.2,
            "lock_ttl": 30.0,
            "spool_dir": str(spool),
            "large_object_threshold": 8 * MIB,
            "segment_size": 3 * MIB,
        }
        options.update(overrides)
        return remember(SwiftStore(container, PREFIX, auth=auth, **options))

    def cleanup() -> None:
        raw = RawSwift(conn, container)
        for name in (container, f"{container}_segments"):
            for obj in raw.names(name):
                conn.delete_object(name, obj)
            try:
                conn.delete_container(name)
            except swiftclient.ClientException as exc:
                if exc.http_status != 404:
                    raise
        conn.close()

    return Backend("swift", make, spool, RawSwift(conn, container)), cleanup
