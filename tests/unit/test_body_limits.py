"""Bounded bodies on bytes: decoding refuses bombs, whole bodies stop at their limit, downloads
stop at their advertised size; and both HTTP clients apply them on a real socket."""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from frumious import download
from frumious.errors import BadUpstreamData, BodyTooLarge, DecompressionBomb, DownloadError, ProtocolError
from frumious.http.client import Client, Timeouts
from frumious.models import StoredFile
from frumious.protocol import bodies
from frumious.protocol.bodies import Collector, Inflater
from frumious.storage.filesystem import FilesystemStore


def gzip_bomb(mebibytes: int) -> bytes:
    """A gzip stream of ``mebibytes`` MiB of zeros (about 1 KiB per MiB), built without compressing it all."""
    zeros = bytes(1 << 20)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    # After a full flush the compressor forgets its history, so every MiB compresses to the same bytes.
    segment = packer.compress(zeros) + packer.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(zeros, crc)
    trailer = struct.pack("<II", crc, (mebibytes << 20) & 0xFFFFFFFF)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + segment * mebibytes + packer.flush() + trailer


def test_the_bomb_helper_is_a_valid_gzip_stream() -> None:
    assert gzip.decompress(gzip_bomb(3)) == bytes(3 << 20)


def test_inflater_yields_bounded_pieces_of_ordinary_bodies() -> None:
    data = b"".join(b"%d,%s\n" % (i, hashlib.sha256(b"%d" % i).hexdigest().encode()) for i in range(50_000))
    packed = gzip.compress(data)
    inflater = Inflater("http://x/doc", ProtocolError)
    pieces = (packed[start : start + 7000] for start in range(0, len(packed), 7000))
    out = [decoded for piece in pieces for decoded in inflater.feed(piece, 4096)]
    out.append(inflater.end())
    assert b"".join(out) == data
    assert max(map(len, out)) <= 4096


def test_inflater_refuses_a_bomb_after_bounded_output() -> None:
    bomb = gzip_bomb(1024)  # 1 GiB of zeros in about 1 MiB
    inflater = Inflater("http://x/bomb.json", ProtocolError)
    produced = 0
    with pytest.raises(DecompressionBomb, match=r"http://x/bomb.json: .* 100:1"):
        for start in range(0, len(bomb), 65536):
            for piece in inflater.feed(bomb[start : start + 65536], 262_144):
                produced += len(piece)
    # Refused just past the floor: nowhere near the gigabyte the bomb holds.
    assert bodies.RATIO_FLOOR // 2 < produced <= bodies.RATIO_FLOOR + 262_144


def test_inflater_bad_bytes_and_short_streams_raise_the_given_error() -> None:
    with pytest.raises(ProtocolError, match="cannot decompress"):
        list(Inflater("http://x/a", ProtocolError).feed(b"\x1f\x8b\x08garbage-garbage", 1024))
    inflater = Inflater("http://x/a", ProtocolError)
    list(inflater.feed(gzip.compress(b"hello" * 100)[:20], 1024))
    with pytest.raises(ProtocolError, match="ends early"):
        inflater.end()


def test_collector_refuses_past_its_limit_and_declared_lengths() -> None:
    collector = Collector("http://x/simple/", 10)
    collector.add(b"12345")
    collector.add(b"67890")
    assert collector.body() == b"1234567890"
    with pytest.raises(BodyTooLarge, match=r"http://x/simple/: .*limit of 10"):
        collector.add(b"!")
    with pytest.raises(BodyTooLarge, match="11 bytes"):
        Collector("http://x/simple/", 10).declared(11)
    assert issubclass(BodyTooLarge, BadUpstreamData)


# --- the download loop stops at the advertised size ------------------------------------------


