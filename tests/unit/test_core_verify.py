"""``verify.verify`` on in-memory fakes: a damaged file is found and downloaded again, an orphan deleted."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakepypi import default_index, mem_index
from frumious.stats import Progress
from frumious.testing.harness import Bench
from frumious.testing.memstore import Stored
from frumious.verify import VerifyOptions, VerifyReport, verify

pytestmark = pytest.mark.usefixtures("no_sockets")

ORPHAN = "web/packages/ab/cd/0123456789/orphan-1.0.tar.gz"


async def run_verify(bench: Bench, options: VerifyOptions) -> VerifyReport:
    async with bench.opened() as (tree, upstream):
        return await verify(upstream, tree, options, Progress())


async def test_a_truncated_file_is_found_and_repaired_from_upstream(tmp_path: Path) -> None:
    fake = default_index()
    bench = Bench.create(tmp_path, mem_index(fake))
    assert (await bench.mirror()).ok
    wheel = fake.file("dep-lib", "dep_lib-0.1-py3-none-any.whl")
    key = "web" + wheel.path
    damaged = bench.store.volume.objects[key]
    bench.store.volume.objects[key] = Stored(damaged.data[:-10], damaged.mtime, {})

    report = await run_verify(bench, VerifyOptions())

    assert report.ok and list(report.bad) == [key] and report.repaired == [key]
    assert bench.read(key) == wheel.artifact.content
    assert f"{bench.index.base}{wheel.path}" in bench.requests
    # Only the damaged file was fetched again.
    assert [url for url in bench.requests if "/packages/" in url] == [f"{bench.index.base}{wheel.path}"]


async def test_a_dry_run_finds_the_damage_and_leaves_it(tmp_path: Path) -> None:
    fake = default_index()
    bench = Bench.create(tmp_path, mem_index(fake))
    assert (await bench.mirror()).ok
    key = "web" + fake.file("yanky", "yanky-1.1-py3-none-any.whl").path
    del bench.store.volume.objects[key]

    report = await run_verify(bench, VerifyOptions(dry_run=True))

    assert report.bad == {key: "missing"} and not report.repaired
    assert key not in bench.stored()


async def test_delete_removes_an_orphan_and_keeps_every_owned_file(tmp_path: Path) -> None:
    bench = Bench.create(tmp_path, mem_index(default_index()))
    assert (await bench.mirror()).ok
    owned = bench.stored("web/packages/")
    await bench.store.write(ORPHAN, b"nobody owns this")

    found = await run_verify(bench, VerifyOptions())
    assert found.orphans == [] and ORPHAN in bench.stored()  # found only with --delete

    report = await run_verify(bench, VerifyOptions(delete=True))

    assert report.ok and report.orphans == [ORPHAN]
    assert bench.stored("web/packages/") == owned
