"""``filtered-projects = metadata-only`` on the in-memory bench: pages for excluded projects that link
the upstream's files, nothing of theirs downloaded or recorded, and their removal (``metaonly``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from fakepypi import Artifact, FakeIndex, default_index, make_wheel, mem_index
from frumious import metaonly
from frumious.plan import Options
from frumious.record import rebuild
from frumious.record.db import MirrorRecord
from frumious.testing.harness import Bench
from frumious.testing.memhttp import BASE

pytestmark = pytest.mark.usefixtures("no_sockets")

ALLOW_DEP_LIB = "[plugins]\nenabled = allowlist_project\n[allowlist]\npackages = dep-lib\n"
STATE = ".frumious/metadata-only"


def bench_with(tmp_path: Path, index: FakeIndex, policy: str, sections: str = ALLOW_DEP_LIB, **mirror: object) -> Bench:
    return Bench.create(tmp_path, mem_index(index), sections, filtered_projects=policy, **mirror)


def reconfigured(bench: Bench, tmp_path: Path, policy: str, sections: str = ALLOW_DEP_LIB, **mirror: object) -> Bench:
    """The same mirror (store and record) under another config, as after editing the file."""
    again = Bench.create(tmp_path, bench.index, sections, filtered_projects=policy, **mirror)
    again.store = bench.store
    return again


def page_json(bench: Bench, name: str) -> dict[str, object]:
    document = json.loads(bench.read(f"web/simple/{name}/index.v1_json"))
    assert isinstance(document, dict)
    return document


def root_names(bench: Bench) -> list[str]:
    return [p["name"] for p in json.loads(bench.read("web/simple/index.v1_json"))["projects"]]


async def test_an_excluded_project_gets_a_page_linking_the_upstream_and_nothing_else(tmp_path: Path) -> None:
    fake = default_index()
    bench = bench_with(tmp_path, fake, "metadata-only")

    report = await bench.mirror()

    assert report.ok, report.failed
    document = page_json(bench, "foo-bar")
    urls = sorted(f["url"] for f in document["files"])  # type: ignore[union-attr,index]
    wheel = fake.file("Foo.Bar", "foo_bar-2.0-py3-none-any.whl")
    assert f"{BASE}{wheel.path}" in urls and all(url.startswith(f"{BASE}/packages/") for url in urls)
    html = bench.read("web/simple/foo-bar/index.html").decode()
    assert f'href="{BASE}{wheel.path}#sha256={wheel.artifact.sha256}"' in html
    # Nothing of it is stored or recorded: only dep-lib (the allowlist) owns files.
    assert {key.rsplit("/", 1)[-1] for key in bench.stored("web/packages/") if not key.endswith(".metadata")} == {
        "dep_lib-0.1-py3-none-any.whl"
    }
    record = MirrorRecord(str(bench.record_path))
    try:
        assert record.names() == ["dep-lib"]
    finally:
        record.close()
    # Every listed project resolves by name: the root lists the pages too.
    assert root_names(bench) == ["dep-lib", "foo-bar", "yanky"]
    assert b'href="foo-bar/"' in bench.read("web/simple/index.html")
    assert bench.read(STATE).decode().splitlines() == [
        f"foo-bar {fake.project('Foo.Bar').last_serial}",
        f"yanky {fake.project('yanky').last_serial}",
    ]


async def test_omit_writes_no_page_for_an_excluded_project(tmp_path: Path) -> None:
    bench = bench_with(tmp_path, default_index(), "omit")
    assert (await bench.mirror()).ok
    assert not bench.stored("web/simple/foo-bar/") and STATE not in bench.stored()
    assert root_names(bench) == ["dep-lib"]


async def test_only_changed_excluded_projects_are_asked_again(tmp_path: Path) -> None:
    fake = default_index()
    bench = bench_with(tmp_path, fake, "metadata-only")
    assert (await bench.mirror()).ok
    fake.add("yanky", "1.2", Artifact("yanky-1.2.tar.gz", b"a new sdist"))
    bench.index = mem_index(fake)

    assert (await bench.mirror()).ok

    asked = [r for r in bench.requests if r.partition("/simple/")[2]]
    assert len(asked) == 1 and "yanky" in asked[0], bench.requests
    assert "yanky-1.2.tar.gz" in bench.read("web/simple/yanky/index.html").decode()
    assert not any("yanky-1.2" in key for key in bench.stored("web/packages/"))


async def test_switching_back_to_omit_removes_the_pages_within_the_safety_valve(tmp_path: Path) -> None:
    bench = bench_with(tmp_path, default_index(), "metadata-only")
    assert (await bench.mirror()).ok
    omit = reconfigured(bench, tmp_path, "omit")

    refused = await omit.mirror()  # 2 pages of 3 projects and pages: more than 1% allows

    assert not refused.ok and "metadata-only page(s)" in (refused.refused or "")
    assert {"web/simple/foo-bar/index.html", "web/simple/yanky/index.html"} <= omit.stored()
    assert root_names(omit) == ["dep-lib", "foo-bar", "yanky"]

    report = await omit.mirror(Options(allow_mass_delete=True))

    assert report.ok
    assert not omit.stored("web/simple/foo-bar/") and not omit.stored("web/simple/yanky/")
    assert omit.stored("web/simple/dep-lib/") and STATE not in omit.stored()
    assert root_names(omit) == ["dep-lib"]


async def test_a_project_that_leaves_upstream_loses_its_page(tmp_path: Path) -> None:
    fake = default_index()
    bench = bench_with(tmp_path, fake, "metadata-only", max_delete_share="100%")
    assert (await bench.mirror()).ok
    fake.remove_project("yanky")
    bench.index = mem_index(fake)

    assert (await bench.mirror()).ok

    assert not bench.stored("web/simple/yanky/") and bench.stored("web/simple/foo-bar/")
    assert root_names(bench) == ["dep-lib", "foo-bar"]


async def test_a_project_the_allowlist_now_takes_is_mirrored_in_full(tmp_path: Path) -> None:
    fake = default_index()
    bench = bench_with(tmp_path, fake, "metadata-only")
    assert (await bench.mirror()).ok
    both = reconfigured(bench, tmp_path, "metadata-only", ALLOW_DEP_LIB + "    yanky\n")

    assert (await both.mirror()).ok

    assert any(key.endswith("yanky-1.1-py3-none-any.whl") for key in both.stored("web/packages/"))
    assert page_json(both, "yanky")["files"][0]["url"].startswith("../../packages/")  # type: ignore[index]
    assert "yanky" not in both.read(STATE).decode()


async def test_reindex_leaves_the_pages_out_of_the_record(tmp_path: Path) -> None:
    bench = bench_with(tmp_path, default_index(), "metadata-only")
    assert (await bench.mirror()).ok
    record = MirrorRecord(str(tmp_path / "rebuilt.sqlite"))
    try:
        await rebuild.rebuild(bench.store, bench.settings.mirror, record)
        assert record.names() == ["dep-lib"]
    finally:
        record.close()


async def test_every_page_written_is_counted_when_the_workers_interleave(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real upstream suspends each worker inside its page fetch, between reading and storing the
    # count (`n += await page()` lost the other workers' pages: 3 of 8 counted on a real mirror).
    fake = default_index()
    for n in range(6):
        fake.add(f"extra-{n}", "1.0", make_wheel(f"extra-{n}", "1.0"))
    bench = bench_with(tmp_path, fake, "metadata-only")  # the bench runs two workers
    page = metaonly._page

    async def suspending(*args: Any) -> int:
        await asyncio.sleep(0)
        return await page(*args)

    monkeypatch.setattr(metaonly, "_page", suspending)

    with caplog.at_level("INFO", logger="frumious.sync"):
        assert (await bench.mirror()).ok

    assert "Metadata-only pages: 8 written, 0 removed, 8 kept" in caplog.text