class EndlessResponse:
    """A body far longer than advertised (4 MB: bounded, so a failing run cannot fill the disk);
    counts the chunks the consumer took."""

    status, url, headers = 200, "http://x/f.whl", {}

    def __init__(self, chunk: bytes) -> None:
        self.chunk, self.taken = chunk, 0

    async def iter_chunks(self, size: int) -> AsyncIterator[bytes]:
        for _ in range(4096):
            self.taken += 1
            yield self.chunk

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body as the clients read it: ``BodyTooLarge`` with the chunk that passed ``limit``."""
        body = b""
        async for chunk in self.iter_chunks(len(self.chunk)):
            body += chunk
            if limit is not None and len(body) > limit:
                raise BodyTooLarge(f"{self.url}: body passes the limit of {limit} bytes")
        return body


class OneResponseUpstream:
    def __init__(self, response: Any) -> None:
        self.response = response

    def get(self, url: str, headers: Any = None) -> Any:
        response = self.response

        class Opened:
            async def __aenter__(self) -> Any:
                return response

            async def __aexit__(self, *exc: object) -> None:
                return None

        return Opened()

    async def with_retries(self, what: str, call: Any, failed: Exception | None = None) -> int:
        if failed is not None:  # download made the one attempt itself
            raise failed
        return int(await call())


class CountingStore(FilesystemStore):
    """Counts the bytes handed to writers: what a download put on disk."""

    written = 0

    async def writer(self, key: str) -> Any:
        inner = await super().writer(key)
        store = self

        class Counting:
            async def write(self, data: bytes) -> None:
                store.written += len(data)
                await inner.write(data)

            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

        return Counting()


async def test_a_download_stops_at_its_advertised_size(tmp_path: Path) -> None:
    response = EndlessResponse(b"x" * 1000)  # a 3,000-byte file that streams on and on
    store = CountingStore(str(tmp_path))
    wanted = StoredFile("web/packages/a/f.whl", "a", "1", 3000, "sha256", "0" * 64, None, urls=("http://x/f.whl",))
    with pytest.raises(DownloadError, match=r"http://x/f.whl: .*3000"):
        await download.download(OneResponseUpstream(response), store, wanted, "sha256", None)  # type: ignore[arg-type]
    assert store.written <= 3000
    assert response.taken == 4  # the chunk that passed the size was read, none after it
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


async def test_an_unsized_download_stops_at_its_cap(tmp_path: Path) -> None:
    response = EndlessResponse(b"m" * 1000)
    store = CountingStore(str(tmp_path))
    key, urls = "web/packages/a/f.whl.metadata", ("http://x/f.whl.metadata",)
    wanted = StoredFile(key, "a", "1", None, "sha256", "0" * 64, None, True, urls)
    with pytest.raises(DownloadError, match="5000"):
        await download.download(OneResponseUpstream(response), store, wanted, "sha256", 5000)  # type: ignore[arg-type]
    assert store.written <= 5000 and response.taken == 6


# --- the lean client on a socket ---------------------------------------------------------------


def _client() -> Client:
    return Client(user_agent="test/1", timeouts=Timeouts(connect=5.0, read=5.0, total=30.0), limit=4)


def _reply(body: bytes, *headers: str) -> bytes:
    lines = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture
def bomb() -> Iterator[bytes]:
    yield gzip_bomb(1024)


async def _serve_once(payload: bytes) -> Any:
    import asyncio

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(payload)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_lean_client_refuses_a_gzip_bomb_read_whole(bomb: bytes) -> None:
    server = await _serve_once(_reply(bomb, "Content-Encoding: gzip"))
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/pypi/x/json"
    async with server:
        client = _client()
        async with client.get(url) as response:
            with pytest.raises(BodyTooLarge, match="decompression bomb"):
                await response.read(1 << 30)
        await client.close()


async def test_lean_client_refuses_a_body_past_its_limit() -> None:
    chunk = b"10\r\n" + b"a" * 16 + b"\r\n"
    server = await _serve_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 2 + b"0\r\n\r\n")
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/simple/"
    async with server:
        client = _client()
        async with client.get(url) as response:
            with pytest.raises(BodyTooLarge, match="limit of 20"):
                await response.read(20)
        await client.close()


async def test_lean_client_refuses_a_declared_length_past_the_limit_before_reading() -> None:
    # The server declares 5 GB and sends none of it: waiting for the body would hang until the timeout.
    server = await _serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 5000000000\r\n\r\n")
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/pypi/x/json"
    async with server:
        client = _client()
        async with client.get(url) as response:
            with pytest.raises(BodyTooLarge, match="5000000000 bytes"):
                await response.read(100)
        await client.close()


# --- aiohttp (proxies, credentials) decodes through the same bounded code ----------------------


def _session() -> Any:
    from frumious.http.aio import Session

    return Session(proxy="", timeouts=Timeouts(connect=5.0, read=5.0, total=30.0), limit=4, user_agent="test/1")


async def test_aiohttp_client_refuses_a_gzip_bomb(bomb: bytes) -> None:
    server = await _serve_once(_reply(bomb, "Content-Encoding: gzip"))
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/pypi/x/json"
    async with server:
        session = _session()
        try:
            async with session.get(url) as response:
                with pytest.raises(DecompressionBomb, match="/pypi/x/json"):
                    await response.read(1 << 30)
        finally:
            await session.close()


async def test_aiohttp_client_decodes_gzip_and_caps_bodies() -> None:
    body = b'{"projects": []}' * 100
    server = await _serve_once(_reply(gzip.compress(body), "Content-Encoding: gzip"))
    port = server.sockets[0].getsockname()[1]
    async with server:
        session = _session()
        try:
            async with session.get(f"http://127.0.0.1:{port}/simple/") as response:
                assert await response.read(len(body)) == body
            async with session.get(f"http://127.0.0.1:{port}/simple/") as response:
                with pytest.raises(BodyTooLarge, match="limit of 100"):
                    await response.read(100)
        finally:
            await session.close()


# --- the config keys -----------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("4096", 4096), ("64K", 65536), ("3M", 3 << 20), ("2G", 2 << 30)])
def test_size_keys_take_bytes_or_suffixes(tmp_path: Path, raw: str, expected: int) -> None:
    from frumious import config

    settings = config.loads(f"[mirror]\ndirectory = {tmp_path}\nmax-listing-size = {raw}\nmax-project-size = {raw}\n")
    assert settings.mirror.max_listing_size == settings.mirror.max_project_size == expected


def test_size_keys_have_generous_defaults_and_refuse_nonsense(tmp_path: Path) -> None:
    from frumious import config
    from frumious.errors import ConfigError

    mirror = config.loads(f"[mirror]\ndirectory = {tmp_path}\n").mirror
    assert mirror.max_listing_size >= 400 << 20 and mirror.max_project_size >= 100 << 20
    with pytest.raises(ConfigError, match=r"\[mirror\] max-project-size: '12 apples' is not a size"):
        config.loads(f"[mirror]\ndirectory = {tmp_path}\nmax-project-size = 12 apples\n")
    with pytest.raises(ConfigError, match="max-listing-size"):
        config.loads(f"[mirror]\ndirectory = {tmp_path}\nmax-listing-size = 0\n")


def test_a_size_of_thousands_of_digits_is_a_config_error(tmp_path: Path) -> None:
    from frumious import config
    from frumious.errors import ConfigError

    with pytest.raises(ConfigError, match=r"max-listing-size: '9999.*' is not a size"):
        config.loads(f"[mirror]\ndirectory = {tmp_path}\nmax-listing-size = {'9' * 5000}\n")
