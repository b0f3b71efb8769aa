"""How ``project.mirror_files`` drives a project's files (``project._drive``): within the files gate,
every file attempted, a one-file project without a task of its own."""

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


class Watch:
    """A stand-in for ``_ensure``: the tasks that ran files and how many ran at once."""

    def __init__(self, fail: frozenset[str] = frozenset()) -> None:
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
    # An upstream with no lean client: nothing is fetched ahead (``download.ahead``), every file goes one at a time.
    ctx: Any = SimpleNamespace(
        files_gate=asyncio.Semaphore(slots), progress=Progress(), upstream=SimpleNamespace(client=None)
    )
    return await project._drive(ctx, entries(count), {}, True)


async def test_a_one_file_project_runs_its_file_in_its_own_task(monkeypatch: pytest.MonkeyPatch) -> None:
    watch = Watch()
    assert await drive(monkeypatch, 1, 2, watch) == [False]
    assert watch.tasks == {asyncio.current_task()}  # a task of its own (gather) before


async def test_files_fill_the_gate_and_no_more(monkeypatch: pytest.MonkeyPatch) -> None:
    watch = Watch()
    await drive(monkeypatch, 40, 6, watch)
    assert len(watch.done) == 40 and watch.most == 6


async def test_every_file_is_attempted_and_each_error_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = frozenset({entries(5)[1][1].key, entries(5)[3][1].key})
    results = await drive(monkeypatch, 5, 2, Watch(fail=bad))
    assert [type(r).__name__ for r in results] == ["bool", "StorageError", "bool", "StorageError", "bool"]
    one = await drive(monkeypatch, 1, 2, Watch(fail=frozenset({entries(1)[0][1].key})))
    assert [type(r).__name__ for r in one] == ["StorageError"]


async def test_a_cancelled_project_stops_its_files(monkeypatch: pytest.MonkeyPatch) -> None:
    watch = Watch()
    task = asyncio.ensure_future(drive(monkeypatch, 50, 4, watch))
    await asyncio.sleep(0.003)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    finished = len(watch.done)
    await asyncio.sleep(0.01)
    assert len(watch.done) == finished < 50 and watch.running == 0
