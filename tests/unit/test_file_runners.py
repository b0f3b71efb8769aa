"""A project's files share a few runners (``project._drive``), not a task each, and still fill the files gate."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from frumious import project
from frumious.errors import StorageError
from frumious.models import StoredFile
from frumious.stats import Progress


def entries(count: int) -> list[Any]:
    files = []
    for i in range(count):
        key = f"web/packages/aa/bb/{i:02d}/f{i}.whl"
        wanted = StoredFile(key, "p", "1", 1, "sha256", "0" * 64, None, False, (f"http://x/f{i}",), {})
        files.append((SimpleNamespace(filename=f"f{i}.whl"), wanted, None))
    return files


def context(slots: int) -> Any:
    return SimpleNamespace(files_gate=asyncio.Semaphore(slots), progress=Progress())


class Watch:
    """A stand-in for ``_ensure``: the tasks that ran files and how many ran at once."""

    def __init__(self, fail: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.tasks: set[asyncio.Task[Any] | None] = set()
        self.running = self.most = 0
        self.done: list[str] = []
        self.fail = fail

    async def __call__(self, ctx: Any, wanted: StoredFile, recorded: Any, fresh: bool = False) -> None:
        self.tasks.add(asyncio.current_task())
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(0.001)
        finally:
            self.running -= 1
        self.done.append(wanted.key)
        if wanted.key in self.fail:
            raise StorageError(f"cannot write {wanted.key}")


async def drive(monkeypatch: pytest.MonkeyPatch, count: int, slots: int, watch: Watch) -> list[Any]:
    monkeypatch.setattr(project, "_ensure", watch)
    results: list[Any] = [None] * count
    await project._drive(context(slots), entries(count), {}, True, results)
    return results


async def test_files_behind_a_one_slot_gate_run_in_the_projects_own_task(monkeypatch: pytest.MonkeyPatch) -> None:
    watch = Watch()
    results = await drive(monkeypatch, 5, 1, watch)
    assert results == [False] * 5 and len(watch.done) == 5
    assert watch.tasks == {asyncio.current_task()}  # a task per file before


async def test_a_project_alone_still_fills_the_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    watch = Watch()
    await drive(monkeypatch, 40, 6, watch)
    assert len(watch.done) == 40 and watch.most == 6
    assert len(watch.tasks) <= 6


async def test_every_file_is_attempted_and_each_error_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = {entries(5)[1][1].key, entries(5)[3][1].key}
    results = await drive(monkeypatch, 5, 2, Watch(fail=bad))
    assert [type(r).__name__ for r in results] == ["bool", "StorageError", "bool", "StorageError", "bool"]


async def test_a_cancelled_project_stops_its_runners(monkeypatch: pytest.MonkeyPatch) -> None:
    watch = Watch()
    task = asyncio.ensure_future(drive(monkeypatch, 50, 4, watch))
    await asyncio.sleep(0.003)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    finished = len(watch.done)
    await asyncio.sleep(0.01)
    assert len(watch.done) == finished < 50 and watch.running == 0
