"""``http.checked.skim`` as an allowlist run uses it: a current page's body is read only when that is cheap.

``Upstream.listing_of`` learns a page's serial from its head; a body it does not need is read
(``skim``) so the connection serves the next page, but never at the cost of the run: a body cut
short is not asked for again, and one that trickles in is left after ``SKIM_SECONDS``. Both clients:
the lean one and aiohttp (a proxy or ``.netrc``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from frumious.http import checked
from frumious.http.choose import Clients
from frumious.http.client import Client, Timeouts
from frumious.models import ListingEntry
from frumious.upstream import RetryPolicy, Upstream

HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.pypi.simple.v1+json\r\n"
    b"X-PyPI-Last-Serial: 5\r\nContent-Length: 100\r\n\r\n"
)
TIMEOUTS = Timeouts(connect=5.0, read=5.0, total=30.0)
Handler = Callable[[asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(body: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A server on 127.0.0.1 answering each request with ``HEAD``, then ``body(writer)``; its URL and hit count."""
    hits = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            hits[0] += 1
            writer.write(HEAD)
            await body(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", hits
    finally:
        server.close()


def clients(kind: str) -> Clients:
    first = Client(user_agent="test/1", timeouts=TIMEOUTS, limit=2) if kind == "lean" else None
    return Clients(first, proxy="", timeouts=TIMEOUTS, connections=2, user_agent="test/1")


@pytest.mark.parametrize("kind", ["lean", "aiohttp"])
async def test_a_current_page_cut_short_is_not_asked_for_again(kind: str) -> None:
    async def cut_short(writer: asyncio.StreamWriter) -> None:
        writer.write(b"{" * 10)  # 10 of the 100 bytes, then the connection closes
        await writer.drain()

    retry = RetryPolicy(attempts=3, base=0.0, cap=0.0)
    async with serving(cut_short) as (url, hits), Upstream(url, clients(kind), retry=retry) as up:
        listing = await up.listing_of(["foo"], 1, since=10)
    assert list(listing.entries) == [ListingEntry("foo", 5)]
    assert hits == [1]  # its serial was in the head: the broken body is nobody's error


@pytest.mark.parametrize("kind", ["lean", "aiohttp"])
async def test_a_current_page_that_trickles_in_is_left(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checked, "SKIM_SECONDS", 0.05)
    sent = [0]

    async def trickle(writer: asyncio.StreamWriter) -> None:
        for _ in range(100):  # a byte every 20 ms: two seconds for the whole body
            writer.write(b" ")
            await writer.drain()
            sent[0] += 1
            await asyncio.sleep(0.02)

    async with serving(trickle) as (url, _hits), Upstream(url, clients(kind)) as up:
        listing = await up.listing_of(["foo"], 1, since=10)
        left_at = sent[0]
    assert list(listing.entries) == [ListingEntry("foo", 5)]
    assert left_at < 100  # the run went on before the body was whole
