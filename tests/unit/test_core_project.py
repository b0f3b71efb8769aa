"""``sync.sync_project`` on in-memory fakes: one project's files, pages, record rows and pruning."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fakepypi import default_index, mem_index
from frumious.filters import FilterSet
from frumious.mirror import Mirror
from frumious.models import ListingEntry
from frumious.project import Context
from frumious.stats import Progress
from frumious.sync import sync_project
from frumious.testing.harness import Bench
from frumious.upstream import Upstream

pytestmark = pytest.mark.usefixtures("no_sockets")


async def sync_one(bench: Bench, name: str) -> None:
    async with bench.opened() as (tree, upstream):
        await sync_project(context(tree, upstream), ListingEntry(name, 0))


def context(tree: Mirror, upstream: Upstream) -> Context:
    return Context(upstream, tree, FilterSet(), Progress(), asyncio.Semaphore(4))


async def test_a_project_gets_its_files_pages_and_record_rows(tmp_path: Path) -> None:
    fake = default_index()
    bench = Bench.create(tmp_path, mem_index(fake))

    await sync_one(bench, "Foo.Bar")

    files = {"web" + f.path: f.artifact.content for f in fake.project("foo-bar").files()}
    sidecars = {key + ".metadata" for key in files if key.endswith(".whl")}
    assert bench.stored("web/packages/") == set(files) | sidecars
    assert all(bench.read(key) == body for key, body in files.items())
    page = bench.read("web/simple/foo-bar/index.html").decode()
    assert all(key.rsplit("/", 1)[-1] in page for key in files)
    assert "dep_lib" not in page and "web/simple/dep-lib/index.html" not in bench.stored()
    async with bench.opened() as (tree, _upstream):
        row = tree.record.project("foo-bar")
        assert row is not None and (row.display, row.serial) == ("Foo.Bar", fake.project("foo-bar").last_serial)
        recorded = {f.key: f for f in tree.record.files("foo-bar")}
    assert set(recorded) == set(files) | sidecars
    wheel = fake.file("foo-bar", "foo_bar-1.0-py3-none-any.whl")
    assert recorded["web" + wheel.path].digest == wheel.artifact.sha256
    assert recorded["web" + wheel.path + ".metadata"].metadata


async def test_files_of_a_release_gone_upstream_are_pruned_with_their_rows(tmp_path: Path) -> None:
    fake = default_index()
    bench = Bench.create(tmp_path, mem_index(fake))
    await sync_one(bench, "foo-bar")
    old = {"web" + f.path for f in fake.project("foo-bar").releases["1.0"].files}
    fake.remove_release("foo-bar", "1.0")
    bench.index = mem_index(fake)

    await sync_one(bench, "foo-bar")

    kept = {"web" + f.path for f in fake.project("foo-bar").files()}
    assert not old & bench.stored() and not {key + ".metadata" for key in old} & bench.stored()
    assert kept <= bench.stored()
    assert "foo_bar-1.0" not in bench.read("web/simple/foo-bar/index.html").decode()
    async with bench.opened() as (tree, _upstream):
        assert {f.key for f in tree.record.files("foo-bar") if not f.metadata} == kept


async def test_a_new_project_asks_the_record_for_its_row_once_and_no_holders_twice(tmp_path: Path) -> None:
    fake = default_index()
    bench = Bench.create(tmp_path, mem_index(fake))
    statements: list[str] = []
    async with bench.opened() as (tree, upstream):
        tree.record.db.set_trace_callback(statements.append)
        await sync_project(context(tree, upstream), ListingEntry("Foo.Bar", 0))
        tree.record.db.set_trace_callback(None)
        assert {f.key for f in tree.record.files("foo-bar")} == {
            key for key in bench.stored("web/packages/") if key.startswith("web/packages/")
        }
    row_lookups = [s for s in statements if "FROM projects WHERE name = " in s]
    holder_lookups = [s for s in statements if "substr(dir, 1, 4) IN" in s]
    # Before: the row was looked up five times (plan_files, mirror_files twice, write_pages, record)
    # and the keys' holders twice (the claims, then record).
    assert (len(row_lookups), len(holder_lookups)) == (1, 1)
