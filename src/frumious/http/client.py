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
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Protocol
from urllib.parse import urljoin

import msgspec

from frumious.errors import ConnectionFailed, TransportError, Unanswered, UpstreamError
from frumious.http.budget import Budget
from frumious.http.parser import Headers
from frumious.http.target import Key, handles, header_lines
from frumious.http.target import target as url_target
from frumious.http.wire import Connection, Reply, ReplyStarts, read_head

__all__ = ["Client", "HTTPClient", "Headers", "Response", "Timeouts", "handles"]

REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10  # as aiohttp, so both clients follow the same chains
# Requests written ahead on one connection by ``pipelined``; more are written once half are answered.
AHEAD = 16
# A server that takes longer than this to start the next reply after one ends, with that request already
# there, prepares its answers one at a time (a CDN's cache miss: tens of ms): requests written ahead wait
# in line behind each other, where separate connections would have had them prepared at once (300
# projects x 5 files, 10 ms an answer: 6.8 s pipelined against 3.5 s). The pipeline that saw one writes
# no further ahead; once SLOW_GAPS starts, and at least half of those timed, were slow, its origin is
# asked one request at a time for SLOW_FOR (a few slow ones among many: our own loop was busy).
THINKS = 0.005
SLOW_GAPS = 3
SLOW_FOR = 300.0  # seconds an origin found slow is asked one request at a time before it is tried again


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
# ``pipelined``'s consumer: reads reply i's body (whole, or a small error page) and answers whether it took it.
Take = Callable[[int, "Reply"], Awaitable[bool]]


class HTTPClient(Protocol):
    """What ``Upstream`` needs of an HTTP client: GETs, each an ``async with`` of a ``Response``.

    The lean ``Client``, aiohttp's ``Session`` (``aio``), their router (``choose.Clients``) and
    ``frumious.testing.memhttp`` (no sockets) all fit.
    """

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> AbstractAsyncContextManager[Response]: ...

    async def close(self) -> None: ...


class Timeouts(msgspec.Struct, frozen=True):
    connect: float
    read: float  # the longest wait for the next bytes
    total: float  # the whole request, redirects and body included


