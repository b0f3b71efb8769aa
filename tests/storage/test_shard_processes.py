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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import swiftclient

import frumious
from fakepypi import FakeIndex, FakePyPI, make_sdist, make_wheel
from fakepypi.meter import busiest_window
from frumious.protocol.shardfiles import PUBLISHED, parse_published
from frumious.shard import shard_of
from integration.helpers import mirror_dir, read, run, tree

from .conftest import RawS3, RawSwift, Saio, s3_client

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


_STARTED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test() -> Iterator[None]:
    """A test that fails half-way leaves no shard running against the next one's servers."""
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.wait(30)


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
    count: int
    process: subprocess.Popen[bytes]
    log: Path
    published: bytes | None = None  # the mirror's ``status`` when it started: publishing it again is fine

    @property
    def prefix(self) -> str:
        return f".frumious/shards/{self.index}-of-{self.count}"

    def wait(self, limit: float = 120.0) -> int:
        return self.process.wait(limit)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def start(config: Path, index: int, count: int, logs: Path, published: bytes | None = None) -> ShardProcess:
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
    _STARTED.append(process)
    return ShardProcess(index, count, process, log, published)


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


def single_process_mirror(make_config, tmp_path: Path, pypi: FakePyPI) -> Path:
    """A mirror of ``pypi`` synced by one process, on the filesystem (the quickest to set up): its config."""
    config = make_config(tmp_path, pypi)
    assert run(config, "mirror") == 0
    return config


def public_files(config: Path) -> dict[str, bytes]:
    """``Bucket.public`` of a filesystem mirror."""
    root = mirror_dir(config)
    keys = (key for key in tree(root) if key not in STATE_TOP and not key.startswith((".frumious/", "frumious.sqlite")))
    return {key: (root / key).read_bytes() for key in sorted(keys)}


@pytest.mark.swift
@pytest.mark.parametrize(("kind", "count"), [("s3", 1), ("swift", 2), ("s3", 4)])
def test_shard_processes_leave_the_bucket_one_process_leaves(
    saio: Saio, fake_pypi: FakePyPI, make_config, tmp_path: Path, kind: str, count: int
) -> None:
    single = public_files(single_process_mirror(make_config, tmp_path, fake_pypi))
    bucket = new_bucket(saio, kind)
    config = bucket_config(make_config, tmp_path / "sharded", fake_pypi, bucket)
    shards = run_shards(config, count, tmp_path / "logs")

    got = bucket.public()
    assert sorted(got) == sorted(single)
    assert got == single  # pages, JSON, the root index and files: the same bytes
    assert root_projects(bucket) == Counter(PROJECTS)
    serial = fake_pypi.index.serial
    assert bucket.get("status") == str(serial).encode()
    # Published once: by one of the shards (the last to finish), after each shard's first run.
    assert publishes(shards) == 1, [shard.output for shard in shards]
    published = parse_published(bucket.get(PUBLISHED))
    assert published is not None
    assert (published.count, published.runs, published.serial) == (count, (1,) * count, serial)
    for index in range(count):
        listed = (bucket.get(f".frumious/shards/{index}-of-{count}/projects") or b"").decode().split("\n")
        assert {line.split(" ")[0] for line in listed if line} == {n for n in PROJECTS if shard_of(n, count) == index}


def own_files(keys: Iterable[str], projects: list[str]) -> set[str]:
    """The release files (and sidecars) of ``projects`` among ``keys``."""
    spellings = [f"/{name.replace('-', '_')}-" for name in projects]
    return {key for key in keys if key.startswith("web/packages/") and any(s in key for s in spellings)}


def kill_midway(bucket: Bucket, shard: ShardProcess, projects: list[str], total: int, rng: random.Random) -> None:
    """SIGKILL ``shard`` once it stored a random number of its ``total`` files (0: once it took its lock),
    two or more short of the end: each of those is answered slowly, so it is always killed mid-run.
    Nothing may be published meanwhile."""
    before = own_files(bucket.names(), projects)
    left = total - len(before)
    target = rng.randrange(0, left - 1) if left > 1 else 0
    while True:
        assert shard.process.poll() is None, f"shard {shard.index} ended before file {target}:\n{shard.output}"
        names = bucket.names()
        assert "status" not in names or bucket.get("status") == shard.published
        if len(own_files(names, projects) - before) >= target and (target or f"{shard.prefix}/.lock" in names):
            break
        time.sleep(0.05)
    shard.kill()


