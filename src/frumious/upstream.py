"""The HTTP client for the upstream index: listing, project pages (or Warehouse JSON), file bodies.

Every request retries timeouts, connection errors, 5xx and 429 with exponential
backoff and jitter, honouring ``Retry-After``. A project is read from its PEP 691 page
(PEP 503 HTML when that is all the index offers), or from Warehouse's ``/pypi/<name>/json``
when that is wanted (``JsonUse``). Either must carry a serial (``X-PyPI-Last-Serial``, else
the page's own) at least as new as the listing promised (a stale CDN answer is retried, then
reported), unless the upstream gives no serials at all: then each page is asked for
conditionally (its ETag) and compared by digest, and an unchanged one is ``Fetched.unchanged``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import TypeVar

import msgspec

from frumious.errors import (
    FrumiousError,
    NotFound,
    RetryableStatus,
    StaleMetadata,
    UpstreamError,
)
from frumious.http import spool
from frumious.http.checked import Checked, skim
from frumious.http.choose import Clients
from frumious.http.client import HTTPClient, Response
from frumious.models import ListingEntry, Project, canonicalize_name, replace
from frumious.protocol import pagelinks, parse, simple691
from frumious.protocol.jsonuse import JsonMissing, JsonUse
from frumious.protocol.listing import ListingScan
from frumious.stats import Progress

log = logging.getLogger("frumious.upstream")

JSON_LISTING = "application/vnd.pypi.simple.v1+json"
# One request for either form: PEP 691 JSON first, PEP 503 HTML (PEP 691's or plain text/html) after it.
ACCEPT_PAGE = f"{JSON_LISTING}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
# Marks a listing ETag kept for an upstream without serials: its 304 still means asking every page.
NO_SERIALS = "no-serials "
T = TypeVar("T")


class RetryPolicy(msgspec.Struct, frozen=True):
    attempts: int = 5
    base: float = 0.5
    cap: float = 30.0
    stale_attempts: int = 3

    def delay(self, attempt: int) -> float:
        return float(min(self.cap, self.base * 2.0**attempt)) * random.uniform(0.5, 1.0)


class Listing(msgspec.Struct, frozen=True):
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
    # False when upstream gives no serials at all: every entry is at 0 and pages are compared instead.
    serials: bool = True


class Fetched(msgspec.Struct, frozen=True):
    """A project as fetched: ``project`` None when its page is unchanged since the validators sent."""

    project: Project | None
    # The page's ETag and sha256, kept to ask next time (None for JSON; the digest None with serials).
    etag: str | None = None
    digest: str | None = None

    @property
    def unchanged(self) -> bool:
        return self.project is None


class PageAnswer(msgspec.Struct, frozen=True):
    """A project page's answer as read: what ``_page`` interprets, now or later in the run."""

    body: bytes
    content_type: str
    url: str
    etag: str | None
    header: int | None  # X-PyPI-Last-Serial, when valid


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
        json_use: JsonUse = JsonUse.NO,
        needs_json: str = "",
        index_url: str = "",
    ) -> None:
        self.master = master.rstrip("/")
        # The simple index: ``[mirror] index-url`` where the upstream keeps it elsewhere (devpi, PyTorch).
        self.simple = index_url.rstrip("/") or f"{self.master}/simple"
        self.json_use, self.needs_json = json_use, needs_json
        # Learned on the way: whether /pypi/ answered once, whether it is missing, whether serials exist.
        self.json_seen = self.json_missing = False
        self.serials = True
        self.client = client
        self._checking = client if isinstance(client, Clients) else None
        # A body not needed is read to keep its connection, unless a byte limit would make the run wait for it.
        self._skims = self._checking is None or not self._checking.meters_bytes
        # Where requests and retries are counted (the run's live counters, when the caller passes them).
        self.counters = counters or Progress()
        self.retry = retry or RetryPolicy()
        # Bodies read whole are capped (None: no cap); file bodies stop at their advertised size.
        self.max_listing_size, self.max_project_size = max_listing_size, max_project_size
        # Pages ``listing_of`` read that the run will sync: ``_page`` takes each once instead of asking again.
        self.held: dict[str, PageAnswer] = {}
        # Pages asked for ahead of the workers (``pagesahead``), by canonical name: the answer, an error
        # status's exception (``check_status``'s), or None: asked again here.
        self.ahead: dict[str, asyncio.Future[PageAnswer | None]] = {}

    async def __aenter__(self) -> Upstream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def with_retries(self, what: str, call: Callable[[], Awaitable[T]], failed: Exception | None = None) -> T:
        """Run ``call``, retrying timeouts and the errors marked ``retryable`` with backoff.

        ``failed``: the caller made the first attempt itself and it raised this retryable error (a
        download builds this call only then); the attempts left follow as if made here.
        """
        for attempt in range(self.retry.attempts):
            if attempt or failed is None:
                try:
                    return await call()
                except (FrumiousError, TimeoutError) as exc:
                    if isinstance(exc, FrumiousError) and not exc.retryable:
                        raise
                    failed = exc
            failure: Exception = failed
            delay = self.retry.delay(attempt)
            if isinstance(failure, RetryableStatus) and failure.retry_after is not None:
                delay = failure.retry_after
            if attempt + 1 < self.retry.attempts:
                self.counters.retries += 1
                log.debug("%s failed (%s); retrying in %.1fs", what, _describe(failure), delay)
                await asyncio.sleep(min(delay, 300.0))
        raise UpstreamError(f"{what}: {_describe(failure)} after {self.retry.attempts} attempts") from failure

    def get(self, url: str, headers: dict[str, str] | None = None) -> AbstractAsyncContextManager[Response]:
        """``async with upstream.get(url) as response``: retryable statuses raise RetryableStatus, 404 NotFound."""
        self.counters.requests += 1
        if self._checking is not None:  # the run's client checks the status itself: one context manager, not two
            return self._checking.get(url, headers, checked=True)
        return Checked(self.client.get(url, headers), url)

    async def listing(self, etag: str | None = None) -> Listing | None:
        """The listing (PEP 691 JSON, else a PEP 503 HTML root), or None when ``etag`` still matches (304)."""
        url = f"{self.simple}/"
        headers = {"Accept": ACCEPT_PAGE}
        if etag:
            headers["If-None-Match"] = etag.removeprefix(NO_SERIALS)

        async def fetch() -> Listing | None:
            async with self.get(url, headers) as response:
                if response.status == 304:
                    self.serials = not (etag or "").startswith(NO_SERIALS)
                    return None
                with spool.limit_named("max-listing-size"):
                    body = await spool.read_spooled(response, self.max_listing_size)
                found = None
                try:
                    found = self._listing(response, body)
                    return found
                finally:
                    if found is None or not isinstance(found.entries, ListingScan) or found.entries.body is not body:
                        spool.close(body)  # a big listing's map lives as long as its scan (to the plan's end)

        return await self.with_retries("fetching the project listing", fetch)

    def _listing(self, response: Response, body: spool.Body) -> Listing:
        tag, headers = response.headers.get("ETag"), response.headers
        header = parse.serial_from_text(headers.get("X-PyPI-Last-Serial", ""))
        found = simple691.read_root(body, spool.head(body), headers.get("Content-Type", ""), header)
        return self._no_serials(found, tag) if isinstance(found, list) else Listing(found, found.ceiling, tag)

    def _no_serials(self, names: list[str], etag: str | None) -> Listing:
        """An upstream that gives no serial at all (many private indexes): its pages are compared instead."""
        self.serials = False
        entries = [ListingEntry(name, 0) for name in names]
        return Listing(entries, None, NO_SERIALS + etag if etag else None, serials=False)

    async def listing_of(self, names: Iterable[str], concurrency: int, since: int = 0) -> Listing:
        """A listing of just ``names``, from each project's page (no full listing).

        The pages newer than ``since`` (the mirror's serial) are the ones the run syncs: they are held
        (``held``) so that each costs one request, not one for its serial and another to sync it.
        """
        gate = asyncio.Semaphore(concurrency)

        async def serial_of(name: str) -> ListingEntry | str | None:
            """The entry; the bare name when the page gives no valid serial; None on a 404."""
            url = f"{self.simple}/{name}/"

            async def fetch() -> ListingEntry | str:
                async with self.get(url, {"Accept": ACCEPT_PAGE}) as response:
                    header = parse.serial_from_text(response.headers.get("X-PyPI-Last-Serial", ""))
                    if header is not None and (header <= since or not self.pages_read):
                        if self._skims:  # not synced from this body; read, it keeps the connection
                            await skim(response)
                        return ListingEntry(name, header)
                    answer = await self._answer(response, header)
                serial = header
                if serial is None:
                    json_page = simple691.is_json(answer.content_type, answer.body)
                    serial = pagelinks.read_page(answer.body, json_page=json_page, strict=False).serial
                if self.pages_read and (serial is None or serial > since):
                    self.held[canonicalize_name(name)] = answer
                return name if serial is None else ListingEntry(name, serial)

            async with gate:
                try:
                    return await self.with_retries(f"fetching {url}", fetch)
                except NotFound:
                    return None

        found = await asyncio.gather(*(serial_of(name) for name in sorted(names)))
        entries = [entry for entry in found if isinstance(entry, ListingEntry)]
        invalid = tuple(entry for entry in found if isinstance(entry, str))
        if invalid and not entries:
            # Not one page gives a serial: an upstream without serials, whose pages are compared instead.
            self.serials = False
            return Listing([ListingEntry(name, 0) for name in invalid], None, None, partial=True, serials=False)
        if invalid:
            log.warning("%s", invalid_warning(invalid, None))
        return Listing(entries, max((e.serial for e in entries), default=None), None, invalid, partial=True)

    async def project_page(self, name: str) -> pagelinks.Page | None:
        """A project's PEP 691 page, None on a 404; its serial is ``X-PyPI-Last-Serial``'s, else the page's."""
        url = f"{self.simple}/{canonicalize_name(name)}/"

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
        fetched = await self.fetch(name, min_serial)
        assert fetched.project is not None  # nothing known was sent: never unchanged
        return fetched.project

    async def fetch(self, name: str, min_serial: int, known: tuple[str | None, str | None] = (None, None)) -> Fetched:
        """A project at least as new as ``min_serial``: from Warehouse JSON when wanted, else its page.

        ``known`` (the page's ETag and sha256 from last time) makes a page request conditional; an
        unchanged page is ``Fetched(None)``. Raises NotFound when the project is gone.
        """
        if self.pages_read:
            return await self._page(name, min_serial, known)
        try:
            project = await self._warehouse(name, min_serial)
        except NotFound:
            if self.json_seen or self.json_missing:
                raise
            # The first 404: is the project gone, or has this upstream no /pypi/ at all? Its page says.
            fetched = await self._page(name, min_serial, (None, None))
            if fetched.project is None or not fetched.project.files:
                raise
            self._json_missing()
            return fetched
        self.json_seen = True
        return Fetched(project)

    @property
    def pages_read(self) -> bool:
        """Whether projects are read from their pages (not Warehouse JSON) as far as is known yet."""
        return self.json_use is JsonUse.NO or self.json_missing

    def _json_missing(self) -> None:
        if self.json_use is JsonUse.REQUIRED:
            raise JsonMissing(
                f"{self.needs_json} needs Warehouse's JSON API, which the upstream {self.master} does not offer"
                f" ({self.master}/pypi/<name>/json answers 404): remove it or choose an upstream that has it"
            )
        if not self.json_missing:
            log.warning(
                "json = true: the upstream %s has no Warehouse JSON API (/pypi/<name>/json answers 404);"
                " no JSON is saved, projects are read from their pages",
                self.master,
            )
        self.json_missing = True

    async def _answer(self, response: Response, header: int | None) -> PageAnswer:
        body = await _read(response, self.max_project_size, "max-project-size")
        kind = response.headers.get("Content-Type", "")
        return PageAnswer(body, kind, response.url, response.headers.get("ETag"), header)

    async def _page(self, name: str, min_serial: int, known: tuple[str | None, str | None]) -> Fetched:
        canonical = canonicalize_name(name)
        url = f"{self.simple}/{canonical}/"
        etag, digest = known
        headers = {"Accept": ACCEPT_PAGE}
        if etag:
            headers["If-None-Match"] = etag

        async def fetch() -> tuple[Fetched, int | None]:
            # A page the listing read is used once; a stale one is asked for again (the next attempt).
            answer = self.held.pop(canonical, None)
            coming = self.ahead.pop(canonical, None) if answer is None else None
            if coming is not None:
                answer = await coming  # or the error status it answered, raised as if asked here
            if answer is None:
                async with self.get(url, headers) as response:
                    if response.status == 304:
                        return Fetched(None, etag, digest), None
                    header = parse.serial_from_text(response.headers.get("X-PyPI-Last-Serial", ""))
                    answer = await self._answer(response, header)
            sha256 = hashlib.sha256(answer.body).hexdigest() if digest is not None or not self.serials else None
            if digest is not None and sha256 == digest:
                return Fetched(None, answer.etag or etag, digest), None
            json_page = simple691.is_json(answer.content_type, answer.body)
            page = simple691.read_project_page(
                answer.body, json_page=json_page, expected=name, base_url=answer.url, serial=answer.header
            )
            if page.unversioned:
                shown = ", ".join(page.unversioned[:5])
                log.warning(
                    "%s: left out %d file(s) whose version cannot be told: %s", name, len(page.unversioned), shown
                )
            return Fetched(page.project, answer.etag, sha256), page.serial

        if not self.serials:
            # No serials anywhere: any answer is current; the project takes the run's serial.
            fetched, _ = await self.with_retries(f"fetching {url}", fetch)
            if fetched.project is not None:
                fetched = replace(fetched, project=replace(fetched.project, serial=min_serial))
            return fetched
        return await self._fresh(name, lambda: self.with_retries(f"fetching {url}", fetch), min_serial)

    async def _warehouse(self, name: str, min_serial: int) -> Project:
        url = f"{self.master}/pypi/{canonicalize_name(name)}/json"

        async def fetch() -> tuple[Project, int | None]:
            async with self.get(url) as response:
                body = await _read(response, self.max_project_size, "max-project-size")
                header = parse.serial_from_text(response.headers.get("X-PyPI-Last-Serial", ""))
                project = parse.parse_project(body, expected=name, base_url=response.url)
                # Mirrors of PyPI often drop the header (and a broken one is no better); the
                # document's own last_serial is then the best word on how fresh it is.
                return project, header if header is not None else project.serial

        fetched = await self._fresh(name, lambda: self.with_retries(f"fetching {name}", fetch), min_serial)
        return fetched

    async def _fresh(self, name: str, call: Callable[[], Awaitable[tuple[T, int | None]]], min_serial: int) -> T:
        """``call``'s answer once its serial reaches ``min_serial`` (a stale CDN copy is asked again)."""
        for attempt in range(self.retry.stale_attempts):
            answer, serial = await call()
            if serial is not None and serial >= min_serial:
                return answer
            if attempt + 1 < self.retry.stale_attempts:
                self.counters.retries += 1
                await asyncio.sleep(self.retry.delay(attempt + 1))
        got = "no X-PyPI-Last-Serial header" if serial is None else f"serial {serial}"
        raise StaleMetadata(f"{name}: upstream keeps sending stale metadata ({got}, wanted >= {min_serial})")


def invalid_warning(names: tuple[str, ...], ceiling: int | None) -> str:
    limit = f" (the root's serial is {ceiling})" if ceiling is not None else ""
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    return f"Skipped {len(names)} listed project(s) with an invalid serial{limit}: {shown}"


async def _read(response: Response, limit: int | None, key: str) -> bytes:
    """The whole body, or one line naming the URL and the ``[mirror]`` key that caps it."""
    with spool.limit_named(key):
        return await response.read(limit)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]