class Client:
    """Kept-alive connections per host, at most ``limit`` requests in flight, within ``budget``."""

    def __init__(self, *, user_agent: str, timeouts: Timeouts, limit: int, budget: Budget | None = None) -> None:
        self.timeouts = timeouts
        self.budget = budget
        self._gate = asyncio.Semaphore(limit)
        self._idle: dict[Key, list[Connection]] = {}
        self._defaults = {"user-agent": user_agent, "accept": "*/*", "accept-encoding": "gzip, deflate"}
        self._common = header_lines({"User-Agent": user_agent, "Accept": "*/*", "Accept-Encoding": "gzip, deflate"})
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop of the first request (and its pool)
        self._tails: dict[str, bytes] = {}  # the request's bytes after its target, by Host header
        self._origin_keys: dict[str, Key | None] = {}  # ``scheme://netloc`` -> its pool key (``_origin_key``)
        self._ssl: ssl.SSLContext | None = None
        self._closed = False
        # Origins that stalled, dropped or redirected a request written ahead: asked one request at a time
        # from then on; those slow to start replies (``THINKS``), until ``_slow_until``.
        self._one_at_a_time: set[Key] = set()
        self._starts: dict[Key, tuple[int, int]] = {}  # replies' starts timed, and how many were slow
        self._slow_until: dict[Key, float] = {}

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
        key, host, target = url_target(url)
        request = self._request(host, target, headers)
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

    def _request(self, host: str, target: str, headers: Mapping[str, str] | None) -> bytes:
        if headers:
            return f"GET {target} HTTP/1.1\r\nHost: {host}\r\n{self._merged(headers)}\r\n".encode("latin-1")
        return self._plain_request(host, target)

    def _plain_request(self, host: str, target: str) -> bytes:
        """A GET without headers of its own: all but the target is the same for every request to this host."""
        tail = self._tails.get(host)
        if tail is None:
            tail = self._tails[host] = f" HTTP/1.1\r\nHost: {host}\r\n{self._common}\r\n".encode("latin-1")
        return b"GET " + target.encode("latin-1") + tail

    def pipelines(self, url: str) -> bool:
        """Whether ``pipelined`` may write ``url`` ahead: its URL, an origin that has not stalled, no byte limits."""
        if self.budget is not None:
            return False
        key = self._origin_key(url)
        return key is not None and key not in self._one_at_a_time and time.monotonic() >= self._slow_until.get(key, 0.0)

    def _origin_key(self, url: str) -> Key | None:
        """The pool key of ``url`` (None: not a URL this client takes), parsed once an origin.

        Asked for each file a new project's fetch may pipeline: its scheme, host and port are all
        that decide, and parsing the whole URL each time was about 1 us of a file's CPU.
        """
        scheme_end = url.find("://")
        cut = url.find("/", scheme_end + 3) if scheme_end >= 0 else -1
        origin = url if cut < 0 else url[:cut]
        if origin in self._origin_keys:
            return self._origin_keys[origin]
        key = url_target(origin)[0] if handles(origin) else None
        if len(self._origin_keys) >= 256:  # an upstream naming many hosts: forgotten, not grown without end
            self._origin_keys.clear()
        self._origin_keys[origin] = key
        return key

    async def pipelined(self, urls: Sequence[str], take: Take, headers: Mapping[str, str] | None = None) -> int:
        """GETs of ``urls`` (one origin) on one connection, each written before the replies ahead of it arrive.

        HTTP/1.1 pipelining: a server answers in order (RFC 9112, 9.3.2). ``take(i, reply)`` reads reply
        ``i``'s body (whole, or a small error page to its end) and answers whether it took it. This goes
        on past a refused reply read to its end and stops at one that was not, a reply that closes the
        connection, a transport fault or a timeout; it returns how many replies were taken: the caller
        fetches the rest one at a time (``get``, with its retries). An origin that stalls, drops or
        redirects a request written ahead is not pipelined to again; one slow to start replies, for a while.
        ``headers`` go with every request (a page's ``Accept``).
        """
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        if not urls:
            return 0
        targets = [url_target(url) for url in urls]
        key = targets[0][0]
        if any(t[0] != key for t in targets) or not self.pipelines(urls[0]):
            return 0
        requests = [self._request(host, target, headers) for _key, host, target in targets]
        await self._gate.acquire()
        try:
            return await self._pipeline(loop, key, urls, requests, take)
        finally:
            self._gate.release()

    async def _pipeline(
        self, loop: asyncio.AbstractEventLoop, key: Key, urls: Sequence[str], requests: list[bytes], take: Take
    ) -> int:
        conn = self._idle_connection(key, loop.time())
        try:
            if conn is None:
                conn = await self._connect(loop, key, loop.time() + self.timeouts.total)
        except (TransportError, TimeoutError):
            return 0  # each file asked on its own, with that path's retries
        starts = ReplyStarts(conn)
        done = sent = taken = 0  # replies read, requests written, replies taken
        reply: Reply | None = None
        try:
            while done < len(urls):
                if starts.ahead and sent < len(urls) and sent - done <= AHEAD // 2:
                    assert conn.transport is not None
                    upto = min(len(urls), done + AHEAD)
                    conn.transport.write(b"".join(requests[sent:upto]))
                    starts.wrote(loop.time(), upto - sent)
                    sent = upto
                if done == sent:
                    break  # it stopped writing ahead: the rest go one at a time, each on a connection
                deadline = loop.time() + self.timeouts.total
                try:
                    head = await read_head(conn, deadline, urls[done])
                    reply = Reply(conn, urls[done], head, deadline, None)
                except (TransportError, TimeoutError):
                    if done:  # it answered earlier ones on this connection, then not this one
                        self._one_at_a_time.add(key)
                    break
                self._started(key, starts, done)
                if reply.status in REDIRECTS:  # files elsewhere: each would be asked ahead, then again
                    self._one_at_a_time.add(key)
                    break
                taken += await take(done, reply)
                done += 1
                if not reply.kept():
                    break  # a body not read to its end, or "Connection: close" (a server's limit): the rest anew
                starts.ended()
        except BaseException:
            conn.abort()
            raise
        if done == sent and reply is not None and reply.kept():  # every request written was answered
            conn.stamping = conn.watch = False
            self.release(reply)
        else:
            conn.abort()  # replies to requests already written may still come: the connection is not reusable
        return taken

    def _started(self, key: Key, starts: ReplyStarts, index: int) -> None:
        """Reply ``index`` began: a slow start ends writing ahead, and enough of them the origin's pipelines."""
        gap = starts.gap(index)
        if gap is None:
            return
        seen, slow = self._starts.get(key, (0, 0))
        seen, slow = seen + 1, slow + (gap > THINKS)
        self._starts[key] = (seen, slow)
        if gap > THINKS:
            starts.ahead = False
            if slow >= SLOW_GAPS and 2 * slow >= seen:  # mostly slow, not a busy moment of our own loop
                self._slow_until[key] = time.monotonic() + SLOW_FOR
                self._starts[key] = (0, 0)

    def _merged(self, headers: Mapping[str, str]) -> str:
        given = {name.lower() for name in headers}
        defaults = {name: value for name, value in self._defaults.items() if name not in given}
        return header_lines(defaults) + header_lines(headers)

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
