"""``storage.fsdirs``: a release file's directory made first, buckets remembered, leaves not."""

from __future__ import annotations

import os
import shutil
import tracemalloc
from pathlib import Path

import pytest

from frumious.storage.fsdirs import PackageDirs


def test_leaves_are_made_and_only_buckets_remembered(tmp_path: Path) -> None:
    dirs = PackageDirs(str(tmp_path))
    leaf = dirs.fresh_leaf(f"{tmp_path}/web/packages/ab/cd/{'e' * 60}/x-1.0.tar.gz")
    assert leaf is not None
    dirs.make_leaf(leaf)
    assert Path(leaf).is_dir()
    assert f"{tmp_path}/web/packages/ab/cd" in dirs.known and leaf not in dirs.known
    dirs.make_leaf(leaf)  # written again (a repair): already there is fine


def test_sidecars_and_other_keys_rename_first(tmp_path: Path) -> None:
    dirs = PackageDirs(str(tmp_path))
    assert dirs.fresh_leaf(f"{tmp_path}/web/packages/ab/cd/{'e' * 60}/x-1.0-py3-none-any.whl.metadata") is None
    assert dirs.fresh_leaf(f"{tmp_path}/web/simple/x/index.html") is None
    assert dirs.fresh_leaf(f"{tmp_path}/web/packages/x-1.0.tar.gz") is None


def test_a_bucket_removed_behind_its_back_is_made_again(tmp_path: Path) -> None:
    dirs = PackageDirs(str(tmp_path))
    first = f"{tmp_path}/web/packages/ab/cd/{'1' * 60}"
    dirs.make_leaf(first)
    shutil.rmtree(f"{tmp_path}/web/packages/ab")  # a pruned project emptied its buckets
    second = f"{tmp_path}/web/packages/ab/cd/{'2' * 60}"
    dirs.make_leaf(second)
    assert Path(second).is_dir()


def test_an_existing_tree_is_listed_not_probed(tmp_path: Path) -> None:
    (tmp_path / "web" / "packages" / "ab" / "cd").mkdir(parents=True)
    dirs = PackageDirs(str(tmp_path))
    dirs.make_leaf(f"{tmp_path}/web/packages/ab/ef/{'3' * 60}")  # a new bucket beside an existing one
    dirs.make_leaf(f"{tmp_path}/web/packages/ab/cd/{'4' * 60}")
    assert f"{tmp_path}/web/packages/ab" in dirs.known and f"{tmp_path}/web/packages/ab/cd" in dirs.known
    assert f"{tmp_path}/web/packages/ab" in dirs.complete


def test_every_bucket_remembered_in_a_bounded_size(tmp_path: Path) -> None:
    # All 65,792 buckets known and complete: as sets of their paths this took about 14 MiB.
    dirs = PackageDirs(str(tmp_path))
    buckets = [f"{dirs.packages}{a:02x}" for a in range(256)]
    buckets += [f"{dirs.packages}{a:02x}/{b:02x}" for a in range(256) for b in range(256)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for bucket in buckets:
            dirs.known.add(bucket)
            dirs.complete.add(bucket)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024
    assert all(bucket in dirs.known and bucket in dirs.complete for bucket in buckets[::97])
    assert f"{dirs.packages}AB" not in dirs.known and f"{dirs.packages}ab/cd/ef" not in dirs.known
    dirs.known.add(f"{dirs.packages}AB")  # not a bucket's spelling: held as itself
    assert f"{dirs.packages}AB" in dirs.known and f"{dirs.packages}ab" in dirs.known


def _counting_mkdir(monkeypatch: pytest.MonkeyPatch, calls: list[str]) -> None:
    real = os.mkdir

    def mkdir(path: str, *args: object, **kwargs: object) -> None:
        calls.append(str(path))
        real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "mkdir", mkdir)


def test_a_new_bucket_beside_a_made_one_takes_two_mkdirs_and_a_known_one_takes_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dirs = PackageDirs(str(tmp_path))
    dirs.make_leaf(f"{tmp_path}/web/packages/ab/cd/{'1' * 60}")
    calls: list[str] = []
    _counting_mkdir(monkeypatch, calls)
    new_bucket = f"{tmp_path}/web/packages/ab/ef/{'2' * 60}"
    dirs.make_leaf(new_bucket)  # <ab> was made by this process: ab/ef is certainly missing
    assert calls == [f"{tmp_path}/web/packages/ab/ef", new_bucket]
    calls.clear()
    same_bucket = f"{tmp_path}/web/packages/ab/ef/{'3' * 60}"
    dirs.make_leaf(same_bucket)
    assert calls == [same_bucket]
    assert Path(new_bucket).is_dir() and Path(same_bucket).is_dir()


def test_an_outer_bucket_removed_behind_its_back_is_made_again(tmp_path: Path) -> None:
    dirs = PackageDirs(str(tmp_path))
    dirs.make_leaf(f"{tmp_path}/web/packages/ab/cd/{'1' * 60}")
    shutil.rmtree(f"{tmp_path}/web/packages/ab")  # <ab> was complete: its new bucket's mkdir fails
    leaf = f"{tmp_path}/web/packages/ab/ef/{'2' * 60}"
    dirs.make_leaf(leaf)
    assert Path(leaf).is_dir()
    again = f"{tmp_path}/web/packages/ab/cd/{'4' * 60}"  # forgotten after the failure, then found missing
    dirs.make_leaf(again)
    assert Path(again).is_dir()


def test_a_leaf_of_another_shape_is_made_by_the_walk(tmp_path: Path) -> None:
    dirs = PackageDirs(str(tmp_path))
    leaf = f"{tmp_path}/web/packages/abc/d/{'1' * 60}"  # not <aa>/<bb>: no bucket slot
    dirs.make_leaf(leaf)
    assert Path(leaf).is_dir()
