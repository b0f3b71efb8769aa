"""Large bodies read on threads (``http.bulk`` via ``Reply.pour``) and ``download``'s use of them.

Every case runs on asyncio's loop and on uvloop (the sync's): the threads read a duplicate of
the transport's socket while the transport is paused, so both loops' transports must let go.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from frumious import download
from frumious.errors import DownloadError, ProtocolError, StorageError
from frumious.http import bulk, wire
from frumious.http.client import Client, Timeouts
from frumious.models import StoredFile
from frumious.storage.filesystem import FilesystemStore

SIZE = 300_001  # many pieces of the shrunk PIECE and a partial last one
BODY = os.urandom(SIZE)


@pytest.fixture(autouse=True)
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small bodies take the threaded path in small pieces, so the tests stay quick."""
    monkeypatch.setattr(wire, "DIRECT", 64 * 1024)
    monkeypatch.setattr(bulk, "PIECE", 16 * 1024)


POURED: list[int] = []


@pytest.fixture(autouse=True)
def count_pours(monkeypatch: pytest.MonkeyPatch) -> None:
    """Records each body ``Reply.pour`` read, so a download's test sees the threaded path was taken."""
    POURED.clear()
    pour = wire.Reply.pour

    async def counted(self: wire.Reply, sinks: list[bulk.Sink]) -> int:
        POURED.append(await pour(self, sinks))
        return POURED[-1]

    monkeypatch.setattr(wire.Reply, "pour", counted)


@asynccontextmanager
async def serve(answer: Callable[[bytes], bytes], stall: float = 0) -> AsyncIterator[list[int]]:
    """A server answering each request head with ``answer(head)``; yields [url port, connections]."""
    seen = [0, 0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen[1] += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                writer.write(answer(head))
                await writer.drain()
                if stall:
                    await asyncio.sleep(stall)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    seen[0] = listener.sockets[0].getsockname()[1]
    async with listener:
        yield seen


def reply(body: bytes, length: int | None = None, *headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body) if length is None else length}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def client(read: float = 5.0, total: float = 30.0) -> Client:
    return Client(user_agent="test/1", timeouts=Timeouts(connect=5.0, read=read, total=total), limit=4)


def url(seen: list[int], path: str = "/f") -> str:
    return f"http://127.0.0.1:{seen[0]}{path}"


def no_threads_left() -> bool:
    return not [t for t in threading.enumerate() if t.name in ("frumious-body", "frumious-recv")]


async def pour_all(c: Client, where: str) -> bytes:
    """The body through two sinks (threads of their own); both must see every byte, in order."""
    got: list[bytes] = []
    hashed = hashlib.sha256()
    async with c.get(where) as response:
        assert isinstance(response, wire.Reply)
        assert response.direct_size() == SIZE
        assert await response.pour([lambda piece: got.append(bytes(piece)), hashed.update]) == SIZE
    body = b"".join(got)
    assert hashed.digest() == hashlib.sha256(body).digest()
    return body


async def case_whole_body_in_order_and_the_connection_kept() -> None:
    async with serve(lambda head: reply(BODY)) as seen:
        c = client()
        assert await pour_all(c, url(seen)) == BODY
        assert await pour_all(c, url(seen)) == BODY  # the same connection, read on past the first body
        await c.close()
    assert seen[1] == 1
    assert no_threads_left()


async def case_a_body_cut_short_is_a_protocol_error() -> None:
    async with serve(lambda head: reply(BODY[:-10], SIZE)) as seen:
        c = client(read=0.3)
        with pytest.raises((ProtocolError, TimeoutError)):
            await pour_all(c, url(seen))
        await c.close()
    assert no_threads_left()


