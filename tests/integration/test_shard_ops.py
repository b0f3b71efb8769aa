"""Operating a sharded mirror: `verify --shard`, orphans found once by `publish --orphans`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fakepypi import FakePyPI
from frumious.cli.progress import human_bytes

from .helpers import install_backends, mirror_dir, run, tree

FOO_WHEEL = "foo_bar-1.0-py3-none-any.whl"  # foo-bar is in shard 1 of 2
DEP_WHEEL = "dep_lib-0.1-py3-none-any.whl"  # dep-lib (and yanky) in shard 0 of 2


def sharded(fake_pypi: FakePyPI, make_config, tmp_path: Path, **keys: object) -> Path:
    """A mirror synced as two shards (and published by the last)."""
    config = make_config(tmp_path, fake_pypi, shards=2, **keys)
    for index in range(2):
        assert run(config, "mirror", "--shard", f"{index}/2") == 0
    assert (mirror_dir(config) / "status").exists()
    return config


def stored(root: Path, pypi: FakePyPI, name: str, filename: str) -> Path:
    return root / "web" / pypi.file_path(name, filename).lstrip("/")


def test_publish_orphans_finds_a_planted_file_once_and_removes_only_it(
    fake_pypi: FakePyPI, make_config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = sharded(fake_pypi, make_config, tmp_path)
    root = mirror_dir(config)
    planted = root / "web/packages/ab/cd/stray-1.0-py3-none-any.whl"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"no shard owns this")
    before = tree(root)
    capsys.readouterr()
    assert run(config, "publish", "--orphans") == 0
    out = capsys.readouterr().out
    # Each shard's files are owned by its record: only the planted file is unowned, named once.
    assert "Files under web/packages no shard owns: 1" in out
    assert out.count("stray-1.0-py3-none-any.whl") == 1
    assert tree(root) == before  # listing changes nothing
    assert run(config, "publish", "--orphans", "--delete") == 0
    assert "Removed: 1 file(s)" in capsys.readouterr().out
    assert tree(root) == before - {"web/packages/ab/cd/stray-1.0-py3-none-any.whl"}
    assert run(config, "publish", "--orphans") == 0
    assert "no shard owns: 0" in capsys.readouterr().out


def test_orphans_are_not_removed_while_a_shard_runs(
    fake_pypi: FakePyPI, make_config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = sharded(fake_pypi, make_config, tmp_path)
    root = mirror_dir(config)
    planted = root / "web/packages/ab/cd/stray-1.0.tar.gz"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"maybe a running shard's, not yet recorded")
    lock = os.open(root / ".frumious/shards/1-of-2/.lock", os.O_RDWR | os.O_CREAT)
    try:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        capsys.readouterr()
        assert run(config, "publish", "--orphans", "--delete") == 1
        assert "shard 1/2 is running" in capsys.readouterr().err
    finally:
        os.close(lock)
    assert planted.exists()


def test_verify_delete_is_refused_in_a_shard(
    fake_pypi: FakePyPI, make_config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = sharded(fake_pypi, make_config, tmp_path)
    capsys.readouterr()
    assert run(config, "verify", "--shard", "0/2", "--delete") == 2
    err = capsys.readouterr().err
    assert "other shards' files would all look unowned" in err and "publish --orphans --delete" in err
    assert "Traceback" not in err
    assert run(config, "publish", "--delete") == 2
    assert "give it with --orphans" in capsys.readouterr().err


def test_a_shards_verify_repairs_its_own_files_and_leaves_the_others(
    fake_pypi: FakePyPI, make_config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = sharded(fake_pypi, make_config, tmp_path)
    root = mirror_dir(config)
    mine, theirs = stored(root, fake_pypi, "dep-lib", DEP_WHEEL), stored(root, fake_pypi, "foo-bar", FOO_WHEEL)
    good = mine.read_bytes()
    for path in (mine, theirs):
        path.write_bytes(b"damaged")
    capsys.readouterr()
    fake_pypi.reset_log()
    assert run(config, "verify", "--shard", "0/2") == 0
    out = capsys.readouterr().out
    assert "Checked: 2 project(s)" in out and "Repaired: 1 file(s)" in out
    assert mine.read_bytes() == good
    assert theirs.read_bytes() == b"damaged"  # shard 1's file: its own verify's to repair
    assert set(fake_pypi.downloads) == {fake_pypi.file_path("dep-lib", DEP_WHEEL)}
    assert run(config, "verify", "--shard", "1/2") == 0
    assert theirs.read_bytes() != b"damaged"


def shard_size(root: Path, label: str) -> tuple[int, int]:
    """Release files and bytes in a shard's record (what the share must report)."""
    import sqlite3
    from contextlib import closing

    from frumious.record import schema

    with closing(sqlite3.connect(root / f".frumious/shards/{label}/frumious.sqlite")) as db:
        _projects, files, size = db.execute(schema.TOTALS).fetchone()
    return int(files), int(size)


