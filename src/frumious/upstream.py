"""The HTTP client for the upstream index: listing, project JSON, file bodies.

Every request retries timeouts, connection errors, 5xx and 429 with exponential
backoff and jitter, honouring ``Retry-After``. Project JSON must carry an
``X-PyPI-Last-Serial`` at least as new as the listing promised (a stale CDN
answer is retried, then reported).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import TypeVar

from frumious.errors import (
    BadUpstreamData,
    BodyTooLarge,
    DecompressionBomb,
    FrumiousError,
    NotFound,
    RetryableStatus,
    StaleMetadata,
    UpstreamError,
)
from frumious.http.client import HTTPClient, Response
from frumious.models import ListingEntry, Project, canonicalize_name
from frumious.protocol import pagelinks, parse
from frumious.protocol.listing import ListingScan
from frumious.stats import Progress

log = logging.getLogger("frumious.upstream")

JSON_LISTING = "application/vnd.pypi.simple.v1+json"
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    stale_attempts: int = 3

    def delay(self, attempt: int) -> float:
        return float(min(self.cap, self.base * 2.0**attempt)) * random.uniform(0.5, 1.0)


@dataclass(frozen=True, slots=True)
class Listing:
    # The whole listing is a ``ListingScan`` (decoded a chunk at a time on each pass; its skipped and
    # invalid entries are known after a pass); a listing asked project by project is a list.
    entries: list[ListingEntry] | ListingScan
    # The root's own serial (meta._last-serial or X-PyPI-Last-Serial), when it gave a valid one.
    serial: int | None
    etag: str | None
    # Listed projects whose serial is invalid: not synced this run, never taken as deleted.
    invalid: tuple[str, ...] = ()
    # Built from per-project pages (allowlist mode): ``serial`` is theirs, not the root's.
    partial: bool = False


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    import time

    return max(0.0, moment.timestamp() - time.time())


class Upstream:
    """The package index at ``master`` (and any file host), fetched through ``client``.

    The composition root chooses the client (``http.choose``: the lean one, or aiohttp for
    proxies and credentials; tests pass ``frumious.testing.memhttp``). ``Upstream`` owns it
    from then on and closes it on exit.
    """

    def __init__(
        self,
        master: str,
        client: HTTPClient,
        *,
        retry: RetryPolicy | None = None,
        max_listing_size: int | None = None,
        max_project_size: int | None = None,
        counters: Progress | None = None,
    ) -> None:
        self.master = master.rstrip("/")
        self.client = client
        # Where requests and retries are counted (the run's live counters, when the caller passes them).
        self.counters = counters or Progress()
        self.retry = retry or RetryPolicy()
        # Bodies read whole are capped (None: no cap); file bodies stop at their advertised size.
        self.max_listing_size, self.max_project_size = max_listing_size, max_project_size

    async def __aenter__(self) -> Upstream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def with_retries(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call``, retrying timeouts and the errors marked ``retryable`` with backoff."""
        for attempt in range(self.retry.attempts):
            try:
                return await call()
            except (FrumiousError, TimeoutError) as exc:
                if isinstance(exc, FrumiousError) and not exc.retryable:
                    raise
                failure: Exception = exc
                delay = self.retry.delay(attempt)
                if isinstance(exc, RetryableStatus) and exc.retry_after is not None:
                    delay = exc.retry_after
            if attempt + 1 < self.retry.attempts:
                self.counters.retries += 1
                log.debug("%s failed (%s); retrying in %.1fs", what, _describe(failure), delay)
                await asyncio.sleep(min(delay, 300.0))
        raise UpstreamError(f"{what}: {_describe(failure)} after {self.retry.attempts} attempts") from failure

    def get(self, url: str, headers: dict[str, str] | None = None) -> _Checked:
        """``async with upstream.get(url) as response``: retryable statuses raise RetryableStatus, 404 NotFound."""
        self.counters.requests += 1
        return _Checked(self.client.get(url, headers), url)

    async def listing(self, etag: str | None = None) -> Listing | None:
        """The PEP 691 listing, or None when ``etag`` still matches (304)."""
        url = f"{self.master}/simple/"
        headers = {"Accept": JSON_LISTING}
        if etag:
            headers["If-None-Match"] = etag

        async def fetch() -> Listing | None:
            async with self.get(url, headers) as response:
                if response.status == 304:
                    return None
                body = await _read(response, self.max_listing_size, "max-listing-size")
                if JSON_LISTING not in response.headers.get("Content-Type", "") and not body.lstrip().startswith(b"{"):
                    raise BadUpstreamData(f"{url} did not answer with a PEP 691 JSON listing")
                header = parse.serial_from_text(response.headers.get("X-PyPI-Last-Serial", ""))
                scan = parse.scan_listing(body, header)
                return Listing(scan, scan.ceiling, response.headers.get("ETag"))

        return await self.with_retries("fetching the project listing", fetch)

    async def listing_of(self, names: Iterable[str], concurrency: int) -> Listing:
        """A listing of just ``names``, from each project's PEP 691 page (no full listing)."""
        gate = asyncio.Semaphore(concurrency)

        async def serial_of(name: str) -> ListingEntry | str | None:
            """The entry; the bare name when the page gives no valid serial; None on a 404."""
            url = f"{self.master}/simple/{name}/"

            async def fetch() -> ListingEntry | str:
                async with self.get(url, {"Accept": JSON_LISTING}) as response:
                    serial = parse.serial_from_text(response.headers.get("X-PyPI-Last-Serial", ""))
                    if serial is None:
                        body = await _read(response, self.max_project_size, "max-project-size")
                        serial = pagelinks.read_page(body, json_page=True, strict=False).serial
                    return name if serial is None else ListingEntry(name, serial)

            async with gate:
                try:
                    return await self.with_retries(f"fetching {url}", fetch)
                except NotFound:
                    return None

        found = await asyncio.gather(*(serial_of(name) for name in sorted(names)))
        entries = [entry for entry in found if isinstance(entry, ListingEntry)]
        invalid = tuple(entry for entry in found if isinstance(entry, str))
        if invalid:
            log.warning("%s", invalid_warning(invalid, None))
        return Listing(entries, max((e.serial for e in entries), default=None), None, invalid, partial=True)

    async def project_page(self, name: str) -> pagelinks.Page | None:
        """A project's PEP 691 page, None on a 404; its serial is ``X-PyPI-Last-Serial``'s, else the page's."""
        url = f"{self.master}/simple/{canonicalize_name(name)}/"

        async def fetch() -> pagelinks.Page:
            async with self.get(url, {"Accept": JSON_LISTING}) as response:
                body = await _read(response, self.max_project_size, "max-project-size")
                page = pagelinks.read_page(body, json_page=True, strict=False)
                header = parse.serial_from_text(response.headers.get("X-PyPI-Last-Serial", ""))
                return page if header is None else replace(page, serial=header)

        try:
            return await self.with_retries(f"fetching {url}", fetch)
        except NotFound:
            return None

    async def project(self, name: str, min_serial: int) -> Project:
        """A project's metadata, at least as new as ``min_serial``."""
        url = f"{self.master}/pypi/{canonicalize_name(name)}/json"

        async def fetch() -> tuple[Project, int | None]:
            async with self.get(url) as response:
                body = await _read(response, self.max_project_size, "max-project-size")
                header = parse.serial_from_text(response.headers.get("X-PyPI-Last-Serial", ""))
                project = parse.parse_project(body, expected=name, base_url=response.url)
                # Mirrors of PyPI often drop the header (and a broken one is no better); the
                # document's own last_serial is then the best word on how fresh it is.
                return project, header if header is not None else project.serial

        for attempt in range(self.retry.stale_attempts):
            project, serial = await self.with_retries(f"fetching {name}", fetch)
            if serial is not None and serial >= min_serial:
                return project
            if attempt + 1 < self.retry.stale_attempts:
                self.counters.retries += 1
                await asyncio.sleep(self.retry.delay(attempt + 1))
        got = "no X-PyPI-Last-Serial header" if serial is None else f"serial {serial}"
        raise StaleMetadata(f"{name}: upstream keeps sending stale metadata ({got}, wanted >= {min_serial})")


