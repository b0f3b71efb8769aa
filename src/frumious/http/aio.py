"""aiohttp behind ``http.client.Response``: proxies (http, https, socks) and URLs with credentials.

``upstream`` imports this only when such a request comes up: aiohttp's import alone costs a
tenth of a second of CPU, more than a small incremental run spends on its requests. aiohttp's
transfer errors are raised as the lean client's (``ConnectionFailed``), so retries treat both clients alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiohttp

from frumious.errors import ConnectionFailed, UpstreamError
from frumious.http.budget import Budget, metered
from frumious.http.client import Timeouts
from frumious.protocol.bodies import Collector, decoded, inflater

# Only what ``bodies`` decodes is offered: aiohttp's own decoding has no bound on the output.
ACCEPT_ENCODING = "gzip, deflate"
READ_PIECE = 256 * 1024


class Session:
    """One aiohttp session, through ``proxy`` when one is set, within ``budget``."""

    def __init__(
        self, *, proxy: str, timeouts: Timeouts, limit: int, user_agent: str, budget: Budget | None = None
    ) -> None:
        connector: aiohttp.BaseConnector
        self._http_proxy: str | None = None
        self._budget = budget
        if proxy.startswith("socks"):
            from aiohttp_socks import ProxyConnector

            connector = ProxyConnector.from_url(proxy, limit=limit)
        else:
            connector = aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300)
            self._http_proxy = proxy or None
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=timeouts.total, sock_connect=timeouts.connect, sock_read=timeouts.read),
            headers={"User-Agent": user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            trust_env=True,
            auto_decompress=False,
            trace_configs=[_budgeted(budget)] if budget is not None else None,
        )

    async def close(self) -> None:
        await self._session.close()

    @asynccontextmanager
    async def get(self, url: str, headers: Mapping[str, str] | None = None) -> AsyncIterator[_Reply]:
        if self._budget is not None:
            await self._budget.request()
        try:
            async with self._session.get(url, headers=headers, proxy=self._http_proxy) as response:
                yield _Reply(response, self._budget)
        except TimeoutError:
            raise
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise ConnectionFailed(f"{url}: {exc or type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:  # bad URL, redirect loop, malformed response: not worth a retry
            raise UpstreamError(f"{url}: {exc or type(exc).__name__}") from exc


def _budgeted(budget: Budget) -> aiohttp.TraceConfig:
    """A trace hook that waits for the budget before each redirect aiohttp follows (``get`` waits
    before the first request itself, so that wait does not count against aiohttp's total timeout)."""

    async def wait(session: object, context: object, params: object) -> None:
        await budget.request()

    trace = aiohttp.TraceConfig()
    trace.on_request_redirect.append(wait)
    trace.freeze()
    return trace


class _Reply:
    __slots__ = ("_budget", "_inflate", "_response", "headers", "status", "url")

    def __init__(self, response: aiohttp.ClientResponse, budget: Budget | None = None) -> None:
        self._response, self._budget = response, budget
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers
        self.url = str(response.url)
        self._inflate = inflater(self.url, response.headers, ConnectionFailed)

    async def read(self, limit: int | None = None) -> bytes:
        collector = Collector(self.url, limit)
        if self._response.content_length is not None:
            collector.declared(self._response.content_length)
        async for piece in self.iter_chunks(READ_PIECE):
            collector.add(piece)
        return collector.body()

    def iter_chunks(self, size: int) -> AsyncIterator[bytes]:
        budget = self._budget
        if budget is None:
            return decoded(self._response.content.iter_chunked(size), self._inflate, size)
        pieces = metered(self._response.content.iter_chunked(min(size, budget.piece)), budget)
        return decoded(pieces, self._inflate, size)
