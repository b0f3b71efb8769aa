"""A lean HTTP/1.1 client for the sync's hot path: GETs over kept-alive connections.

Why not aiohttp here: its request path (tracing hooks, URL objects, cookie jar, a thread hop
per request for the environment's proxy settings) was the largest CPU cost of a full sync.
A mirror needs a small part of HTTP: GET to one or two hosts, Content-Length or chunked
bodies, gzip, redirects. A request is one write of a prebuilt header block; the response is
parsed sans I/O (``parser``) from the bytes the connection (``wire``) receives. ``upstream``
sends proxied requests through aiohttp (``aio``) instead; both hand out the same ``Response``.

Errors: ``TransportError`` (no connection, a dropped connection, a malformed or cut-short
response; ``retryable``) and ``TimeoutError`` are transient and the caller retries them; a
redirect loop or an unusable URL raises a plain ``UpstreamError``.
"""

from __future__ import annotations

import asyncio
import functools
import re
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol
from urllib.parse import quote, urljoin, urlsplit

from frumious.errors import ConnectionFailed, Unanswered, UpstreamError
from frumious.http.budget import Budget
from frumious.http.parser import Headers
from frumious.http.wire import Connection, Reply, read_head

__all__ = ["Client", "HTTPClient", "Headers", "Response", "Timeouts", "handles"]

REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10  # as aiohttp, so both clients follow the same chains
DEFAULT_PORTS = {"http": 80, "https": 443}
_UNSAFE = re.compile(r"[^\x21-\x7e]")  # spaces, controls, non-ASCII: percent-encode them
_SAFE = "/%:@!$&'()*+,;=-._~?[]"

Key = tuple[str, str, int]


