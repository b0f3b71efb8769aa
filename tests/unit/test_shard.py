"""Shards: the stable hash, I/N parsing, which keys are a shard's own, and tagged temps."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from frumious.protocol import layout
from frumious.shard import Shard, shard_of
from frumious.storage.filesystem import FilesystemStore
from frumious.storage.scoped import as_shard, private_key, scoped


def test_a_project_belongs_to_the_shard_its_normalized_names_sha256_says() -> None:
    for name in ("Django", "django", "zope.interface", "Zope_Interface", "numpy"):
        canonical = name.lower().replace("_", "-").replace(".", "-")
        expected = int.from_bytes(hashlib.sha256(canonical.encode()).digest()[:8], "big") % 7
        assert shard_of(name, 7) == expected
    assert shard_of("Zope_Interface", 4) == shard_of("zope.interface", 4)


def test_every_project_is_in_exactly_one_shard_and_they_are_even() -> None:
    names = [f"project-{n}" for n in range(4000)]
    shards = Shard.all(4)
    counts = [sum(shard.holds(name) for name in names) for shard in shards]
    assert sum(counts) == len(names)
    assert min(counts) > 800  # 1,000 each on average: a hash that clumps would fail this


@pytest.mark.parametrize("text", ["4/4", "-1/4", "1/0", "one/two", "1", "1/5000"])
def test_bad_shards_are_refused_with_the_reason(text: str) -> None:
    with pytest.raises(ValueError):
        Shard.parse(text)


def test_parse_and_label() -> None:
    shard = Shard.parse(" 2 / 8 ")
    assert (shard.index, shard.count, shard.label, shard.prefix) == (2, 8, "2-of-8", ".frumious/shards/2-of-8")


def test_state_files_are_the_shards_own_and_the_tree_is_shared() -> None:
    for key in ("status", "todo", ".lock", "frumious.sqlite", "web/last-modified", ".frumious/failed"):
        assert private_key(key), key
    for key in ("web/simple/foo/index.html", "web/packages/aa/bb/x.whl", "generation", ".frumious/tmp/x"):
        assert not private_key(key), key
    assert not private_key(".frumious/shards/0-of-2/projects")


async def test_a_shard_store_keeps_its_status_under_its_prefix(tmp_path: Path) -> None:
    inner = FilesystemStore(str(tmp_path))
    store = scoped(inner, Shard(1, 2))
    await store.write("status", b"42")
    await store.write("web/simple/foo/index.html", b"page")
    assert (tmp_path / ".frumious/shards/1-of-2/status").read_bytes() == b"42"
    assert not (tmp_path / "status").exists()
    assert (tmp_path / "web/simple/foo/index.html").read_bytes() == b"page"
    assert await store.read("status") == b"42"


def test_a_shard_clears_only_its_own_temps(tmp_path: Path) -> None:
    temps = tmp_path / layout.TEMP_DIR
    temps.mkdir(parents=True)
    mine, other, unsharded = ".frumious-s1of2-99-1", ".frumious-s0of2-98-1", ".frumious-97-1"
    for name in (mine, other, unsharded):
        (temps / name).write_bytes(b"x")
    publishing = FilesystemStore(str(tmp_path))
    for shard in Shard.all(2):
        scoped(publishing, shard)  # the publish step reads every shard through a view: that tags nothing
    shard_store = FilesystemStore(str(tmp_path))
    as_shard(shard_store, Shard(1, 2))
    assert shard_store.remove_stale_temps("test") == 1
    assert sorted(os.listdir(temps)) == sorted([other, unsharded])
    assert publishing.remove_stale_temps("test") == 1  # the publish step's lock: the unsharded temp only
    assert os.listdir(temps) == [other]
