"""aiohttp behind ``http11.Response``: proxies (http, https, socks) and URLs with credentials.

``upstream`` imports this only when such a request comes up: aiohttp's import alone costs a
tenth of a second of CPU, more than a small incremental run spends on its requests. aiohttp's
transfer errors are raised as ``http11`` ones, so retries treat both clients alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import aiohttp

from frumious.errors import UpstreamError
from frumious.http11 import ConnectionFailed, Timeouts


class Session:
    """One aiohttp session, through ``proxy`` when one is set."""

    def __init__(self, *, proxy: str, timeouts: Timeouts, limit: int, user_agent: str) -> None:
        connector: aiohttp.BaseConnector
        self._http_proxy: str | None = None
        if proxy.startswith("socks"):
            from aiohttp_socks import ProxyConnector

            connector = ProxyConnector.from_url(proxy, limit=limit)
        else:
            connector = aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300)
            self._http_proxy = proxy or None
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=timeouts.total, sock_connect=timeouts.connect, sock_read=timeouts.read),
            headers={"User-Agent": user_agent},
            trust_env=True,
            auto_decompress=True,
        )

    async def close(self) -> None:
        await self._session.close()

    @asynccontextmanager
    async def get(self, url: str, headers: Mapping[str, str] | None = None) -> AsyncIterator[_Reply]:
        try:
            async with self._session.get(url, headers=headers, proxy=self._http_proxy) as response:
                yield _Reply(response)
        except TimeoutError:
            raise
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise ConnectionFailed(f"{url}: {exc or type(exc).__name__}") from exc
        except aiohttp.ClientError as exc:  # bad URL, redirect loop, malformed response: not worth a retry
            raise UpstreamError(f"{url}: {exc or type(exc).__name__}") from exc


class _Reply:
    __slots__ = ("_response", "headers", "status", "url")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers
        self.url = str(response.url)

    async def read(self) -> bytes:
        return await self._response.read()

    def iter_chunks(self, size: int) -> AsyncIterator[bytes]:
        return self._response.content.iter_chunked(size)
