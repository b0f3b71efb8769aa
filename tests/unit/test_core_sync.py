"""``sync.mirror`` on in-memory fakes (``frumious.testing.harness``): the socket fake's catalogue,
a ``MemoryStore`` and no sockets."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from fakepypi import Artifact, FakeIndex, default_index, mem_index, packages_path
from frumious.plan import Options
from frumious.testing.harness import Bench

pytestmark = pytest.mark.usefixtures("no_sockets")

FAILED, VANISHING = ".frumious/failed", ".frumious/vanishing"


def package_keys(fake: FakeIndex) -> dict[str, bytes]:
    """Every release file of the catalogue as the mirror stores it: key -> bytes."""
    return {"web" + f.path: f.artifact.content for f in fake.all_files()}


def bench_for(tmp_path: Path, fake: FakeIndex, **mirror: object) -> Bench:
    return Bench.create(tmp_path, mem_index(fake), **mirror)


async def test_a_full_run_mirrors_every_file_page_and_the_serial(tmp_path: Path) -> None:
    fake = default_index()
    bench = bench_for(tmp_path, fake)

    report = await bench.mirror()

    assert report.ok and report.serial == fake.serial
    for key, body in package_keys(fake).items():
        assert bench.read(key) == body
    foo_wheel = fake.file("Foo.Bar", "foo_bar-2.0-py3-none-any.whl").artifact.content
    assert hashlib.sha256(foo_wheel).hexdigest() in bench.read("web/simple/foo-bar/index.html").decode()
    # PEP 658 sidecars of the wheels, and the pages of every project in both formats.
    wheel = fake.file("dep-lib", "dep_lib-0.1-py3-none-any.whl")
    assert bench.read("web" + wheel.path + ".metadata") == wheel.artifact.metadata
    for name in ("foo-bar", "dep-lib", "yanky"):
        assert {f"web/simple/{name}/index.html", f"web/simple/{name}/index.v1_json"} <= bench.stored()
    assert b"broken build" in bench.read("web/simple/yanky/index.v1_json")
    assert bench.read("status").strip() == str(fake.serial).encode()
    assert b"foo-bar" in bench.read("web/simple/index.html")


async def test_an_incremental_run_fetches_only_the_changed_project(tmp_path: Path) -> None:
    fake = default_index()
    bench = bench_for(tmp_path, fake)
    assert (await bench.mirror()).ok
    new = Artifact("dep_lib-0.2.tar.gz", b"the new sdist")
    fake.add("dep-lib", "0.2", new)
    bench.index = mem_index(fake)

    report = await bench.mirror()

    assert report.ok and bench.read("status").strip() == str(fake.serial).encode()
    assert bench.read("web" + packages_path(new)) == b"the new sdist"
    assert "dep_lib-0.2.tar.gz" in bench.read("web/simple/dep-lib/index.html").decode()
    # Projects are read from their PEP 691 pages: only the changed one's, and no Warehouse JSON.
    fetched_pages = [url for url in bench.requests if "/simple/" in url and not url.endswith("/simple/")]
    assert fetched_pages == [f"{bench.index.base}/simple/dep-lib/"]
    assert not [url for url in bench.requests if url.endswith("/json")]
    assert not [url for url in bench.requests if "/packages/" in url and "dep_lib-0.2" not in url]


async def test_a_failing_project_is_carried_by_name_and_retried_next_run(tmp_path: Path) -> None:
    fake = default_index()
    bench = bench_for(tmp_path, fake)
    wheel = fake.file("yanky", "yanky-1.1-py3-none-any.whl")
    bench.index.bodies[wheel.path] = b"not the wheel the digest names"

    report = await bench.mirror()

    assert not report.ok
    assert "yanky" in bench.read(FAILED).decode()
    assert "web" + wheel.path not in bench.stored()  # a body that fails its digest is never stored
    assert bench.read("web/simple/foo-bar/index.html")  # the others are mirrored all the same
    assert "web/simple/yanky/index.html" not in bench.stored()

    bench.index.bodies[wheel.path] = wheel.artifact.content
    report = await bench.mirror()
    assert report.ok and FAILED not in bench.stored()
    assert bench.read("web" + wheel.path) == wheel.artifact.content
    assert f"{bench.index.base}/simple/yanky/" in bench.requests


async def test_force_check_with_the_newest_project_failing_keeps_the_serial(tmp_path: Path) -> None:
    fake = default_index()
    bench = bench_for(tmp_path, fake)
    assert (await bench.mirror()).serial == fake.serial
    newest = max(fake.projects(), key=lambda p: p.last_serial)
    for f in newest.files():
        bench.index.bodies[f.path] = b"not the file the digest names"
    for f in newest.files():  # the stored copies are re-checked under --force-check: make them bad too
        bench.store.volume.objects.pop("web" + f.path, None)

    report = await bench.mirror(Options(force_check=True))

    # The failure is carried by name; the serial stays where the last clean run put it, not at the
    # newest of the projects that did sync (--force-check starts from 0).
    assert not report.ok and newest.canonical in bench.read(FAILED).decode()
    assert report.serial == fake.serial
    assert bench.read("status") == str(fake.serial).encode()


async def test_a_vanished_project_is_removed_only_on_the_second_run(tmp_path: Path) -> None:
    fake = default_index()
    bench = bench_for(tmp_path, fake, confirm_removal_after=0, max_delete_share=1)
    assert (await bench.mirror()).ok
    yanky = set(package_keys(fake)) & {"web" + f.path for f in fake.project("yanky").files()}
    fake.remove_project("yanky")
    bench.index = mem_index(fake)

    assert (await bench.mirror()).ok
    assert yanky <= bench.stored() and "web/simple/yanky/index.html" in bench.stored()
    assert "yanky" in bench.read(VANISHING).decode()

    assert (await bench.mirror()).ok
    assert not yanky & bench.stored() and not bench.stored("web/simple/yanky/")
    assert b"yanky" not in bench.read("web/simple/index.html")
    assert VANISHING not in bench.stored()
    assert set(package_keys(fake)) <= bench.stored()  # the others stay


async def test_the_file_valve_refuses_to_remove_most_of_a_project(tmp_path: Path) -> None:
    fake = default_index()
    for n in range(8):
        fake.add("big", f"1.{n}", Artifact(f"big-1.{n}.tar.gz", f"big {n}".encode()))
    bench = bench_for(tmp_path, fake)
    assert (await bench.mirror()).ok
    before = bench.stored("web/packages/")
    page = bench.read("web/simple/big/index.html")
    for n in range(1, 8):
        fake.remove_release("big", f"1.{n}")
    bench.index = mem_index(fake)

    report = await bench.mirror()

    assert not report.ok
    assert "big" in bench.read(FAILED).decode()
    assert bench.stored("web/packages/") == before  # nothing removed
    assert bench.read("web/simple/big/index.html") == page  # and the page still lists them all
