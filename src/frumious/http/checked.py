"""A request whose status is checked on the way in: retryable statuses, 404 and other errors as exceptions.

``Checked`` wraps a client's ``async with client.get(...)``: 429 and 5xx raise ``RetryableStatus``
(with ``Retry-After`` in seconds, from either of its forms), 404 ``NotFound``, any other status
from 400 ``UpstreamError``. The upstream's retry loop reads those marks.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from contextlib import AbstractAsyncContextManager
from types import TracebackType

from frumious.errors import NotFound, RetryableStatus, UpstreamError
from frumious.http.client import Response

__all__ = ["RETRY_STATUS", "SKIM", "SKIM_SECONDS", "Checked", "check_status", "retry_after", "skim"]

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
# A body not needed is still read up to this size (as sent): a dropped connection costs the next
# request a new TCP and TLS handshake, 2-3 round trips, where 256 KB take less than one at 100 Mbit/s.
SKIM = 256 * 1024
# ... and for at most this long: a body that trickles in is dropped, not waited for.
SKIM_SECONDS = 1.0


def retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime  # a dated Retry-After only: the email package is 3-5 ms of start-up

    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


class Checked:
    """The client's ``async with`` plus the status checks every caller needs (a class: one per request)."""

    __slots__ = ("_inner", "_url")

    def __init__(self, inner: AbstractAsyncContextManager[Response], url: str) -> None:
        self._inner, self._url = inner, url

    async def __aenter__(self) -> Response:
        response = await self._inner.__aenter__()
        try:
            check_status(response, self._url)
        except BaseException as exc:
            await self._inner.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        return response

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        return await self._inner.__aexit__(kind, exc, tb)


def check_status(response: Response, url: str) -> None:
    status = response.status
    if status in RETRY_STATUS:
        raise RetryableStatus(status, url, retry_after(response.headers.get("Retry-After")))
    if status == 404:
        raise NotFound(f"{url} answered 404")
    if status >= 400:
        raise UpstreamError(f"HTTP {status} from {url}")


async def skim(response: Response) -> None:
    """Read a small body the caller does not need so its connection serves the next request.

    A body without a length, over ``SKIM`` bytes, on a connection the server closes anyway, or
    not whole within ``SKIM_SECONDS`` is left (the connection is dropped), and so is one that
    fails on its way, whichever client's error that is: the caller already has what it came for.
    """
    length = response.headers.get("Content-Length", "")
    if not length.isdigit() or int(length) > SKIM or response.headers.get("Connection", "").lower() == "close":
        return
    with contextlib.suppress(Exception):  # a cancellation still goes through
        async with asyncio.timeout(SKIM_SECONDS):
            await response.read(4 * SKIM)  # decoded: a gzipped page grows, a bomb stops here
