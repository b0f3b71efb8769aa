"""PEP 792 in a sync: a quarantined project lists no files and its mirrored files go, within the valves.

The source page's status reaches the model through the upstream reader (the "source" part); here the
upstream's answer is given that status directly.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakepypi import default_index, mem_index
from frumious import models
from frumious.testing.harness import Bench
from frumious.upstream import Fetched, Upstream

pytestmark = pytest.mark.usefixtures("no_sockets")


def with_status(monkeypatch: pytest.MonkeyPatch, name: str, status: str) -> None:
    fetch = Upstream.fetch

    async def project(self: Upstream, wanted: str, serial: int, known: tuple[str | None, str | None]) -> Fetched:
        found = await fetch(self, wanted, serial, known)
        if found.project is None or found.project.canonical != name:
            return found
        changed = models.replace(found.project, status=status, status_reason="why", api_version="1.4")
        return models.replace(found, project=changed)

    monkeypatch.setattr(Upstream, "fetch", project)


async def test_a_quarantined_project_loses_its_files_and_lists_none(tmp_path: Path, monkeypatch) -> None:
    fake = default_index()
    bench = Bench.create(tmp_path, mem_index(fake), max_delete_file_share="100%")
    assert (await bench.mirror()).ok
    held = {"web" + f.path for f in fake.project("dep-lib").files()}
    assert held <= bench.stored()
    with_status(monkeypatch, "dep-lib", "quarantined")
    fake.touch("dep-lib")
    bench.index = mem_index(fake)

    report = await bench.mirror()

    assert report.ok
    assert not held & bench.stored(), "the quarantined project's files are removed"
    page = json.loads(bench.read("web/simple/dep-lib/index.v1_json"))
    assert page["files"] == [] and page["project-status"] == {"status": "quarantined", "reason": "why"}
    assert b"pypi:project-status" in bench.read("web/simple/dep-lib/index.html")
    assert not any(f.filename in bench.read("web/simple/dep-lib/index.html").decode() for f in fake.all_files())
    # The other projects keep theirs.
    assert {"web" + f.path for f in fake.project("foo-bar").files()} <= bench.stored()


async def test_an_archived_project_keeps_its_files_and_carries_the_marker(tmp_path: Path, monkeypatch) -> None:
    fake = default_index()
    bench = Bench.create(tmp_path, mem_index(fake))
    with_status(monkeypatch, "dep-lib", "archived")

    assert (await bench.mirror()).ok

    assert {"web" + f.path for f in fake.project("dep-lib").files()} <= bench.stored()
    page = json.loads(bench.read("web/simple/dep-lib/index.v1_json"))
    assert page["project-status"] == {"status": "archived", "reason": "why"} and page["files"]
    assert page["meta"]["api-version"] == "1.4"