class _Checked:
    """The client's ``async with`` plus the status checks every caller needs (a class: one per request)."""

    __slots__ = ("_inner", "_url")

    def __init__(self, inner: AbstractAsyncContextManager[Response], url: str) -> None:
        self._inner, self._url = inner, url

    async def __aenter__(self) -> Response:
        response = await self._inner.__aenter__()
        try:
            _check_status(response, self._url)
        except BaseException as exc:
            await self._inner.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return response

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        return await self._inner.__aexit__(kind, exc, tb)


def _check_status(response: Response, url: str) -> None:
    status = response.status
    if status in RETRY_STATUS:
        raise RetryableStatus(status, url, _retry_after(response.headers.get("Retry-After")))
    if status == 404:
        raise NotFound(f"{url} answered 404")
    if status >= 400:
        raise UpstreamError(f"HTTP {status} from {url}")


def invalid_warning(names: tuple[str, ...], ceiling: int | None) -> str:
    limit = f" (the root's serial is {ceiling})" if ceiling is not None else ""
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    return f"Skipped {len(names)} listed project(s) with an invalid serial{limit}: {shown}"


async def _read(response: Response, limit: int | None, key: str) -> bytes:
    """The whole body, or one line naming the URL and the ``[mirror]`` key that caps it."""
    try:
        return await response.read(limit)
    except DecompressionBomb:
        raise
    except BodyTooLarge as exc:
        raise BodyTooLarge(f"{exc}; raise [mirror] {key} to accept it") from None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