def test_a_shards_dry_run_shows_its_share_of_the_listing_and_of_the_files(
    fake_pypi: FakePyPI, make_config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path, fake_pypi, shards=2)
    capsys.readouterr()
    assert run(config, "mirror", "--dry-run", "--shard", "0/2") == 0
    out = capsys.readouterr().out
    # A fresh shard: its projects are counted from the listing; its files are not known yet.
    assert "Shard 0/2: 2 of 3 listed projects (66.7%); holds nothing yet" in out
    assert not (mirror_dir(config) / ".frumious/shards/0-of-2/status").exists()
    for index in range(2):
        assert run(config, "mirror", "--shard", f"{index}/2") == 0
    capsys.readouterr()
    assert run(config, "mirror", "--dry-run", "--shard", "1/2") == 0
    files, size = shard_size(mirror_dir(config), "1-of-2")
    assert files > 0
    held = f"holds {files} files, {human_bytes(size)}"
    assert f"Shard 1/2: 1 of 3 listed projects (33.3%); {held}" in capsys.readouterr().out


def test_a_dry_run_without_an_index_shows_every_shards_share(
    fake_pypi: FakePyPI, make_config, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    monkeypatch.delenv("JOB_COMPLETION_INDEX", raising=False)
    config = sharded(fake_pypi, make_config, tmp_path)
    root = mirror_dir(config)
    before = {key: (root / key).read_bytes() for key in tree(root) if not key.endswith((".lock", "-wal", "-shm"))}
    capsys.readouterr()
    assert run(config, "mirror", "--dry-run") == 0  # shards = 2 in the config, no index: every shard
    out = capsys.readouterr().out
    for label, shard, listed in (("0-of-2", "0/2", "2 of 3"), ("1-of-2", "1/2", "1 of 3")):
        files, _size = shard_size(root, label)
        assert f"  Shard {shard}: {listed} listed projects" in out and f"holds {files} files" in out
    assert "Largest shard by bytes:" in out
    after = {key: (root / key).read_bytes() for key in tree(root) if not key.endswith((".lock", "-wal", "-shm"))}
    assert after == before


def test_orphans_on_a_store_without_local_paths(
    fake_pypi: FakePyPI, make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # An object store's shard records are fetched from the store (PathlessStore: no local paths).
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    install_backends(tmp_path / "site", monkeypatch, pathless="frumious.testing.fsvariants:PathlessStore")
    config = sharded(fake_pypi, make_config, tmp_path, storage_backend="pathless")
    root = mirror_dir(config)
    planted = root / "web/packages/ab/cd/stray-1.0-py3-none-any.whl"
    planted.parent.mkdir(parents=True)
    planted.write_bytes(b"no shard owns this")
    capsys.readouterr()
    assert run(config, "publish", "--orphans", "--delete") == 0
    out = capsys.readouterr().out
    assert "no shard owns: 1" in out and "Removed: 1 file(s)" in out
    assert not planted.exists()
    assert stored(root, fake_pypi, "foo-bar", FOO_WHEEL).exists()
