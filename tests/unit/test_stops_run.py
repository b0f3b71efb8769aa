"""Errors that end a run (a lost lease, a damaged index, a refused disk) are never swallowed by a
handler that fails one project or tries the next URL."""

from __future__ import annotations

import asyncio
import errno
from types import SimpleNamespace
from typing import Any

import pytest

from frumious import delete, download, sync, verify
from frumious.errors import LeaseLost, ResourceError, UpstreamError, ends_run
from frumious.models import ListingEntry, StoredFile
from frumious.record.errors import RecordUnusable
from frumious.stats import Progress

STOPPERS = [LeaseLost("the lease was taken over"), RecordUnusable("the mirror's record is unusable")]


@pytest.mark.parametrize("exc", [*STOPPERS, ResourceError(errno.ENOSPC, "/m/x")])
def test_lease_index_and_disk_errors_end_the_run(exc: Exception) -> None:
    assert ends_run(exc)
    assert ends_run(ExceptionGroup("files", [UpstreamError("x"), exc]))


def test_a_project_failure_does_not_end_the_run() -> None:
    assert not ends_run(UpstreamError("500"))


@pytest.mark.parametrize("exc", STOPPERS)
def test_a_stopping_error_in_a_project_ends_the_run(monkeypatch: pytest.MonkeyPatch, exc: Exception) -> None:
    async def broken(ctx: Any, entry: ListingEntry) -> None:
        raise exc

    monkeypatch.setattr(sync, "sync_project", broken)
    ctx: Any = SimpleNamespace(progress=Progress(), vanished=set())
    with pytest.raises(type(exc)):
        asyncio.run(sync.sync_one(ctx, ListingEntry("yanky", 1)))


class _Upstream:
    def __init__(self, exc: Exception) -> None:
        self.exc, self.tried = exc, 0

    def get(self, url: str) -> Any:  # download's first attempt asks for the file itself
        self.tried += 1
        raise self.exc

    async def with_retries(self, what: str, attempt: Any, failed: Exception | None = None) -> int:
        self.tried += 1
        raise self.exc


@pytest.mark.parametrize("exc", STOPPERS)
def test_a_stopping_error_is_not_answered_by_the_next_url(exc: Exception) -> None:
    upstream: Any = _Upstream(exc)
    urls = ("http://a/x.whl", "http://b/x.whl")
    wanted = StoredFile("packages/x.whl", "x", "1", 1, "sha256", "0" * 64, None, urls=urls)
    with pytest.raises(type(exc)):
        asyncio.run(download.download(upstream, None, wanted, "sha256", None))  # type: ignore[arg-type]
    assert upstream.tried == 1


@pytest.mark.parametrize("exc", STOPPERS)
def test_a_stopping_error_ends_verify(monkeypatch: pytest.MonkeyPatch, exc: Exception) -> None:
    def broken(index: Any, name: str) -> bool:
        raise exc

    monkeypatch.setattr(verify, "_parsed", broken)
    run: Any = SimpleNamespace(
        report=SimpleNamespace(failed={}, progress=Progress()), tree=SimpleNamespace(record=None)
    )
    with pytest.raises(type(exc)):
        asyncio.run(verify.check_project(run, "yanky"))
    assert run.report.failed == {}


@pytest.mark.parametrize("exc", STOPPERS)
def test_a_stopping_error_ends_delete(monkeypatch: pytest.MonkeyPatch, exc: Exception) -> None:
    async def broken(*args: Any) -> None:
        raise exc

    monkeypatch.setattr(delete, "_delete_one", broken)
    with pytest.raises(type(exc)):
        asyncio.run(delete.delete_projects(None, ["a"], Progress()))  # type: ignore[arg-type]


def test_verify_bounds_a_repaired_metadata_body(monkeypatch: pytest.MonkeyPatch) -> None:
    """A .metadata sidecar has no recorded size: the repair caps it at max-project-size."""
    from frumious.settings import MirrorSettings

    seen: list[tuple[StoredFile, int | None]] = []

    async def fake_download(upstream: Any, store: Any, wanted: StoredFile, digest_name: str, cap: int | None) -> int:
        seen.append((wanted, cap))
        return 1

    monkeypatch.setattr(verify, "download", fake_download)
    mirror = MirrorSettings(directory="/m", master="https://pypi.org", max_project_size=12345)  # type: ignore[call-arg]
    tail = "ab/cd/" + "e" * 60 + "/x-1-py3-none-any.whl"  # PyPI's layout: the key keeps this tail
    url = "https://files.example/packages/" + tail
    dist = SimpleNamespace(url=url, digests={"sha256": "0" * 64}, filename="x-1-py3-none-any.whl")
    project: Any = SimpleNamespace(files=[dist])
    key = "web/packages/" + tail
    row = StoredFile(f"{key}.metadata", "x", "1", None, "sha256", "0" * 64, None, metadata=True)
    run: Any = SimpleNamespace(
        tree=SimpleNamespace(settings=mirror, store=None),
        report=SimpleNamespace(progress=Progress(), repaired=[]),
        upstream=None,
    )
    asyncio.run(verify.repair(run, "x", [row], project))
    assert [(w.urls, cap) for w, cap in seen] == [((f"{url}.metadata",), 12345)]
