"""Tiny loopback proxies for tests: an HTTP forward proxy and a SOCKS5 proxy.

Each runs in a background thread with its own loop, records what passed through
it, and stops when the context exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _relay(client_r, client_w, host: str, port: int, first: bytes = b"") -> None:
    up_r, up_w = await asyncio.open_connection(host, port)
    if first:
        up_w.write(first)
    await asyncio.gather(_pipe(client_r, up_w), _pipe(up_r, client_w))


class ProxyServer:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.seen: list[str] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.kind == "http":
            await self._http(reader, writer)
        else:
            await self._socks5(reader, writer)

    async def _http(self, reader, writer) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        method, target, version = head.split(b"\r\n", 1)[0].decode().split(" ")
        self.seen.append(target)
        url = urlsplit(target)
        path = url.path + (f"?{url.query}" if url.query else "")
        rest = head.split(b"\r\n", 1)[1]
        # One request per connection keeps the relay simple.
        headers = b"\r\n".join(
            line for line in rest.split(b"\r\n") if not line.lower().startswith((b"proxy-", b"connection"))
        )
        request = f"{method} {path} {version}\r\n".encode() + headers.rstrip(b"\r\n") + b"\r\nConnection: close\r\n\r\n"
        await _relay(reader, writer, url.hostname or "127.0.0.1", url.port or 80, request)

    async def _socks5(self, reader, writer) -> None:
        _ver, count = await reader.readexactly(2)
        await reader.readexactly(count)
        writer.write(b"\x05\x00")
        _ver, _cmd, _rsv, atyp = await reader.readexactly(4)
        if atyp == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif atyp == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        self.seen.append(f"{host}:{port}")
        writer.write(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", 0))
        await _relay(reader, writer, host, port)


@contextlib.contextmanager
def run_proxy(kind: str) -> Iterator[ProxyServer]:
    proxy = ProxyServer(kind)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, asyncio.base_events.Server] = {}

    async def start() -> None:
        holder["server"] = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
        proxy.port = holder["server"].sockets[0].getsockname()[1]
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    ready.wait(5)
    try:
        yield proxy
    finally:
        holder["server"].close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
