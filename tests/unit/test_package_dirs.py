"""``storage.fsdirs``: a release file's directory made first, buckets remembered, leaves not."""

from __future__ import annotations

import shutil
from pathlib import Path

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
    assert {f"{tmp_path}/web/packages/ab", f"{tmp_path}/web/packages/ab/cd"} <= dirs.known
    assert f"{tmp_path}/web/packages/ab" in dirs.complete