class Response(Protocol):
    """What a GET yields, from either client; the body is read once, whole or in pieces.

    Both clients decode gzip/deflate themselves in bounded pieces (``bodies``): a decompression
    bomb is refused after about a megabyte of output, whichever client fetched it.
    """

    @property
    def status(self) -> int: ...

    @property
    def url(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body, decoded; ``BodyTooLarge`` once it passes ``limit`` bytes."""
        ...

    def iter_chunks(self, size: int) -> AsyncIterator[bytes]: ...


# Called with each response on its way in; raises to refuse it (``http.checked.check_status``).
Check = Callable[[Response, str], None]


class HTTPClient(Protocol):
    """What ``Upstream`` needs of an HTTP client: GETs, each an ``async with`` of a ``Response``.

    The lean ``Client``, aiohttp's ``Session`` (``aio``), their router (``choose.Clients``) and
    ``frumious.testing.memhttp`` (no sockets) all fit.
    """

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> AbstractAsyncContextManager[Response]: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float
    read: float  # the longest wait for the next bytes
    total: float  # the whole request, redirects and body included


def handles(url: str) -> bool:
    """Whether this client takes ``url``: http(s) without credentials (aiohttp does those)."""
    scheme, _, rest = url.partition("://")
    return scheme.lower() in DEFAULT_PORTS and "@" not in rest.split("/", 1)[0]


def _target(url: str) -> tuple[Key, str, str]:
    """(scheme, host, port), the Host header and the request target of ``url``.

    A sync asks one or two hosts for every file: a plain URL's origin is parsed once per host
    (``_origin``), its target cut from the rest (urlsplit per request was about 2 us of 12,000).
    Anything unusual (spaces, controls, non-ASCII, credentials, ``?`` or ``#`` in the host part)
    goes through ``_parsed_target``, which gives the same answers for plain URLs.
    """
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    plain = url.isascii() and url.isprintable() and " " not in url  # what _UNSAFE finds nothing in
    if sep and plain and "?" not in netloc and "#" not in netloc and "@" not in netloc:
        found = _origin(f"{scheme}://{netloc}")
        if found is not None:
            where, _, query = (slash + path).partition("#")[0].partition("?")
            return found[0], found[1], f"{where or '/'}?{query}" if query else where or "/"
    return _parsed_target(url)


@functools.lru_cache(maxsize=64)
def _origin(origin: str) -> tuple[Key, str] | None:
    """The pool key and Host header of a plain ``scheme://host[:port]``; None: ``_parsed_target`` says why not."""
    try:
        key, host, _path = _parsed_target(origin)
    except UpstreamError:
        return None
    return key, host


def _parsed_target(url: str) -> tuple[Key, str, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UpstreamError(f"{url}: {exc}") from None
    host = parts.hostname
    if parts.scheme not in DEFAULT_PORTS or not host:
        raise UpstreamError(f"{url}: not an http(s) URL this client can fetch")
    target = parts.path or "/"
    if parts.query:
        target = f"{target}?{parts.query}"
    if _UNSAFE.search(target):
        target = quote(target, safe=_SAFE)
    netloc = parts.netloc
    if not netloc.isascii():  # an internationalised host name goes on the wire in IDNA
        try:
            ascii_host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise UpstreamError(f"{url}: bad host name ({exc})") from None
        netloc = ascii_host if port is None else f"{ascii_host}:{port}"
    return (parts.scheme, host, port or DEFAULT_PORTS[parts.scheme]), netloc, target


def _lines(headers: Mapping[str, str]) -> str:
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise UpstreamError(f"header {name!r} holds a line break")
    return "".join(f"{name}: {value}\r\n" for name, value in headers.items())


class Client:
    """Kept-alive connections per host, at most ``limit`` requests in flight, within ``budget``."""

    def __init__(self, *, user_agent: str, timeouts: Timeouts, limit: int, budget: Budget | None = None) -> None:
        self.timeouts = timeouts
        self.budget = budget
        self._gate = asyncio.Semaphore(limit)
        self._idle: dict[Key, list[Connection]] = {}
        self._defaults = {"user-agent": user_agent, "accept": "*/*", "accept-encoding": "gzip, deflate"}
        self._common = _lines({"User-Agent": user_agent, "Accept": "*/*", "Accept-Encoding": "gzip, deflate"})
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop of the first request (and its pool)
        self._tails: dict[str, bytes] = {}  # the request's bytes after its target, by Host header
        self._ssl: ssl.SSLContext | None = None
        self._closed = False

    def get(self, url: str, headers: Mapping[str, str] | None = None, *, check: Check | None = None) -> _Exchange:
        """``async with client.get(url) as response``: the connection returns to the pool on exit.

        ``check(response, url)`` is called on the way in and may raise (``http.checked.check_status``,
        what ``Upstream.get`` asks for): the status checked without a second context manager around this one.
        """
        return _Exchange(self, url, headers, check)

    async def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for conn in idle:
                conn.abort()
        self._idle.clear()

    async def fetch(self, url: str, headers: Mapping[str, str] | None) -> Reply:
        """The response to a GET of ``url``, redirects followed."""
        loop = self._loop
        if loop is None:  # asked once: asyncio's get_running_loop() makes a getpid() call each time
            loop = self._loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeouts.total
        for _ in range(MAX_REDIRECTS + 1):
            if self.budget is not None:  # waiting on our own limit is not the server's slowness
                deadline += await self.budget.request()
            reply = await self._send(loop, url, headers, deadline)
            location = reply.headers.get("location") if reply.status in REDIRECTS else None
            if not location:
                return reply
            try:
                await reply.drain()
            finally:
                self.release(reply)
            url = urljoin(url, location)
        raise UpstreamError(f"{url}: more than {MAX_REDIRECTS} redirects")

    async def _send(
        self, loop: asyncio.AbstractEventLoop, url: str, headers: Mapping[str, str] | None, deadline: float
    ) -> Reply:
        key, host, target = _target(url)
        if headers:
            request = f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{self._merged(headers)}\r\n".encode("latin-1")
        else:  # the common case: all but the target is the same for every request to this host
            tail = self._tails.get(host)
            if tail is None:
                tail = self._tails[host] = f" HTTP/1.1\r\nHost: {host}\r\n{self._common}\r\n".encode("latin-1")
            request = b"GET " + target.encode("latin-1") + tail
        reused = True
        while True:
            conn = self._idle_connection(key, loop.time()) if reused else None
            if conn is None:
                reused, conn = False, await self._connect(loop, key, deadline)
            try:
                assert conn.transport is not None
                conn.transport.write(request)
                head = await read_head(conn, deadline, url)
                return Reply(conn, url, head, deadline, self.budget)
            except Unanswered:
                conn.abort()
                if not reused:
                    raise
                # The server closed the idle connection as we sent: the GET never ran; send it anew.
                reused = False
            except BaseException:
                conn.abort()
                raise

    def _merged(self, headers: Mapping[str, str]) -> str:
        given = {name.lower() for name in headers}
        defaults = {name: value for name, value in self._defaults.items() if name not in given}
        return _lines(defaults) + _lines(headers)

    def _idle_connection(self, key: Key, now: float) -> Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.reusable(now):
                return conn
            conn.abort()
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop, key: Key, deadline: float) -> Connection:
        scheme, host, port = key
        context = self._context() if scheme == "https" else None
        timeout = min(self.timeouts.connect, deadline - loop.time())
        try:
            async with asyncio.timeout(timeout):
                transport, conn = await loop.create_connection(
                    lambda: Connection(loop, self.timeouts.read),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context else None,
                )
        except TimeoutError:
            raise
        except OSError as exc:  # refused, unreachable, DNS, TLS (ssl.SSLError is an OSError)
            raise ConnectionFailed(f"cannot connect to {host}:{port}: {exc}") from exc
        conn.key = key
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Small request heads must leave at once, not wait for an ACK (Nagle).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def release(self, reply: Reply) -> None:
        """Keep the reply's connection for the next request, or close it."""
        conn = reply.connection
        if reply.reusable() and not self._closed:
            conn.idle_since = conn.loop.time()  # the running loop; asking asyncio for it costs a getpid()
            self._idle.setdefault(conn.key, []).append(conn)
        else:
            conn.abort()


class _Exchange:
    """The ``async with`` of ``Client.get``: holds a slot of the limit while the body is read."""

    __slots__ = ("_check", "_client", "_headers", "_reply", "_url")

    def __init__(self, client: Client, url: str, headers: Mapping[str, str] | None, check: Check | None) -> None:
        self._client, self._url, self._headers, self._check = client, url, headers, check
        self._reply: Reply | None = None

    async def __aenter__(self) -> Reply:
        client = self._client
        await client._gate.acquire()
        try:
            self._reply = reply = await client.fetch(self._url, self._headers)
            if self._check is not None:
                self._check(reply, self._url)
        except BaseException:
            if self._reply is not None:
                client.release(self._reply)  # its body unread: the connection is closed, not kept
            client._gate.release()
            raise
        return reply

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._reply is not None:
                self._client.release(self._reply)
        finally:
            self._client._gate.release()
