"""Crashes and signals: kill -9 and SIGTERM at random moments, long UTF-8 names, temps never served.

``frumious mirror`` runs as a real subprocess against the fake upstream, whose file answers
trickle in slowly so that a kill lands while downloads are half written.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

import frumious
from fakepypi import Artifact, FakeIndex, FakePyPI, make_sdist, make_wheel
from frumious import download
from frumious.protocol import layout
from frumious.serve.app import make_app
from frumious.storage.filesystem import FilesystemStore

from .helpers import mirror_dir, run, tree

SRC = Path(frumious.__file__).resolve().parents[1]
LONG_NAME = "longname-1.0-" + "é" * 115 + "x.tar.gz"  # 252 bytes in UTF-8
BIG = download.SMALL + 64 * 1024
# Files that legitimately differ between two runs over the same upstream: the run's start
# time, the SQLite record (same rows, different pages and journal), and the listing ETag,
# which only a run that fetched the listing remembers (a resumed run does not).
PER_RUN = {
    layout.LAST_MODIFIED,
    layout.LOCK,
    "frumious.sqlite",
    "frumious.sqlite-wal",
    "frumious.sqlite-shm",
    ".frumious/listing-etag",
    ".frumious/upstream-feed",  # when the upstream was last asked for a change feed
}


def crash_index() -> FakeIndex:
    index = FakeIndex()
    for number in range(16):
        name = f"proj-{number:02d}"
        index.add(name, "1.0", make_wheel(name, "1.0"), make_sdist(name, "1.0"))
    index.add("longname", "1.0", Artifact(LONG_NAME, b"an sdist with a long name" * 40))
    # Files past download.SMALL are streamed through a temp file while they arrive; smaller ones are
    # read whole and written in one call, a temp that lives for microseconds, which a kill rarely hits.
    for number in range(3):
        name = f"bigfile-{number}"
        body = hashlib.sha256(name.encode()).digest() * (BIG // 32)
        index.add(name, "1.0", Artifact(f"{name}-1.0.tar.gz", body))
    return index


@pytest.fixture
def fake_index() -> FakeIndex:
    return crash_index()


def stray_temps(root: Path) -> list[str]:
    """Temp files of any naming (a dot-file but the lock), anywhere in the mirror."""
    return sorted(p for p in tree(root) if Path(p).name.startswith(".") and p != layout.LOCK)


def start_mirror(config: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "frumious", "-c", str(config), "mirror"]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file's bytes (a symlink's target), but the per-run files."""
    found = {}
    for key in tree(root) - PER_RUN:
        path = root / key
        found[key] = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
    return found


def assert_visible_files_are_whole(root: Path, index: FakeIndex) -> None:
    """Every release file in the tree has its upstream digest; every JSON page parses."""
    by_name = {f.filename: f.artifact.sha256 for f in index.all_files()}
    for key in tree(root):
        name = Path(key).name
        if key.startswith("web/packages/") and not name.startswith("."):
            expected = by_name.get(name.removesuffix(".metadata"))
            if expected is not None and not name.endswith(".metadata"):
                assert hashlib.sha256((root / key).read_bytes()).hexdigest() == expected, key
        if key.endswith("index.v1_json"):
            json.loads((root / key).read_bytes())


def reference_tree(fake_pypi: FakePyPI, make_config, tmp_path: Path) -> tuple[dict[str, bytes], float]:
    """An uninterrupted run's tree, and how long the run took."""
    config = make_config(tmp_path / "reference", fake_pypi)
    started = time.monotonic()
    process = start_mirror(config)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()
    return snapshot(mirror_dir(config)), time.monotonic() - started


def wait_for_a_temp(root: Path, process: subprocess.Popen[bytes], limit: float = 30.0) -> None:
    """Until a temp file exists in the mirror (a write in flight), or the run ended."""
    deadline = time.monotonic() + limit
    while process.poll() is None and time.monotonic() < deadline and not stray_temps(root):
        time.sleep(0.01)