def finish(bucket: Bucket, shards: list[ShardProcess], *publishing: bytes) -> None:
    """Wait for ``shards`` to succeed; meanwhile ``status`` stays what it was, or becomes ``publishing``."""
    while any(shard.process.poll() is None for shard in shards):
        assert {bucket.get("status")} <= {shard.published for shard in shards} | set(publishing)
        time.sleep(0.1)
    for shard in shards:
        assert shard.wait() == 0, shard.output


@pytest.mark.swift
def test_a_shard_killed_at_random_points_holds_the_serial_back_then_converges(
    saio: Saio, fake_pypi: FakePyPI, make_config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng, count, logs = random.Random(16), 2, tmp_path / "logs"
    reference = single_process_mirror(make_config, tmp_path, fake_pypi)
    bucket = new_bucket(saio, "s3")
    config = bucket_config(make_config, tmp_path / "sharded", fake_pypi, bucket)
    # The victim does not hold the last project to change upstream, so the newest serial among its
    # own projects is below the listing's: the serial it must still publish (docs/scale-out.md).
    victim = 1 - shard_of(PROJECTS[-1], count)
    theirs = [name for name in PROJECTS if shard_of(name, count) == victim]
    first = fake_pypi.index.serial

    def shard(index: int) -> ShardProcess:
        return start(config, index, count, logs, published=str(first).encode())

    def kill(process: ShardProcess) -> None:
        kill_midway(bucket, process, theirs, len(own_files(public_files(reference), theirs)), rng)
        assert bucket.get("status") == str(first).encode()

    # A first round, uninterrupted, publishes the first serial.
    run_shards(config, count, logs)
    assert bucket.get("status") == str(first).encode()
    # Then a new release of every project upstream, its files answered slowly so that each kill
    # point below comes while the victim is mid-run.
    for name in PROJECTS:
        fake_pypi.index.add(name, "2.0", make_wheel(name, "2.0"), make_sdist(name, "2.0"))
    second = fake_pypi.index.serial
    assert run(reference, "mirror") == 0
    fake_pypi.delay("/packages/*", 0.2, times=None)

    # Round 2: every shard at once, the victim killed. The others' work is kept, the serial is not
    # moved, and publish names the shard holding it back.
    shards = [shard(index) for index in range(count)]
    kill(shards[victim])
    finish(bucket, [s for s in shards if s.index != victim])
    assert publishes(shards) == 0
    capsys.readouterr()
    assert run(config, "publish", "--shards", str(count)) == 1
    assert f"shard {victim}/{count} is at serial {first}, behind {second}" in capsys.readouterr().out
    assert bucket.get("status") == str(first).encode()
    # The victim alone again, as a restarted pod (once its lease expired), killed further on twice.
    for _attempt in range(2):
        time.sleep(LEASE)
        kill(shard(victim))
    time.sleep(LEASE)
    fake_pypi.clear_faults()
    last = shard(victim)
    finish(bucket, [last], str(second).encode())
    # The publish above took the other shards' runs, so the victim's run alone is no new round: it
    # publishes by itself because it raised the lowest shard serial past the published one.
    assert bucket.get("status") == str(second).encode()
    assert bucket.public() == public_files(reference)
    assert root_projects(bucket) == Counter(PROJECTS)


def test_the_shards_keep_to_the_mirrors_request_budget_together(
    fake_pypi: FakePyPI, make_config, tmp_path: Path
) -> None:
    """The store plays no part in this one: the shards share a directory."""
    rate, count = 10, 2
    config = make_config(tmp_path, fake_pypi, max_requests_per_second=rate)
    for shard in [start(config, index, count, tmp_path / "logs") for index in range(count)]:
        assert shard.wait() == 0, shard.output
    arrivals = [(record.at, 1) for record in fake_pypi.log]
    assert len(arrivals) >= 3 * rate  # a listing per shard, then each project's JSON and its three files
    # Each shard takes rate / count: its gate opens every count / rate seconds, so a one-second
    # window catches at most rate / count + 1 of its requests as they leave; one more each, in
    # case a process held up by the busy machine sends two nearly together. Shards each taking
    # the whole rate put about count * rate there (20 here).
    assert busiest_window(arrivals) <= rate + 2 * count
    assert read(mirror_dir(config), "status") == str(fake_pypi.index.serial)
