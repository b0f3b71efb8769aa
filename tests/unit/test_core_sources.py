"""Each kind of upstream as the source of a sync (``sync.mirror`` on the in-memory fakes):
Warehouse-like, PEP 691 only (no ``/pypi/``, serial only in the page), PEP 503 HTML only,
and no serials at all (pages compared by ETag / digest, a local counter as the serial)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakepypi import Artifact, FakeIndex, default_index, mem_index, packages_path
from frumious.errors import ends_run
from frumious.plan import Options
from frumious.protocol.jsonuse import JsonMissing
from frumious.testing.harness import Bench

pytestmark = pytest.mark.usefixtures("no_sockets")


def bench(tmp_path: Path, fake: FakeIndex, *, sections: str = "", **kind: bool) -> Bench:
    index = mem_index(fake)
    for key, value in kind.items():
        setattr(index, key, value)
    return Bench.create(tmp_path, index, sections)


def renew(b: Bench, fake: FakeIndex) -> None:
    old = b.index
    b.index = mem_index(fake)
    b.index.json_api, b.index.serials, b.index.html_only = old.json_api, old.serials, old.html_only


def project_pages(b: Bench) -> list[str]:
    return [url for url in b.requests if url.partition("/simple/")[2]]


def files_of(fake: FakeIndex) -> dict[str, bytes]:
    return {"web" + f.path: f.artifact.content for f in fake.all_files()}


@pytest.mark.parametrize("kind", [{}, {"json_api": False}, {"json_api": False, "html_only": True}])
async def test_full_and_incremental_sync_from_pages(tmp_path: Path, kind: dict[str, bool]) -> None:
    fake = default_index()
    b = bench(tmp_path, fake, **kind)
    report = await b.mirror()
    assert report.ok, report.failed
    for key, body in files_of(fake).items():
        assert b.read(key) == body
    assert not [url for url in b.requests if "/pypi/" in url]  # pages are the source

    new = Artifact("dep_lib-0.2.tar.gz", b"the new sdist")
    fake.add("dep-lib", "0.2", new)
    renew(b, fake)
    report = await b.mirror()
    assert report.ok and b.read("web" + packages_path(new)) == b"the new sdist"
    if not kind.get("html_only"):
        # A serial upstream: the listing names the changed project and only its page is asked.
        assert project_pages(b) == [f"{b.index.base}/simple/dep-lib/"]
        assert b.read("status").strip() == str(fake.serial).encode()


async def test_no_serials_second_run_is_conditional_requests_only(tmp_path: Path) -> None:
    fake = default_index()
    b = bench(tmp_path, fake, serials=False, json_api=False)
    report = await b.mirror()
    assert report.ok, report.failed
    assert b.read("status").strip() == b"1"  # the local counter
    assert "<!--SERIAL 1-->" in b.read("web/simple/foo-bar/index.html").decode()

    report = await b.mirror()
    assert report.ok and report.synced == [] and report.unchanged
    # The listing answered 304, each page 304: no file, nothing written, the counter stays.
    assert not [url for url in b.requests if "/packages/" in url]
    assert all(url.endswith("/") for url in b.requests)
    assert b.read("status").strip() == b"1"

    new = Artifact("dep_lib-0.2.tar.gz", b"the new sdist")
    fake.add("dep-lib", "0.2", new)
    renew(b, fake)
    report = await b.mirror()
    assert report.ok and report.synced == ["dep-lib"]
    assert b.read("web" + packages_path(new)) == b"the new sdist"
    assert b.read("status").strip() == b"2"
    assert "<!--SERIAL 2-->" in b.read("web/simple/dep-lib/index.html").decode()
    assert "<!--SERIAL 1-->" in b.read("web/simple/foo-bar/index.html").decode()


async def test_no_serials_force_check_counts_on_from_the_mirrors_serial(tmp_path: Path) -> None:
    fake = default_index()
    b = bench(tmp_path, fake, serials=False, json_api=False)
    assert (await b.mirror()).ok
    fake.add("dep-lib", "0.2", Artifact("dep_lib-0.2.tar.gz", b"the new sdist"))
    renew(b, fake)
    assert (await b.mirror()).ok
    assert b.read("status").strip() == b"2"
    # --force-check asks every page again; the counter never goes back (a downstream would miss changes).
    report = await b.mirror(Options(force_check=True))
    assert report.ok
    assert int(b.read("status")) >= 2
    fake.add("foo-bar", "9.0", Artifact("foo_bar-9.0.tar.gz", b"newer"))
    renew(b, fake)
    report = await b.mirror(Options(force_check=True))
    assert report.ok and "foo-bar" in report.synced
    assert int(b.read("status")) == 3
    assert "<!--SERIAL 3-->" in b.read("web/simple/foo-bar/index.html").decode()


async def test_a_filter_needing_warehouse_json_on_an_upstream_without_it_stops_the_run(tmp_path: Path) -> None:
    sections = "[plugins]\nenabled =\n    regex_project_metadata\n"
    sections += "[regex_project_metadata]\nnot-null:info.license = .*\n"
    b = bench(tmp_path, default_index(), sections=sections, json_api=False)
    with pytest.raises(JsonMissing) as caught:
        await b.mirror()
    assert caught.value.exit_code == 2 and ends_run(caught.value)
    assert b.index.base in str(caught.value) and "info.license" in str(caught.value)


async def test_json_true_without_the_api_warns_once_and_reads_pages(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = default_index()
    index = mem_index(fake)
    index.json_api = False
    b = Bench.create(tmp_path, index, json="true")
    report = await b.mirror()
    assert report.ok, report.failed
    assert sum("no Warehouse JSON API" in r.getMessage() for r in caplog.records) == 1
    for key, body in files_of(fake).items():
        assert b.read(key) == body


async def test_json_true_keeps_reading_warehouse_json(tmp_path: Path) -> None:
    b = Bench.create(tmp_path, mem_index(default_index()), json="true")
    assert (await b.mirror()).ok
    assert [url for url in b.requests if "/pypi/" in url]
    assert b.read("web/json/foo-bar")
