"""A mirror-wide budget of requests and bytes per second, shared by every request of a run.

One object for the whole run because the limits are the operator's promise to the upstream
(``max-requests-per-second``, ``max-bytes-per-second``): they hold across all workers and
both HTTP clients (the lean one and aiohttp), for the index, its file host and a download
mirror alike.

Each limit is a gate that lets one thing through at a time and then stays shut for
``units / rate`` seconds: one unit per request, one per body byte. It holds a single token (no
burst), and the next opening is timed from when the gate actually opened, not from when it
was due to: an event loop that stalled for a moment lets one request through, not its backlog.
So any one-second window holds at most ``rate + 1`` requests, and at most ``rate`` bytes plus
one piece. Bodies are metered in pieces of at most ``piece`` bytes (an eighth of a second's
worth), so a slow byte limit is honoured smoothly rather than a quarter-megabyte at a time.

``share`` is this process's part of the limits: shard processes (issue 16) each take 1/N.
An unlimited budget is ``None`` (``Budget.of``), so a run without limits pays nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

__all__ = ["Budget", "Gate", "metered"]

MIN_PIECE = 4096  # metering in smaller pieces costs more CPU than it smooths
MAX_PIECE = 256 * 1024  # the clients' own read size


class Gate:
    """Lets callers through one at a time, each then holding it shut ``units / rate`` seconds."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError(f"a gate needs a rate above 0, not {rate}")
        self.rate = rate
        self._opens_at = 0.0  # loop time at which the next caller may pass
        self._queue = asyncio.Lock()  # waiters pass in arrival order

    async def take(self, units: float) -> float:
        """Wait for the gate, then hold it for ``units``; the seconds spent waiting."""
        loop = asyncio.get_running_loop()
        start = now = loop.time()
        if self._queue.locked() or self._opens_at > now:
            async with self._queue:
                # The loop may wake a sleeper a hair early (its clock resolution): one more short sleep.
                while (wait := self._opens_at - loop.time()) > 0:  # noqa: ASYNC110 (a deadline, not an event)
                    await asyncio.sleep(wait)
                now = loop.time()
                self._opens_at = now + units / self.rate
            return now - start
        self._opens_at = now + units / self.rate
        return 0.0


class Budget:
    """The run's request and byte gates (either may be absent: that limit is off)."""

    def __init__(self, requests_per_second: float = 0, bytes_per_second: float = 0, share: float = 1.0) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"a budget's share is in (0, 1], not {share}")
        self.requests = Gate(requests_per_second * share) if requests_per_second > 0 else None
        self.bytes = Gate(bytes_per_second * share) if bytes_per_second > 0 else None
        byte_rate = self.bytes.rate if self.bytes else MAX_PIECE * 8
        self.piece = int(min(MAX_PIECE, max(MIN_PIECE, byte_rate / 8)))

    @classmethod
    def of(cls, requests_per_second: float, bytes_per_second: float, share: float = 1.0) -> Budget | None:
        """The budget for these limits (0: unlimited), or None when neither limits anything."""
        if requests_per_second <= 0 and bytes_per_second <= 0:
            return None
        return cls(requests_per_second, bytes_per_second, share)

    async def request(self) -> float:
        """Wait until one more request may go out; the seconds waited.

        A request also waits while the byte gate is shut: its answer's bytes would otherwise
        arrive on top of bytes still being paid for.
        """
        waited = await self.requests.take(1) if self.requests else 0.0
        if self.bytes:
            waited += await self.bytes.take(0)
        return waited

    async def body(self, size: int) -> float:
        """Account for ``size`` bytes of body just received; the seconds waited."""
        return await self.bytes.take(size) if self.bytes else 0.0


async def metered(pieces: AsyncIterator[bytes], budget: Budget) -> AsyncIterator[bytes]:
    """``pieces``, each let through only when the budget's byte gate allows."""
    async for piece in pieces:
        await budget.body(len(piece))
        yield piece
