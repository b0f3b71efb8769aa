"""The dependency closure in a real run (in memory): the mirror holds exactly what the targets need."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from fakepypi import FakeIndex, make_wheel, mem_index
from fakepypi.closure import CLOSURE_TARGETS, EXPECTED_CLOSURE, NOT_NEEDED, closure_index
from frumious.record.db import MirrorRecord
from frumious.testing.harness import Bench

SECTIONS = f"""
[plugins]
enabled =
    allowlist_project
    blocklist_project

[allowlist]
closure = true
packages =
    requests[socks]
    django

[blocklist]
packages = pysocks

[closure]
environments = {", ".join(CLOSURE_TARGETS)}
"""


def projects(bench: Bench) -> set[str]:
    return {key.split("/")[2] for key in bench.stored("web/simple/") if key.count("/") == 3}


def pages_asked(bench: Bench) -> Counter[str]:
    # An allowlist asks each page once for its serial; a changed project is synced from that same answer.
    return Counter(url.split("/simple/")[1].strip("/") for url in bench.requests if url.partition("/simple/")[2])


async def test_the_mirror_holds_exactly_the_closure_and_reports_the_blocked_dependency(tmp_path: Path) -> None:
    bench = Bench.create(tmp_path, mem_index(closure_index()), SECTIONS)
    report = await bench.mirror()
    assert report.ok, report.failed
    assert projects(bench) == EXPECTED_CLOSURE
    assert not projects(bench) & NOT_NEEDED
    hole = "pysocks (needed by requests 2.32.3 for {}) is excluded by blocklist_project"
    assert report.holes == [hole.format("cp311-win_amd64"), hole.format("cp312-manylinux_2_28_x86_64")]
    state = json.loads(bench.read(".frumious/closure.json"))
    assert set(state["needed"]) == EXPECTED_CLOSURE


async def test_one_target_alone_needs_less(tmp_path: Path) -> None:
    sections = SECTIONS.replace(", ".join(CLOSURE_TARGETS), "cp312-manylinux_2_28_x86_64")
    bench = Bench.create(tmp_path, mem_index(closure_index()), sections)
    await bench.mirror()
    # tzdata is for Windows, typing-extensions for Python < 3.12 only.
    assert projects(bench) == EXPECTED_CLOSURE - {"tzdata", "typing-extensions"}


async def test_an_unchanged_run_requests_no_project_and_a_changed_one_only_it_and_its_new_dependency(
    tmp_path: Path,
) -> None:
    fake = closure_index()
    bench = Bench.create(tmp_path, mem_index(fake), SECTIONS)
    await bench.mirror()
    report = await bench.mirror()
    unchanged = pages_asked(bench)
    assert set(unchanged.values()) == {1} and "sqlparse" in unchanged  # each page once, for its serial
    assert report.synced == []
    fake.add("newdep", "1.0", make_wheel("newdep", "1.0"))
    fake.add("sqlparse", "0.5.1", make_wheel("sqlparse", "0.5.1", requires=["newdep>=1"]))
    bench.index = mem_index(fake)
    report = await bench.mirror()
    assert report.ok, report.failed
    asked = pages_asked(bench)
    # Each page once: sqlparse synced from its serial's answer, newdep (a closure round) asked to sync it.
    assert set(asked.values()) == {1} and set(asked) == set(unchanged) | {"newdep"}
    assert sorted(report.synced) == ["newdep", "sqlparse"]
    assert projects(bench) == EXPECTED_CLOSURE | {"newdep"}
    downloads = {url.rsplit("/", 1)[1] for url in bench.requests if "/packages/" in url}
    assert downloads == {"sqlparse-0.5.1-py3-none-any.whl", "sqlparse-0.5.1-py3-none-any.whl.metadata",
                         "newdep-1.0-py3-none-any.whl", "newdep-1.0-py3-none-any.whl.metadata"}  # fmt: skip


async def test_a_dependency_no_longer_needed_is_reported_as_excluded_next_run(tmp_path: Path) -> None:
    fake = closure_index()
    bench = Bench.create(tmp_path, mem_index(fake), SECTIONS)
    await bench.mirror()
    fake.add("asgiref", "3.9", make_wheel("asgiref", "3.9"))  # no longer needs typing-extensions
    bench.index = mem_index(fake)
    await bench.mirror()
    report = await bench.mirror()
    assert report.would_prune == ["typing-extensions"]


async def test_dependencies_newer_than_the_roots_are_not_synced_again_by_the_next_run(tmp_path: Path) -> None:
    fake = FakeIndex()
    fake.add("app", "1.0", make_wheel("app", "1.0", requires=["lib"]))
    fake.add("lib", "1.0", make_wheel("lib", "1.0"))  # a higher serial than the allowlisted app's
    sections = "[plugins]\nenabled = allowlist_project\n[allowlist]\nclosure = true\npackages = app\n"
    bench = Bench.create(tmp_path, mem_index(fake), sections + "[closure]\nenvironments = cp312-win_amd64\n")
    assert sorted((await bench.mirror()).synced) == ["app", "lib"]
    assert (await bench.mirror()).synced == []


async def test_a_changed_file_filter_keeps_the_closure_and_the_metadata_sidecars(tmp_path: Path) -> None:
    # The change filters every project again from the record's stored copy of its page: that copy
    # must still say which files have core metadata, or the sidecars leave the record and pages,
    # the closure stops at the roots and the next run prunes every dependency.
    cooldown = "\n[cooldown]\ndays = {}\n"
    sections = SECTIONS.replace("blocklist_project\n", "blocklist_project\n    cooldown_release_file\n")
    bench = Bench.create(tmp_path, mem_index(closure_index()), sections + cooldown.format(1))
    assert (await bench.mirror()).ok
    sidecars = {key for key in bench.stored("web/packages/") if key.endswith(".metadata")}

    again = Bench.create(tmp_path, bench.index, sections + cooldown.format(2))
    again.store = bench.store
    report = await again.mirror()

    assert report.ok, report.failed
    assert report.holes == [h for h in report.holes if h.startswith("pysocks ")] and report.holes
    assert set(json.loads(again.read(".frumious/closure.json"))["needed"]) == EXPECTED_CLOSURE
    record = MirrorRecord(str(again.record_path))
    try:
        recorded = {row.key for name in EXPECTED_CLOSURE for row in record.files(name) if row.metadata}
    finally:
        record.close()
    assert recorded == sidecars
    page = json.loads(again.read("web/simple/django/index.v1_json"))
    assert all(f.get("core-metadata") for f in page["files"])
    assert (await again.mirror()).would_prune == []
