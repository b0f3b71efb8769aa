"""Stream a file to the store, hashing as it goes; nothing is visible unverified.

Also the "is the stored copy current?" check for ``compare-method`` hash and
stat. The check always compares like with like: a local ``md5`` against the
upstream ``md5`` (bandersnatch compared it to the sha256 and re-downloaded
every file forever).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from frumious.errors import (
    BodyMismatch,
    DownloadError,
    FrumiousError,
    NotFound,
    ShortBody,
    UpstreamError,
    ends_run,
)
from frumious.settings import CompareMethod
from frumious.storage.base import Store
from frumious.upstream import Upstream

if TYPE_CHECKING:
    from hashlib import _Hash as Hash

log = logging.getLogger("frumious.download")

CHUNK = 256 * 1024
# Files arriving in chunks this large are hashed on a worker thread, BATCH bytes per hand-off;
# below it the hand-off costs more than it saves.
OFFLOAD = 64 * 1024
BATCH = 1 << 20


@dataclass(frozen=True, slots=True)
class Wanted:
    """What a stored object must be: its size (None when unknown), digests and upload time."""

    key: str
    urls: Sequence[str]
    size: int | None
    digests: Mapping[str, str]
    mtime: float | None
    # The most bytes a body of unknown size may have (a .metadata sidecar): None for no cap.
    cap: int | None = None

    def expected(self, preferred: str) -> tuple[str, str]:
        """The digest to verify against: sha256 when upstream gave it, else the preferred one."""
        for algorithm in ("sha256", preferred, *sorted(self.digests)):
            if self.digests.get(algorithm):
                return algorithm, self.digests[algorithm].lower()
        raise DownloadError(f"{self.key}: upstream gave no digest to verify it against")


async def is_current(store: Store, wanted: Wanted, method: CompareMethod, digest_name: str) -> bool:
    info = await store.stat(wanted.key)
    if info is None or (wanted.size is not None and info.size != wanted.size):
        return False
    stat_mode = method is CompareMethod.STAT and wanted.mtime is not None and info.mtime is not None
    if stat_mode and abs(info.mtime - wanted.mtime) < 1e-3:  # type: ignore[operator]
        return True
    algorithm = digest_name if wanted.digests.get(digest_name) else wanted.expected(digest_name)[0]
    expected = wanted.digests[algorithm].lower()
    recorded = info.digests.get(algorithm)
    actual = recorded if recorded else await store.digest(wanted.key, algorithm)
    if actual is None or actual.lower() != expected:
        return False
    if not recorded or (method is CompareMethod.STAT and info.mtime != wanted.mtime):
        # Right content: record what we learned (upload time on the filesystem,
        # digest metadata on object stores) so the next check is one stat.
        await store.set_meta(wanted.key, mtime=wanted.mtime, digests=_record(wanted, digest_name, actual))
    return True


def _record(wanted: Wanted, digest_name: str, actual: str) -> dict[str, str]:
    recorded = {digest_name: actual}
    if wanted.digests.get("sha256"):
        recorded["sha256"] = wanted.digests["sha256"].lower()
    return recorded


async def download(upstream: Upstream, store: Store, wanted: Wanted, digest_name: str) -> int:
    """Fetch ``wanted`` from the first URL that yields verified bytes; the byte count."""
    algorithm, expected = wanted.expected(digest_name)
    failures: list[str] = []
    for url in wanted.urls:
        try:
            return await upstream.with_retries(
                f"downloading {url}",
                lambda url=url: _attempt(upstream, store, wanted, url, algorithm, expected, digest_name),  # type: ignore[misc]
            )
        except FrumiousError as exc:
            if ends_run(exc):
                raise  # our disk refused the bytes, the lease is lost: no other source can help
            failures.append(f"{url}: {exc}")
            if len(wanted.urls) > 1:
                log.info("Download of %s failed (%s); trying the next source", url, exc)
    message = "; ".join(failures) if failures else f"{wanted.key}: no URL to download from"
    if failures and all("answered 404" in failure for failure in failures):
        raise NotFound(message)
    raise DownloadError(message)


async def _attempt(
    upstream: Upstream, store: Store, wanted: Wanted, url: str, algorithm: str, expected: str, digest_name: str
) -> int:
    digests = _Digests({algorithm, digest_name, "sha256"})
    writer = await store.writer(wanted.key)
    size = 0
    most = wanted.size if wanted.size is not None else wanted.cap
    try:
        async with upstream.get(url) as response:
            async for chunk in response.iter_chunks(CHUNK):
                size += len(chunk)
                if most is not None and size > most:
                    # A body longer than advertised is refused at once, not written to the end; like
                    # any size mismatch it may be a fault in transit, so it is retried (each attempt
                    # stops here). ``download`` puts the URL in front of the message.
                    raise BodyMismatch(f"body passes the advertised {most} bytes; download stopped")
                await digests.update(chunk)
                await writer.write(chunk)
        hexdigests = await digests.hexdigests()
        _verify(url, wanted, size, hexdigests[algorithm], algorithm, expected)
        await writer.commit(mtime=wanted.mtime, digests={k: hexdigests[k] for k in (digest_name, "sha256")})
    except BaseException:
        await writer.abort()
        raise
    return size


class _Digests:
    """A download's hashes. Large files are hashed on a worker thread a megabyte at a time, in order,
    while this thread receives and writes: hashlib releases the GIL, so a large file uses two cores.
    Small files are hashed here: the hand-off would cost more than the hashing."""

    def __init__(self, names: Iterable[str]) -> None:
        self._names = list(names)
        self._hashers = [hashlib.new(name) for name in self._names]
        self._batch: list[bytes] = []
        self._batched = 0
        self._pending: asyncio.Future[None] | None = None

    async def update(self, chunk: bytes) -> None:
        if len(chunk) < OFFLOAD and not self._batch and self._pending is None:
            _update(self._hashers, (chunk,))
            return
        self._batch.append(chunk)
        self._batched += len(chunk)
        if self._batched >= BATCH:
            await self._submit()

    async def _submit(self) -> None:
        if self._pending is not None:
            await self._pending
        batch, self._batch, self._batched = self._batch, [], 0
        self._pending = asyncio.get_running_loop().run_in_executor(_hash_pool(), _update, self._hashers, batch)

    async def hexdigests(self) -> dict[str, str]:
        if self._batch:
            await self._submit()
        if self._pending is not None:
            await self._pending
            self._pending = None
        return {name: hasher.hexdigest() for name, hasher in zip(self._names, self._hashers, strict=True)}


def _update(hashers: Iterable[Hash], chunks: Iterable[bytes]) -> None:
    for hasher in hashers:
        for chunk in chunks:
            hasher.update(chunk)


@functools.cache
def _hash_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="frumious-hash")


def _verify(url: str, wanted: Wanted, size: int, actual: str, algorithm: str, expected: str) -> None:
    if wanted.size is not None and size < wanted.size:
        # A short body is most likely a transfer fault: ShortBody is retried like a dropped connection.
        raise ShortBody(f"{url}: body ended after {size} of {wanted.size} bytes")
    if wanted.size is not None and size != wanted.size:
        raise BodyMismatch(f"{url}: got {size} bytes, upstream said {wanted.size}")
    if actual != expected:
        raise BodyMismatch(f"{url}: {algorithm} is {actual}, upstream said {expected}")


__all__ = ["DownloadError", "NotFound", "UpstreamError", "Wanted", "download", "is_current"]