def slow_files(fake_pypi: FakePyPI) -> None:
    # A large file takes about 0.4 s, in 20 pieces (the first rule that matches a request applies).
    fake_pypi.trickle("/packages/*bigfile*", piece=BIG // 20, pause=0.02, times=None)
    fake_pypi.trickle("/packages/*", piece=512, pause=0.02, times=None)


@pytest.mark.slow
def test_kill_9_at_random_moments_converges(fake_pypi: FakePyPI, make_config, tmp_path: Path) -> None:
    slow_files(fake_pypi)
    (tmp_path / "reference").mkdir()
    expected, seconds = reference_tree(fake_pypi, make_config, tmp_path)
    assert any(key.endswith(LONG_NAME) for key in expected)
    (tmp_path / "crash").mkdir()
    config = make_config(tmp_path / "crash", fake_pypi)
    root = mirror_dir(config)
    rng = random.Random(10)
    left_behind = 0
    for attempt in range(12):
        process = start_mirror(config)
        if attempt % 2:
            time.sleep(rng.uniform(0.2, seconds))
        else:
            # Half the kills wait for a download in flight, so some surely land mid-write
            # whatever the machine's load does to the timing of the others.
            wait_for_a_temp(root, process)
            time.sleep(rng.uniform(0.0, 0.2))
        process.kill()
        process.communicate(timeout=30)
        assert_visible_files_are_whole(root, fake_pypi.index)
        left_behind = max(left_behind, len(stray_temps(root)))
    assert left_behind > 0  # the kills did land mid-write (else this test proves nothing)
    process = start_mirror(config)
    _out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()
    assert stray_temps(root) == []
    assert snapshot(root) == expected


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_the_next_run_converges(fake_pypi: FakePyPI, make_config, tmp_path: Path) -> None:
    slow_files(fake_pypi)
    (tmp_path / "reference").mkdir()
    expected, _seconds = reference_tree(fake_pypi, make_config, tmp_path)
    (tmp_path / "stop").mkdir()
    config = make_config(tmp_path / "stop", fake_pypi)
    root = mirror_dir(config)
    rng = random.Random(15)
    stopped = 0
    for _ in range(4):
        fake_pypi.reset_log()
        process = start_mirror(config)
        while not fake_pypi.paths("/packages/") and process.poll() is None:  # downloading: handlers in place
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.3))
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
        lines = err.decode().strip().splitlines()
        assert "Traceback" not in err.decode()
        if process.returncode == 0 or (process.returncode == -signal.SIGTERM and b"Time:" in out):
            break  # the run had finished (summary printed) before the signal came
        assert process.returncode == 143, err.decode()
        assert lines[-1] == "frumious: stopped by SIGTERM; the next run resumes where this one stopped"
        assert sum("stopped by" in line for line in lines) == 1
        assert stray_temps(root) == []  # removed by this run, not left to the next
        assert (root / "todo").exists() or (root / "status").exists()
        assert_visible_files_are_whole(root, fake_pypi.index)
        stopped += 1
    assert stopped > 0
    assert run(config, "mirror") == 0
    assert stray_temps(root) == []
    assert snapshot(root) == expected


def test_a_project_with_a_252_byte_utf8_filename_syncs(fake_pypi: FakePyPI, make_config, tmp_path: Path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    stored = [key for key in tree(mirror_dir(config)) if key.endswith(LONG_NAME)]
    assert len(stored) == 1
    assert (mirror_dir(config) / stored[0]).read_bytes() == fake_pypi.index.file("longname", LONG_NAME).artifact.content


async def test_serve_never_serves_a_temp_file(tmp_path: Path) -> None:
    store = FilesystemStore(str(tmp_path))
    await store.write("web/packages/aa/bb/x-1.0.whl", b"wheel")
    for key in (f"web/packages/aa/bb/{layout.TEMP_PREFIX}1-2", f"web/packages/{layout.TEMP_FALLBACK_DIR}/x"):
        (tmp_path / key).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / key).write_bytes(b"half a wheel")
    async with TestClient(TestServer(make_app(store, hash_index=False))) as client:
        assert (await client.get("/packages/aa/bb/x-1.0.whl")).status == 200
        assert (await client.get(f"/packages/aa/bb/{layout.TEMP_PREFIX}1-2")).status == 404
        assert (await client.get(f"/packages/{layout.TEMP_FALLBACK_DIR}/x")).status == 404
