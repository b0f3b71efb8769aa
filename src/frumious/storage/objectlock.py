"""The mirror lock on object stores: a lease object, created create-only where the server allows.

An object store has no flock. The lock is an object holding a JSON lease (a random
token, the owner and an expiry). Taking it:

1. Read the lock object. An unexpired lease that is not ours means ``LockHeld``. An
   expired one (a crashed run) is deleted, with a warning.
2. Write our lease create-only (S3 ``If-None-Match: *``, Swift ``If-None-Match: *``).
   If another run created it first the server answers 412 and we raise ``LockHeld``.
   A server without conditional writes (Swift's s3api before 2.36) answers 501; then
   the lease is written unconditionally and step 3 decides who won.
3. Wait a settle delay, at least twice as long as our own read-to-write took, then read
   the lease back. Only the run whose token is there holds the lock; the others raise
   ``LockHeld`` (the last writer wins, and every contender sees the same last writer).
4. While held, a task renews the expiry every ``ttl / 4``; it notices if the lease was
   lost (``lost`` becomes True and an error is logged). ``release`` deletes the lease
   if it is still ours.

Limits: with conditional writes, two runs can only both hold the lock when both take
over the same expired lease and one of them stalls for longer than the other's settle
delay between reading and writing. Without them that also applies to an absent lock.
Expiry uses wall clocks, so hosts must agree on the time to well within ``ttl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from frumious.errors import LockHeld, StorageError

log = logging.getLogger(__name__)

DEFAULT_TTL = 120.0


class CreateConflict(Exception):
    """The create-only write failed: the object already exists (HTTP 412)."""


class ConditionalUnsupported(Exception):
    """The server does not implement create-only writes (HTTP 501)."""


@dataclass(frozen=True, slots=True)
class Stored:
    """The lock object as read: its body and the server's Last-Modified (epoch)."""

    body: bytes
    modified: float | None


class LeaseIO(Protocol):
    """The three calls a backend gives the lease, all on one lock object."""

    async def get(self) -> Stored | None: ...

    # create_only: raise CreateConflict if it exists, ConditionalUnsupported if unsupported.
    async def put(self, body: bytes, *, create_only: bool) -> None: ...

    async def delete(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Lease:
    token: str
    owner: str
    expires: float

    def encode(self) -> bytes:
        return json.dumps({"token": self.token, "owner": self.owner, "expires": self.expires}).encode()

    @classmethod
    def decode(cls, stored: Stored, ttl: float) -> Lease:
        """Any other body (bandersnatch's empty ``.lock``) counts as a lease until Last-Modified + ttl."""
        try:
            data = json.loads(stored.body)
            return cls(str(data["token"]), str(data["owner"]), float(data["expires"]))
        except (ValueError, KeyError, TypeError):
            expires = (stored.modified or 0.0) + ttl
            return cls("", "an unknown owner (not a frumious lease)", expires)

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.expires))
        return f"{self.owner} (lease expires {when})"


class LeaseLock:
    """A held lease; ``release`` gives it up. ``lost`` turns True if another run took it over."""

    def __init__(self, io: LeaseIO, lease: Lease, name: str, ttl: float) -> None:
        self._io, self._lease, self._name, self._ttl = io, lease, name, ttl
        self.lost = False
        self._renewer = asyncio.create_task(self._renew_forever(), name=f"renew {name}")

    async def release(self) -> None:
        if self._renewer.done() and self._lease.token == "":
            return
        self._renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._renewer
        if not self.lost and await self._still_ours():
            await self._io.delete()
        self._lease = Lease("", self._lease.owner, 0.0)

    async def _still_ours(self) -> bool:
        stored = await self._io.get()
        return stored is not None and Lease.decode(stored, self._ttl).token == self._lease.token

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 4)
            try:
                if not await self._still_ours():
                    self.lost = True
                    log.error("lost the lock %s: another run took it over; stop this run", self._name)
                    return
                self._lease = Lease(self._lease.token, self._lease.owner, time.time() + self._ttl)
                await self._io.put(self._lease.encode(), create_only=False)
            except StorageError as exc:
                # The lease is still valid for a while; the next tick tries again.
                log.warning("could not renew the lock %s: %s", self._name, exc)


class ConditionalSupport:
    """Remembers, per store, whether create-only writes work, so a 501 is paid once."""

    def __init__(self) -> None:
        self.supported: bool | None = None


async def acquire(
    io: LeaseIO,
    name: str,
    *,
    support: ConditionalSupport,
    ttl: float = DEFAULT_TTL,
    settle: float = 1.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> LeaseLock:
    """Take the lease at ``name`` or raise LockHeld at once (after at most the settle delay)."""
    started = time.monotonic()
    stored = await io.get()
    if stored is not None:
        current = Lease.decode(stored, ttl)
        if current.expires > time.time():
            raise LockHeld(f"the mirror lock {name} is held by {current.describe()}")
        log.warning("taking over the expired lock %s of %s", name, current.describe())
        await io.delete()
    mine = Lease(uuid.uuid4().hex, f"{socket.gethostname()}:{os.getpid()}", time.time() + ttl)
    await _create(io, mine, name, support, ttl)
    await sleep(max(settle, 2 * (time.monotonic() - started)))
    stored = await io.get()
    winner = Lease.decode(stored, ttl) if stored is not None else None
    if winner is None or winner.token != mine.token:
        who = winner.describe() if winner is not None else "a run that released it at once"
        raise LockHeld(f"the mirror lock {name} was taken at the same time by {who}")
    return LeaseLock(io, mine, name, ttl)


async def _create(io: LeaseIO, lease: Lease, name: str, support: ConditionalSupport, ttl: float) -> None:
    if support.supported is not False:
        try:
            await io.put(lease.encode(), create_only=True)
            support.supported = True
            return
        except CreateConflict:
            stored = await io.get()
            holder = Lease.decode(stored, ttl) if stored is not None else None
            if holder is not None and holder.token == lease.token:
                # Our own create, retried by the client after a lost response.
                return
            who = holder.describe() if holder is not None else "another run"
            raise LockHeld(f"the mirror lock {name} was just taken by {who}") from None
        except ConditionalUnsupported:
            log.info("the server has no create-only writes; %s is a settle-and-verify lease", name)
            support.supported = False
    await io.put(lease.encode(), create_only=False)
