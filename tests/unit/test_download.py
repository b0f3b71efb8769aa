"""download: streamed, hashed (large files on a worker thread, in order), verified, committed."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from frumious import download
from frumious.errors import BodyTooLarge, DownloadError
from frumious.models import StoredFile
from frumious.storage.filesystem import FilesystemStore


class FakeResponse:
    status, url, headers = 200, "http://x/f", {}

    def __init__(self, chunks: list[bytes], calls: list[str] | None = None) -> None:
        self.chunks = chunks
        self.calls = [] if calls is None else calls

    async def read(self, limit: int | None = None) -> bytes:
        self.calls.append("read")
        body = b"".join(self.chunks)
        if limit is not None and len(body) > limit:
            raise BodyTooLarge(f"{self.url}: body is larger than the limit of {limit} bytes; refused")
        return body

    async def iter_chunks(self, size: int) -> AsyncIterator[bytes]:
        self.calls.append("iter_chunks")
        for chunk in self.chunks:
            yield chunk


class FakeUpstream:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.calls: list[str] = []

    def get(self, url: str, headers: Any = None) -> Any:
        response = FakeResponse(self.chunks, self.calls)

        class Opened:
            async def __aenter__(self) -> FakeResponse:
                return response

            async def __aexit__(self, *exc: object) -> None:
                return None

        return Opened()

    async def with_retries(self, what: str, call: Callable[[], Awaitable[int]], failed: Exception | None = None) -> int:
        if failed is not None:  # download made the one attempt itself
            raise failed
        return await call()


def wanted_file(size: int, digests: dict[str, str], uploaded: float | None) -> StoredFile:
    key, urls = "web/packages/a/f.whl", ("http://x/f",)
    algorithm = "md5" if "md5" in digests else "sha256"
    return StoredFile(key, "a", "1", size, algorithm, digests[algorithm], uploaded, False, urls, digests)


def pieces(*sizes: int) -> list[bytes]:
    return [os.urandom(size) for size in sizes]


@pytest.mark.parametrize(
    "sizes",
    [
        (20_000,),  # small: hashed inline
        (1000, 300_000, 700_000, 5, 1 << 20, 262_144),  # small first, then batched hand-offs
        (262_144,) * 9 + (17,),  # large first, a small tail joins the batch
    ],
)
async def test_hashes_match_whatever_the_chunking(tmp_path: Path, sizes: tuple[int, ...]) -> None:
    chunks = pieces(*sizes)
    data = b"".join(chunks)
    digests = {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
    store = FilesystemStore(str(tmp_path))
    wanted = wanted_file(len(data), digests, 1_700_000_000.0)
    size = await download.download(FakeUpstream(chunks), store, wanted, "md5", None)  # type: ignore[arg-type]
    assert size == len(data)
    assert (tmp_path / "web/packages/a/f.whl").read_bytes() == data
    assert (tmp_path / "web/packages/a/f.whl").stat().st_mtime == 1_700_000_000.0


async def test_a_wrong_digest_commits_nothing(tmp_path: Path) -> None:
    chunks = pieces(300_000, 300_000)
    wanted = wanted_file(600_000, {"sha256": "0" * 64}, None)
    store = FilesystemStore(str(tmp_path))
    with pytest.raises(DownloadError, match="sha256"):
        await download.download(FakeUpstream(chunks), store, wanted, "sha256", None)  # type: ignore[arg-type]
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []


class RecordingUpstream(FakeUpstream):
    """Records what each attempt raised (what upstream.with_retries decides to retry on)."""

    def __init__(self, chunks: list[bytes]) -> None:
        super().__init__(chunks)
        self.raised: list[BaseException] = []

    async def with_retries(self, what: str, call: Callable[[], Awaitable[int]], failed: Exception | None = None) -> int:
        if failed is not None:  # download's own first attempt raised it
            self.raised.append(failed)
            raise failed
        try:
            return await call()
        except BaseException as exc:
            self.raised.append(exc)
            raise


async def test_a_body_past_its_advertised_size_is_a_mismatch_to_retry(tmp_path: Path) -> None:
    upstream = RecordingUpstream(pieces(1000, 1000))
    wanted = wanted_file(1500, {"sha256": "0" * 64}, None)
    with pytest.raises(DownloadError, match="passes the advertised 1500 bytes"):
        await download.download(upstream, FilesystemStore(str(tmp_path)), wanted, "sha256", None)  # type: ignore[arg-type]
    assert [type(exc) for exc in upstream.raised] == [download.BodyMismatch]


@pytest.mark.parametrize(("sizes", "calls"), [((20_000,), ["read"]), ((262_144, 1), ["iter_chunks"])])
async def test_a_small_file_of_known_size_is_read_whole(
    tmp_path: Path, sizes: tuple[int, ...], calls: list[str]
) -> None:
    chunks = pieces(*sizes)
    data = b"".join(chunks)
    upstream = FakeUpstream(chunks)
    wanted = wanted_file(len(data), {"sha256": hashlib.sha256(data).hexdigest()}, 1_700_000_000.0)
    assert await download.download(upstream, FilesystemStore(str(tmp_path)), wanted, "sha256", None) == len(data)  # type: ignore[arg-type]
    assert upstream.calls == calls
    assert (tmp_path / "web/packages/a/f.whl").read_bytes() == data


@pytest.mark.parametrize(
    ("declared", "calls"),
    [("97", ["read"]), (None, ["iter_chunks"]), (str(download.SMALL + 1), ["iter_chunks"]), ("9x", ["iter_chunks"])],
)
async def test_a_sidecar_declared_small_is_read_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, declared: str | None, calls: list[str]
) -> None:
    # A .metadata sidecar's size is not advertised: its Content-Length tells whether to read it whole.
    data = b"Metadata-Version: 2.1\nName: a\n" * 3 + b"x" * 4
    monkeypatch.setattr(FakeResponse, "headers", {} if declared is None else {"Content-Length": declared})
    upstream = FakeUpstream([data[:40], data[40:]])
    key = "web/packages/a/f.whl.metadata"
    wanted = StoredFile(key, "a", "1", None, "sha256", hashlib.sha256(data).hexdigest(), None, True, ("http://x/m",))
    assert await download.download(upstream, FilesystemStore(str(tmp_path)), wanted, "sha256", 5000) == len(data)  # type: ignore[arg-type]
    assert upstream.calls == calls
    assert (tmp_path / key).read_bytes() == data
    # A wrong digest puts nothing in place, whichever way the body was read.
    (tmp_path / key).unlink()
    wrong = StoredFile(key, "a", "1", None, "sha256", "0" * 64, None, True, ("http://x/m",))
    with pytest.raises(DownloadError):
        await download.download(upstream, FilesystemStore(str(tmp_path)), wrong, "sha256", 5000)  # type: ignore[arg-type]
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


async def test_a_sidecar_length_in_non_ascii_digits_is_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "²" is a digit to str.isdigit and no number to int(): not a length to trust, the body is streamed.
    data = b"Metadata-Version: 2.1\n"
    monkeypatch.setattr(FakeResponse, "headers", {"Content-Length": "\u00b2"})
    upstream = FakeUpstream([data])
    key = "web/packages/a/f.whl.metadata"
    wanted = StoredFile(key, "a", "1", None, "sha256", hashlib.sha256(data).hexdigest(), None, True, ("http://x/m",))
    assert await download.download(upstream, FilesystemStore(str(tmp_path)), wanted, "sha256", 5000) == len(data)  # type: ignore[arg-type]
    assert upstream.calls == ["iter_chunks"] and (tmp_path / key).read_bytes() == data
