"""``delete.delete_projects`` on in-memory fakes: a project's files, pages and record rows go; the rest stay."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakepypi import default_index, mem_index
from frumious.delete import delete_projects
from frumious.stats import Progress
from frumious.testing.harness import Bench

pytestmark = pytest.mark.usefixtures("no_sockets")


async def test_deleting_a_project_removes_its_files_pages_and_rows(tmp_path: Path) -> None:
    fake = default_index()
    bench = Bench.create(tmp_path, mem_index(fake), json="true")
    assert (await bench.mirror()).ok
    yanky = {"web" + f.path for f in fake.project("yanky").files()}
    others = {"web" + f.path for f in fake.all_files()} - yanky
    assert yanky <= bench.stored() and "web/json/yanky" in bench.stored()

    async with bench.opened() as (tree, _upstream):
        report = await delete_projects(tree, ["yanky"], Progress())
        assert report.ok
        assert tree.record.project("yanky") is None and tree.record.files("yanky") == []
        assert tree.record.project("foo-bar") is not None

    left = bench.stored()
    assert not yanky & left and not {key + ".metadata" for key in yanky} & left
    assert not bench.stored("web/simple/yanky/") and not bench.stored("web/pypi/yanky")
    assert "web/json/yanky" not in left
    assert b"yanky" not in bench.read("web/simple/index.html")
    assert b"foo-bar" in bench.read("web/simple/index.html")
    assert others <= left


async def test_deleting_a_project_the_mirror_lacks_fails_and_removes_nothing(tmp_path: Path) -> None:
    bench = Bench.create(tmp_path, mem_index(default_index()))
    assert (await bench.mirror()).ok
    before = bench.stored()
    async with bench.opened() as (tree, _upstream):
        report = await delete_projects(tree, ["no-such-project"], Progress())
    assert not report.ok and "no-such-project" in report.failed
    assert bench.stored() == before
