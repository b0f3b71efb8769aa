"""A run's project pages asked for ahead of its workers, on one connection (HTTP/1.1 pipelining).

The workers take the queue's entries in order; ``PagesAhead`` stands between them and the queue.
It draws the next ``WINDOW`` entries, writes the GETs of their pages on one kept-alive connection
before the replies arrive (``Client.pipelined``), and leaves each answer where ``Upstream._page``
takes it (``Upstream.ahead``), so a worker finds its project's page read, or waits for it. Every
answer goes through ``_page``'s checks as one fetched there would (a stale serial is asked
again); an error status is raised there as if the worker had asked (a 404 is a 404, a 429 waits
its ``Retry-After``, and no page is asked ahead after a 429 or 5xx); a reply not taken (a body
over ``max-project-size``, a fault) leaves its page to the usual request with its retries. The
next window is drawn once the workers are half-way through this one: at most 1.5 windows of
pages are held.

Why: a page asked on its own is a request written, the server woken and the reply awaited: the
kernel's loopback send path was 4 % of a full sync's CPU (2,000 projects of five 20 KB files,
``perf``). Asked ahead, such a sync spent 0.945 of the CPU (``cpu_ab.py``, 8 rounds), and against an
index 10 ms away 0.57 of the wall (benchmarks/README.md, "Issue 12 (session 9)").

Only where a page is asked unconditionally (the upstream gives serials), from the simple API
(not Warehouse JSON), by the lean client to an origin it pipelines to; never for a project the
run reads from its stored copy or that the listing already read.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterator

from frumious.errors import FrumiousError, RetryableStatus, UpstreamError
from frumious.http.checked import check_status
from frumious.http.choose import Clients
from frumious.http.wire import Reply
from frumious.models import ListingEntry, canonicalize_name
from frumious.protocol import parse
from frumious.upstream import ACCEPT_PAGE, PageAnswer, Upstream

log = logging.getLogger("frumious.pagesahead")

# Pages drawn at a time: the client writes up to 16 requests ahead (``http.client.AHEAD``).
WINDOW = 32
_HEADERS = {"Accept": ACCEPT_PAGE}

Entries = Iterator[tuple[int, ListingEntry]]


def pipelines_pages(upstream: Upstream) -> bool:
    """Whether this run's pages may be asked ahead: serials, simple pages, the lean client to that origin."""
    client = upstream.client
    return (
        upstream.serials
        and upstream.pages_read
        and isinstance(client, Clients)
        and client.pipelines(f"{upstream.simple}/")
    )


class PagesAhead:
    """The queue's entries for the workers (an iterator), their pages asked for ahead by ``run``."""

    def __init__(self, upstream: Upstream, entries: Entries, skip: Callable[[str], bool], workers: int) -> None:
        self._upstream, self._entries, self._skip = upstream, entries, skip
        self._working = workers  # the workers taking entries; ``run`` ends with the last of them
        self._drawn: deque[tuple[int, ListingEntry]] = deque()
        self._drained = asyncio.Event()  # the workers took half of what was drawn
        self._ended = False
        self._asking = True  # until the index answers a page with 429 or 5xx

    def __iter__(self) -> PagesAhead:
        return self

    def __next__(self) -> tuple[int, ListingEntry]:
        item = self._drawn.popleft() if self._drawn else next(self._entries)
        if len(self._drawn) <= WINDOW // 2:
            self._drained.set()
        return item

    def worker_done(self) -> None:
        """A worker takes no more entries; after the last one ``run`` returns once the window in flight is read."""
        self._working -= 1
        if not self._working:
            self._ended = True
            self._drained.set()

    async def run(self) -> None:
        """Draw and ask for windows of pages until the queue or the workers end."""
        while not self._ended:
            window = [item for _, item in zip(range(WINDOW), self._entries, strict=False)]
            if not window:
                return
            self._drawn.extend(window)
            if self._asking and pipelines_pages(self._upstream):
                await self._ask([entry.name for _, entry in window])
            # Not cleared before a wait that ``worker_done`` already answered: stop-on-error leaves entries
            # drawn that no worker will take, and waiting for them hung the run (review, session 9).
            while len(self._drawn) > WINDOW // 2 and not self._ended:
                self._drained.clear()
                await self._drained.wait()

    def forget(self) -> None:
        """Drop the answers no worker came for (the run stopped early): the queue is done with.

        ``_page`` takes each answer out of ``Upstream.ahead``: what is left there is what no worker took.
        (Remembering the names asked instead grew by 23 MiB over 350,000 projects.)
        """
        ahead = self._upstream.ahead
        for future in ahead.values():
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: an error no worker came for is not logged as lost
        ahead.clear()

    async def _ask(self, names: list[str]) -> None:
        upstream = self._upstream
        canonical = dict.fromkeys(canonicalize_name(name) for name in names)  # a name twice: asked once
        wanted = [c for c in canonical if not self._skip(c) and c not in upstream.ahead and c not in upstream.held]
        if not wanted:
            return
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in wanted]
        upstream.ahead.update(zip(wanted, futures, strict=True))

        async def take(i: int, reply: Reply) -> bool:
            upstream.counters.requests += 1
            try:
                if reply.status != 200:
                    await reply.drain()
                    return refused(i, reply)
                body = await reply.read(upstream.max_project_size)
            except (FrumiousError, TimeoutError, OSError):
                return False  # the page is asked again on its own, where each error has its handling
            header = parse.serial_from_text(reply.headers.get("X-PyPI-Last-Serial") or "")
            kind = reply.headers.get("Content-Type") or ""
            if not futures[i].done():  # a worker gone (cancelled) leaves its future done
                futures[i].set_result(PageAnswer(body, kind, reply.url, reply.headers.get("ETag"), header))
            return True

        def refused(i: int, reply: Reply) -> bool:
            """An error status, raised where the worker asks as if it had asked alone (a 404 is a 404, a 429
            waits its Retry-After); after a 429 or 5xx no page is asked ahead."""
            try:
                check_status(reply, reply.url)
            except UpstreamError as status:
                if not futures[i].done():
                    futures[i].set_exception(status)
                self._asking = self._asking and not isinstance(status, RetryableStatus)
                return True
            return False

        client = upstream.client
        assert isinstance(client, Clients)
        try:
            await client.pipelined([f"{upstream.simple}/{c}/" for c in wanted], take, _HEADERS)
        except Exception as exc:  # a fault of the asking ahead: the workers ask, one page at a time
            log.warning("asking for pages ahead stopped: %s", exc)
            self._asking = False
        finally:
            for future in futures:
                if not future.done():
                    future.set_result(None)