async def case_a_closed_connection_mid_body_is_a_protocol_error() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply(BODY[:100_000], SIZE))
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with listener:
        c = client()
        with pytest.raises(ProtocolError, match="bytes short"):
            await pour_all(c, f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/f")
        await c.close()
    assert no_threads_left()


async def case_a_stalled_body_times_out() -> None:
    async with serve(lambda head: reply(BODY[:50_000], SIZE), stall=5) as seen:
        c = client(read=0.2)
        with pytest.raises(TimeoutError):
            await pour_all(c, url(seen))
        await c.close()
    assert no_threads_left()


async def case_a_failing_sink_stops_the_threads() -> None:
    def sink(piece: memoryview) -> None:
        raise OSError("disk full")

    async with serve(lambda head: reply(BODY)) as seen:
        c = client()
        async with c.get(url(seen)) as response:
            assert isinstance(response, wire.Reply)
            with pytest.raises(OSError, match="disk full"):
                await response.pour([sink])
        await c.close()
    assert no_threads_left()


async def case_a_cancelled_pour_waits_for_its_threads() -> None:
    started = threading.Event()

    def sink(piece: memoryview) -> None:
        started.set()

    async with serve(lambda head: reply(BODY[:50_000], SIZE), stall=5) as seen:
        c = client(read=10)
        task = asyncio.create_task(pour_all_with(c, url(seen), sink))
        assert await asyncio.to_thread(started.wait, 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert no_threads_left()  # nothing writes to a descriptor the caller may close next
        await c.close()


async def pour_all_with(c: Client, where: str, sink: bulk.Sink) -> int:
    async with c.get(where) as response:
        assert isinstance(response, wire.Reply)
        return await response.pour([sink])


async def case_only_large_plain_bodies_go_direct() -> None:
    answers = {
        b"/small": reply(b"x" * 1000),
        b"/gzip": reply(BODY, None, "Content-Encoding: gzip"),
        b"/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    }
    async with serve(lambda head: answers[head.split(b" ")[1]]) as seen:
        c = client()
        for path in ("/small", "/gzip", "/chunked"):
            async with c.get(url(seen, path)) as response:
                assert isinstance(response, wire.Reply)
                assert response.direct_size() is None
        await c.close()


class ClientUpstream:
    """What ``download`` needs of ``Upstream``, over the real lean client."""

    def __init__(self, c: Client) -> None:
        self.client, self.attempts = c, 0

    def get(self, where: str, headers: Any = None) -> Any:
        return self.client.get(where, headers)

    async def with_retries(self, what: str, call: Callable[[], Awaitable[int]], failed: Exception | None = None) -> int:
        self.attempts += 1
        if failed is not None:  # download made the one attempt itself
            raise failed
        return await call()


def wanted(where: str, size: int, digest: str) -> StoredFile:
    return StoredFile("web/packages/a/f.tar.gz", "a", "1", size, "sha256", digest, 1_700_000_000.0, False, (where,), {})


async def case_download_writes_verified_bytes_from_the_threads(tmp_path: Path) -> None:
    async with serve(lambda head: reply(BODY)) as seen:
        c = client()
        file = wanted(url(seen), SIZE, hashlib.sha256(BODY).hexdigest())
        assert await download.download(ClientUpstream(c), FilesystemStore(str(tmp_path)), file, "sha256", None) == SIZE  # type: ignore[arg-type]
        await c.close()
    assert POURED == [SIZE]
    stored = tmp_path / "web/packages/a/f.tar.gz"
    assert stored.read_bytes() == BODY
    assert stored.stat().st_mtime == 1_700_000_000.0


async def case_download_refuses_a_corrupt_body(tmp_path: Path) -> None:
    corrupt = BODY[:1000] + bytes([BODY[1000] ^ 1]) + BODY[1001:]
    async with serve(lambda head: reply(corrupt)) as seen:
        c = client()
        file = wanted(url(seen), SIZE, hashlib.sha256(BODY).hexdigest())
        with pytest.raises(DownloadError, match="sha256 is"):
            await download.download(ClientUpstream(c), FilesystemStore(str(tmp_path)), file, "sha256", None)  # type: ignore[arg-type]
        await c.close()
    assert POURED == [SIZE]
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


async def case_download_refuses_a_longer_declared_body_unread(tmp_path: Path) -> None:
    async with serve(lambda head: reply(BODY)) as seen:
        c = client()
        file = wanted(url(seen), SIZE - 1, hashlib.sha256(BODY[:-1]).hexdigest())
        with pytest.raises(DownloadError, match=f"passes the advertised {SIZE - 1}"):
            await download.download(ClientUpstream(c), FilesystemStore(str(tmp_path)), file, "sha256", None)  # type: ignore[arg-type]
        await c.close()
    assert POURED == []  # refused on its declared length, before a byte of the body was read
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


async def case_download_reports_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    real_write = os.write
    async with serve(lambda head: reply(BODY)) as seen:
        c = client()
        file = wanted(url(seen), SIZE, hashlib.sha256(BODY).hexdigest())
        monkeypatch.setattr(os, "write", full)
        with pytest.raises(StorageError):
            await download.download(ClientUpstream(c), FilesystemStore(str(tmp_path)), file, "sha256", None)  # type: ignore[arg-type]
        monkeypatch.setattr(os, "write", real_write)
        await c.close()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert no_threads_left()


CASES = [
    case_whole_body_in_order_and_the_connection_kept,
    case_a_body_cut_short_is_a_protocol_error,
    case_a_closed_connection_mid_body_is_a_protocol_error,
    case_a_stalled_body_times_out,
    case_a_failing_sink_stops_the_threads,
    case_a_cancelled_pour_waits_for_its_threads,
    case_only_large_plain_bodies_go_direct,
]
DOWNLOADS = [
    case_download_writes_verified_bytes_from_the_threads,
    case_download_refuses_a_corrupt_body,
    case_download_refuses_a_longer_declared_body_unread,
]


def loops() -> list[Any]:
    factories: list[Any] = [asyncio.new_event_loop]
    try:
        import uvloop

        factories.append(uvloop.new_event_loop)
    except ImportError:
        pass
    return factories


@pytest.mark.parametrize("factory", loops(), ids=lambda f: f.__module__.split(".")[0])
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__.removeprefix("case_"))
def test_pour(case: Callable[[], Awaitable[None]], factory: Any) -> None:
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(case())  # type: ignore[arg-type]


@pytest.mark.parametrize("factory", loops(), ids=lambda f: f.__module__.split(".")[0])
@pytest.mark.parametrize("case", DOWNLOADS, ids=lambda case: case.__name__.removeprefix("case_"))
def test_download(case: Callable[[Path], Awaitable[None]], factory: Any, tmp_path: Path) -> None:
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(case(tmp_path))  # type: ignore[arg-type]


def test_download_reports_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with asyncio.Runner() as runner:
        runner.run(case_download_reports_a_full_disk(tmp_path, monkeypatch))
