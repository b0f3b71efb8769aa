"""Shards as processes (issue 16): each shard is its own ``frumious mirror --shards N`` process
with its own ``JOB_COMPLETION_INDEX``, as the pods of a Kubernetes Indexed Job are, all writing
into one bucket of the real Swift/S3 server (``tests/services/swift-saio.sh``) and reading the
fake upstream. Checked: the bucket ends as a single process leaves it; the serial is published
once a round and never while a shard is behind, even when one is killed with SIGKILL; and the
shards together keep to the mirror's request budget.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import swiftclient

import frumious
from fakepypi import FakeIndex, FakePyPI, make_sdist, make_wheel
from fakepypi.meter import busiest_window
from frumious.shard import shard_of

from .conftest import RawS3, RawSwift, Saio, s3_client

pytestmark = pytest.mark.swift

SRC = Path(frumious.__file__).resolve().parents[1]
PROJECTS = [f"proc-{number:02d}" for number in range(8)]  # every one of 4 shards holds one or more
# A killed shard's lease would hold its lock for objectlock.DEFAULT_TTL (two minutes); a pod
# restarted by Kubernetes waits that out in its back-off. The test shortens it instead.
LEASE = 3.0
LAUNCH = (
    "import sys; from frumious.storage import objectlock; "
    f"objectlock.DEFAULT_TTL = {LEASE}; "
    "from frumious.cli import main; sys.exit(main())"
)
# State: each shard's own under .frumious/shards/, the record, and what only publish writes.
STATE_TOP = {"status", "todo", ".lock", "web/last-modified"}


def shard_catalogue() -> FakeIndex:
    index = FakeIndex()
    for name in PROJECTS:
        index.add(name, "1.0", make_wheel(name, "1.0"), make_sdist(name, "1.0"))
    return index


@pytest.fixture
def fake_index() -> FakeIndex:
    return shard_catalogue()


@dataclass
class Bucket:
    """One bucket (S3) or container (Swift) of the Swift/S3 server, with the mirror under ``mirror/``."""

    kind: str
    raw: Any
    keys: dict[str, Any]
    sections: dict[str, dict[str, str]]

    def names(self) -> set[str]:
        return {name.removeprefix("mirror/") for name in self.raw.names()}

    def get(self, key: str) -> bytes | None:
        try:
            if self.kind == "s3":
                return bytes(self.raw.client.get_object(Bucket=self.raw.bucket, Key=f"mirror/{key}")["Body"].read())
            return bytes(self.raw.conn.get_object(self.raw.container, f"mirror/{key}")[1])
        except Exception as exc:  # a missing object: boto's NoSuchKey, swiftclient's 404
            if "NoSuchKey" in repr(exc) or getattr(exc, "http_status", None) == 404:
                return None
            raise

    def public(self) -> dict[str, bytes]:
        """Every key a client or a downstream mirror sees, with its bytes (state and record left out)."""
        found = {}
        for key in sorted(self.names()):
            if key in STATE_TOP or key.startswith((".frumious/", "frumious.sqlite")):
                continue
            data = self.get(key)
            assert data is not None, key
            found[key] = data
        return found


def new_bucket(saio: Saio, kind: str) -> Bucket:
    name = f"frumious-{uuid.uuid4().hex[:16]}"
    if kind == "s3":
        client = s3_client(saio.s3_endpoint, saio.s3_key_id, saio.s3_secret)
        client.create_bucket(Bucket=name)
        section = {
            "endpoint_url": saio.s3_endpoint,
            "aws_access_key_id": saio.s3_key_id,
            "aws_secret_access_key": saio.s3_secret,
            "region_name": "us-east-1",
        }
        return Bucket("s3", RawS3(client, name), {"directory": f"/{name}/mirror"}, {"s3": section})
    conn = swiftclient.Connection(authurl=saio.auth_url, user=saio.user, key=saio.key, auth_version="1")
    conn.put_container(name)
    section = {"default_container": name, "auth_url": saio.auth_url, "username": saio.user, "password": saio.key}
    return Bucket("swift", RawSwift(conn, name), {"directory": "/mirror"}, {"swift": section})


def bucket_config(make_config, directory: Path, pypi: FakePyPI, bucket: Bucket, **keys: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return make_config(directory, pypi, sections=bucket.sections, storage_backend=bucket.kind, **bucket.keys, **keys)


@dataclass
class ShardProcess:
    """One shard's ``frumious mirror`` process, as a pod of an Indexed Job runs it."""

    index: int
    process: subprocess.Popen[bytes]
    log: Path

    def wait(self, limit: float = 120.0) -> int:
        return self.process.wait(limit)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def start(config: Path, index: int, count: int, logs: Path) -> ShardProcess:
    """``frumious mirror --shards N`` with ``JOB_COMPLETION_INDEX`` set to ``index``."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
        "JOB_COMPLETION_INDEX": str(index),
    }
    logs.mkdir(exist_ok=True)
    log = logs / f"shard-{index}-{len(list(logs.iterdir()))}.log"
    with log.open("wb") as out:
        command = [sys.executable, "-c", LAUNCH, "-c", str(config), "mirror", "--shards", str(count)]
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    return ShardProcess(index, process, log)


def run_shards(config: Path, count: int, logs: Path) -> list[ShardProcess]:
    """All ``count`` shards at once, to the end; each must succeed."""
    shards = [start(config, index, count, logs) for index in range(count)]
    for shard in shards:
        assert shard.wait() == 0, shard.output
    return shards


def publishes(shards: list[ShardProcess]) -> int:
    return sum(len(re.findall(r"Published serial \d+", shard.output)) for shard in shards)


def root_projects(bucket: Bucket) -> Counter[str]:
    page = bucket.get("web/simple/index.html")
    assert page is not None
    return Counter(re.findall(r'<a href="([^"/]+)/">', page.decode()))


def single_process_mirror(saio: Saio, kind: str, make_config, tmp_path: Path, pypi: FakePyPI) -> Bucket:
    from integration.helpers import run

    bucket = new_bucket(saio, kind)
    assert run(bucket_config(make_config, tmp_path / "single", pypi, bucket), "mirror") == 0
    return bucket


@pytest.mark.parametrize(("kind", "count"), [("s3", 1), ("swift", 2), ("s3", 4)])
def test_shard_processes_leave_the_bucket_one_process_leaves(
    saio: Saio, fake_pypi: FakePyPI, make_config, tmp_path: Path, kind: str, count: int
) -> None:
    single = single_process_mirror(saio, kind, make_config, tmp_path, fake_pypi)
    bucket = new_bucket(saio, kind)
    config = bucket_config(make_config, tmp_path / "sharded", fake_pypi, bucket)
    shards = run_shards(config, count, tmp_path / "logs")

    expected, got = single.public(), bucket.public()
    assert sorted(got) == sorted(expected)
    assert got == expected  # pages, JSON, the root index and files: the same bytes
    assert root_projects(bucket) == Counter({name: 1 for name in PROJECTS})
    serial = str(fake_pypi.index.serial).encode()
    assert bucket.get("status") == serial
    assert publishes(shards) == 1, [shard.output for shard in shards]
    for index in range(count):
        listed = (bucket.get(f".frumious/shards/{index}-of-{count}/projects") or b"").decode().split("\n")
        assert {line.split(" ")[0] for line in listed if line} == {n for n in PROJECTS if shard_of(n, count) == index}
