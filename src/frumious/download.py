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
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from frumious.errors import (
    BodyMismatch,
    BodyTooLarge,
    DownloadError,
    FrumiousError,
    NotFound,
    ShortBody,
    UpstreamError,
    ends_run,
)
from frumious.http.choose import Clients
from frumious.http.wire import Reply
from frumious.models import StoredFile
from frumious.settings import CompareMethod
from frumious.storage.base import Store, local_paths
from frumious.upstream import Upstream

if TYPE_CHECKING:
    from hashlib import _Hash as Hash

    from frumious.http.client import Response

log = logging.getLogger("frumious.download")

CHUNK = 256 * 1024
# Files arriving in chunks this large are hashed on a worker thread, BATCH bytes per hand-off;
# below it the hand-off costs more than it saves.
OFFLOAD = 64 * 1024
BATCH = 1 << 20
# A body of known size up to this is read whole, hashed and written in one go: most release files
# (20 KB on the benchmark) skip the chunk iterator's layers of async generators.
SMALL = CHUNK


async def check_stored(
    store: Store, file: StoredFile, method: CompareMethod, *, fix: bool = True, known: StoredFile | None = None
) -> str | None:
    """What is wrong with the stored copy of ``file``, or None when it is right.

    The one check for the sync (is it current?) and ``verify``: ``stat`` trusts size plus
    upload time and hashes only when they disagree, ``hash`` compares the digest, except that
    the sync passes the record's row (``known``): a digest the record verified is trusted
    while the stored file's size and time still match that row (re-hashing is ``verify``'s job).
    With ``fix``, right content whose upload time (or, on object stores, digest) is not on
    record gets it, so the next check is one stat.
    """
    info = await store.stat(file.key)
    if info is None:
        return "missing"
    if file.size is not None and info.size != file.size:
        return f"has {info.size} bytes, not {file.size}"
    same_time = file.uploaded is not None and info.mtime is not None and abs(info.mtime - file.uploaded) < 1e-3
    if method is CompareMethod.STAT and same_time:
        return None
    if same_time and _verified(file, known, info.size):
        return None
    recorded = info.digests.get(file.algorithm)
    actual = recorded or await store.digest(file.key, file.algorithm)
    if actual is None:
        return "missing"
    if actual.lower() != file.digest.lower():
        return f"{file.algorithm} is {actual}, not {file.digest}"
    unrecorded = not recorded and local_paths(store) is None  # object stores can keep the digest
    if fix and ((file.uploaded is not None and not same_time) or unrecorded):
        await store.set_meta(file.key, mtime=file.uploaded, digests=_record(file, actual))
    return None


def _verified(file: StoredFile, recorded: StoredFile | None, size: int) -> bool:
    """The record holds this key with the digest wanted, at this size and upload time."""
    return (
        recorded is not None
        and (recorded.key, recorded.algorithm, recorded.size, recorded.uploaded)
        == (file.key, file.algorithm, size, file.uploaded)
        and recorded.digest.lower() == file.digest.lower()
    )


def _record(file: StoredFile, actual: str) -> dict[str, str]:
    recorded = {file.algorithm: actual}
    if file.digests.get("sha256"):
        recorded["sha256"] = file.digests["sha256"].lower()
    return recorded


