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
4. While held, a task renews the expiry every ``ttl / 4`` (every ``ttl / 8`` after a failed
   renewal, sooner while the lease is short). ``release`` deletes the lease if it is still ours.

Losing the lease stops the run (``LeaseLost``). It is lost when the renewal finds another
token (or none) in the lock object, or when no renewal succeeded until a quarter ``ttl``
before the expiry last written: from then on another run may take over, allowing for that
much clock skew. Every write of the store checks the lease first (``LeaseGuard``: a flag and
a clock read, no request), and the loss cancels the task given to ``stop_on_loss`` (the
run), so nothing more is written, the serial never advances and the run ends with one line.

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
from typing import Protocol

import msgspec

from frumious.errors import LeaseLost, LockHeld, StorageError

log = logging.getLogger(__name__)

DEFAULT_TTL = 120.0


class CreateConflict(Exception):
    """The create-only write failed: the object already exists (HTTP 412)."""


class ConditionalUnsupported(Exception):
    """The server does not implement create-only writes (HTTP 501)."""


class Stored(msgspec.Struct, frozen=True):
    """The lock object as read: its body and the server's Last-Modified (epoch)."""

    body: bytes
    modified: float | None


class LeaseIO(Protocol):
    """The three calls a backend gives the lease, all on one lock object."""

    async def get(self) -> Stored | None: ...

    # create_only: raise CreateConflict if it exists, ConditionalUnsupported if unsupported.
    async def put(self, body: bytes, *, create_only: bool) -> None: ...

    async def delete(self) -> None: ...


class Lease(msgspec.Struct, frozen=True):
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
    """A held lease; ``release`` gives it up, ``check`` raises LeaseLost once it is lost."""

    def __init__(self, io: LeaseIO, lease: Lease, name: str, ttl: float) -> None:
        self._io, self._lease, self._name, self._ttl = io, lease, name, ttl
        self._valid_until = self._margin(lease)
        self._lost: str | None = None
        self._released = False
        self._owner: asyncio.Task[object] | None = None
        self._renewer = asyncio.create_task(self._renew_forever(), name=f"renew {name}")

    @property
    def lost(self) -> bool:
        return self._lost is not None

    def stop_on_loss(self, task: asyncio.Task[object]) -> None:
        """Cancel ``task`` (the run) the moment the lease is lost."""
        self._owner = task

    def check(self) -> None:
        """Raise LeaseLost if the lease is lost or may run out before the next renewal lands."""
        if self._lost is None and not self._released and time.time() >= self._valid_until:
            self._lose("it was not renewed in time, so another run may take it over")
        if self._lost is not None:
            raise LeaseLost(self._lost)

    async def release(self) -> None:
        if self._released:
            return
        self._released = True
        self._renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._renewer
        if not self.lost and await self._still_ours():
            await self._io.delete()

    def _margin(self, lease: Lease) -> float:
        # Stop writing a quarter ttl before the expiry others see: room for clock skew.
        return lease.expires - self._ttl / 4

    def _lose(self, why: str) -> None:
        self._lost = f"lost the mirror lock {self._name}: {why}; stopped before writing anything more"
        log.error("%s", self._lost)
        owner = self._owner
        # Never cancel ourselves: the LeaseLost being raised already stops the caller.
        if owner is not None and not owner.done() and owner is not asyncio.current_task():
            owner.cancel()

    async def _still_ours(self) -> bool:
        stored = await self._io.get()
        return stored is not None and Lease.decode(stored, self._ttl).token == self._lease.token

    def _next_delay(self, failed: bool) -> float:
        # Usually ttl / 4 (ttl / 8 after a failure), sooner when the lease is already short:
        # taking it (the settle delay) or a slow renewal may have used up much of its time.
        usual = self._ttl / 8 if failed else self._ttl / 4
        return max(0.0, min(usual, (self._valid_until - time.time()) / 2))

    async def _renew_forever(self) -> None:
        failed = False
        while self._lost is None:
            await asyncio.sleep(self._next_delay(failed))
            try:
                # An attempt may take as long as the lease stays good for writes, but no longer.
                async with asyncio.timeout(max(self._ttl / 4, self._valid_until - time.time())):
                    await self._renew()
                failed = False
            except _Stolen as exc:
                self._lose(str(exc))
            except (StorageError, TimeoutError) as exc:
                reason = str(exc) or "no answer in time"
                if time.time() >= self._valid_until:
                    self._lose(f"it could not be renewed ({reason}), so another run may take it over")
                else:
                    # Still valid for a while: try again sooner than usual.
                    log.warning("could not renew the lock %s: %s; trying again", self._name, reason)
                    failed = True

    async def _renew(self) -> None:
        stored = await self._io.get()
        holder = Lease.decode(stored, self._ttl) if stored is not None else None
        if holder is None:
            raise _Stolen("the lock object was deleted (by another run, or by hand)")
        if holder.token != self._lease.token:
            raise _Stolen(f"another run took it over: {holder.describe()}")
        renewed = Lease(self._lease.token, self._lease.owner, time.time() + self._ttl)
        await self._io.put(renewed.encode(), create_only=False)
        self._lease, self._valid_until = renewed, self._margin(renewed)


class _Stolen(Exception):
    """The lock object no longer holds our token."""


class LeaseGuard:
    """An object store's view of its lease: each write calls ``check`` before touching the store."""

    def __init__(self) -> None:
        self.lock: LeaseLock | None = None

    def check(self) -> None:
        if self.lock is not None:
            self.lock.check()


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