async def download(upstream: Upstream, store: Store, wanted: StoredFile, digest_name: str, cap: int | None) -> int:
    """Fetch ``wanted`` from the first URL that yields verified bytes; the byte count.

    ``cap`` bounds a body of unknown size (a .metadata sidecar): None for no cap.
    """
    check = wanted.expected
    failures: list[str] = []
    small = wanted.size is not None and wanted.size <= SMALL
    for url in wanted.urls:
        try:
            # The first attempt made here; the retry loop, its closure and its message only after a
            # retryable failure (nearly every file needs one attempt).
            try:
                if small:
                    return await _attempt_small(upstream, store, wanted, url, check, digest_name)
                return await _attempt(upstream, store, wanted, url, check, digest_name, cap)
            except (FrumiousError, TimeoutError) as exc:
                if isinstance(exc, FrumiousError) and not exc.retryable:
                    raise
                first = exc
            return await upstream.with_retries(
                f"downloading {url}",
                (lambda url=url: _attempt_small(upstream, store, wanted, url, check, digest_name))  # type: ignore[misc]
                if small
                else (lambda url=url: _attempt(upstream, store, wanted, url, check, digest_name, cap)),  # type: ignore[misc]
                first,
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


def ahead(upstream: Upstream, file: StoredFile) -> bool:
    """Whether ``fetch_ahead`` may take ``file``: small or of unknown size (a sidecar), its URL pipelined to."""
    client = upstream.client
    small = file.size is None or file.size <= SMALL
    return small and bool(file.urls) and isinstance(client, Clients) and client.pipelines(file.urls[0])


async def fetch_ahead(
    upstream: Upstream, store: Store, files: list[StoredFile], digest_name: str, done: Callable[[StoredFile, int], None]
) -> int:
    """Fetch ``files`` (each ``ahead``) in order on one connection, requests written ahead of replies.

    ``done(file, size)`` follows each file put in place; the return value is how many were. A reply
    that is not a whole verified 200 of at most ``SMALL`` bytes is not taken (a small error page is
    read to its end, so the replies behind it still come); the caller fetches every file not taken
    with ``download``, retries and all. A refused disk or a lost lease is raised at once, as there.
    Why: fewer system calls and wake-ups at both ends. At five 20 KB files a project a full sync spent
    0.945x the CPU (``cpu_ab.py``, 8 rounds: 169 -> 151 us an extra file), and against an upstream
    10 ms away 0.8x the wall (benchmarks/README.md, "Issue 12 (session 8)").
    """
    client = upstream.client
    assert isinstance(client, Clients)

    async def take(i: int, reply: Reply) -> bool:
        upstream.counters.requests += 1
        file = files[i]
        try:
            if reply.status != 200:
                await reply.drain()
                return False
            body = await reply.read(file.size if file.size is not None else SMALL)
            size = await put(store, file, reply.url, body, file.expected, digest_name)
        except (FrumiousError, TimeoutError, OSError) as exc:
            if ends_run(exc):
                raise
            return False  # asked again one at a time, where each error has its handling
        done(file, size)
        return True

    return await client.pipelined([f.urls[0] for f in files], take)


async def _attempt(
    upstream: Upstream,
    store: Store,
    wanted: StoredFile,
    url: str,
    check: tuple[str, str],
    digest_name: str,
    cap: int | None,
) -> int:
    most = wanted.size if wanted.size is not None else cap
    async with upstream.get(url) as response:
        if wanted.size is None and _declared_small(response):
            # A .metadata sidecar (a few KB, its size not advertised): read whole and put in place in one
            # call, as a small release file, not through a writer's temp file and awaits.
            body = await _whole(response, most)
        else:
            return await _streamed(store, wanted, url, response, check, digest_name, most)
    return await put(store, wanted, url, body, check, digest_name)


def _declared_small(response: Response) -> bool:
    length = response.headers.get("Content-Length", "")
    return length.isascii() and length.isdigit() and int(length) <= SMALL  # "²" is a digit int() refuses


async def _whole(response: Response, most: int | None) -> bytes:
    try:
        return await response.read(most)
    except BodyTooLarge:
        # Retried like any size mismatch (a fault in transit), as the streamed path does.
        raise BodyMismatch(f"body passes the advertised {most} bytes; download stopped") from None


async def _streamed(
    store: Store,
    wanted: StoredFile,
    url: str,
    response: Response,
    check: tuple[str, str],
    digest_name: str,
    most: int | None,
) -> int:
    algorithm, expected = check
    digests = _Digests({algorithm, digest_name, "sha256"})
    writer = await store.writer(wanted.key)
    size = 0
    try:
        if isinstance(response, Reply) and isinstance(writer, _BlockingWriter):
            length = response.direct_size()
            if length is not None:
                size = await _pour(response, writer, digests, length, most)
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
        await writer.commit(mtime=wanted.uploaded, digests={k: hexdigests[k] for k in (digest_name, "sha256")})
    except BaseException:
        await writer.abort()
        raise
    return size


async def _attempt_small(
    upstream: Upstream, store: Store, wanted: StoredFile, url: str, check: tuple[str, str], digest_name: str
) -> int:
    """``_attempt`` for a small file of known size: one read, one hash per algorithm, one write."""
    async with upstream.get(url) as response:
        body = await _whole(response, wanted.size)
    return await put(store, wanted, url, body, check, digest_name)


async def put(store: Store, wanted: StoredFile, url: str, body: bytes, check: tuple[str, str], digest_name: str) -> int:
    """A whole body verified, then put in place with its digests; its length."""
    algorithm, expected = check
    actual = _hexdigest(algorithm, body)
    _verify(url, wanted, len(body), actual, algorithm, expected)
    # What the record and object stores keep: the configured digest and sha256 (mostly one and the same).
    kept = actual if digest_name == algorithm else _hexdigest(digest_name, body)
    sha256 = kept if digest_name == "sha256" else actual if algorithm == "sha256" else _hexdigest("sha256", body)
    # One call puts the verified bytes in place (the filesystem's: temp, write, time, rename; no writer object).
    await store.write(wanted.key, body, mtime=wanted.uploaded, digests={digest_name: kept, "sha256": sha256})
    return len(body)


def _hexdigest(name: str, data: bytes) -> str:
    """``hashlib.new(name, data).hexdigest()`` through the named constructor (``new`` is a Python wrapper)."""
    return _constructor(name)(data).hexdigest()


@functools.cache
def _constructor(name: str) -> Callable[[bytes], Hash]:
    named = getattr(hashlib, name, None) if name in hashlib.algorithms_guaranteed else None
    return named if callable(named) else functools.partial(hashlib.new, name)


@runtime_checkable
class _BlockingWriter(Protocol):
    """A store's writer that a worker thread may write to (the filesystem's)."""

    def write_blocking(self, chunk: bytes | memoryview) -> None: ...


async def _pour(reply: Reply, writer: _BlockingWriter, digests: _Digests, length: int, most: int | None) -> int:
    """A large body straight from the socket: received, written and hashed on three threads."""
    if most is not None and length > most:
        raise BodyMismatch(f"body of {length} bytes passes the advertised {most}; download refused")
    hashers = digests.hashers

    def hash_piece(piece: memoryview) -> None:
        for hasher in hashers:
            hasher.update(piece)

    return await reply.pour([writer.write_blocking, hash_piece])


class _Digests:
    """A download's hashes. Large files are hashed on a worker thread a megabyte at a time, in order,
    while this thread receives and writes: hashlib releases the GIL, so a large file uses two cores.
    Small files are hashed here: the hand-off would cost more than the hashing."""

    def __init__(self, names: Iterable[str]) -> None:
        self._names = list(names)
        self.hashers = [hashlib.new(name) for name in self._names]
        self._batch: list[bytes] = []
        self._batched = 0
        self._pending: asyncio.Future[None] | None = None

    async def update(self, chunk: bytes) -> None:
        if len(chunk) < OFFLOAD and not self._batch and self._pending is None:
            _update(self.hashers, (chunk,))
            return
        self._batch.append(chunk)
        self._batched += len(chunk)
        if self._batched >= BATCH:
            await self._submit()

    async def _submit(self) -> None:
        if self._pending is not None:
            await self._pending
        batch, self._batch, self._batched = self._batch, [], 0
        self._pending = asyncio.get_running_loop().run_in_executor(_hash_pool(), _update, self.hashers, batch)

    async def hexdigests(self) -> dict[str, str]:
        if self._batch:
            await self._submit()
        if self._pending is not None:
            await self._pending
            self._pending = None
        return {name: hasher.hexdigest() for name, hasher in zip(self._names, self.hashers, strict=True)}


def _update(hashers: Iterable[Hash], chunks: Iterable[bytes]) -> None:
    for hasher in hashers:
        for chunk in chunks:
            hasher.update(chunk)


@functools.cache
def _hash_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="frumious-hash")


def _verify(url: str, wanted: StoredFile, size: int, actual: str, algorithm: str, expected: str) -> None:
    if wanted.size is not None and size < wanted.size:
        # A short body is most likely a transfer fault: ShortBody is retried like a dropped connection.
        raise ShortBody(f"{url}: body ended after {size} of {wanted.size} bytes")
    if wanted.size is not None and size != wanted.size:
        raise BodyMismatch(f"{url}: got {size} bytes, upstream said {wanted.size}")
    if actual != expected:
        raise BodyMismatch(f"{url}: {algorithm} is {actual}, upstream said {expected}")


__all__ = ["DownloadError", "NotFound", "UpstreamError", "check_stored", "download"]
