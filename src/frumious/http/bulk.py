"""A large body of known length read straight from the socket on two threads, not through the loop.

Why: through the event loop a 1 GB file cost 2.5 s of CPU against curl's 1.1 s, one core
doing it all: a new ``bytes`` per receive, buffer slices, layers of async generators per
piece, hashing handed off a megabyte at a time. Here one thread ``recv_into``s a few reused
megabyte buffers and another hands each full buffer to the caller's ``sink`` (write and hash,
both release the GIL), so receiving and storing overlap on two cores. Measured on a blocking
loop against nginx: 1.1-1.4 s wall and 1.3-1.5 s CPU a gigabyte with two threads, 1.4-1.8 s
wall with one (``benchmarks/README.md``, "Issue 12 (session 5): http").

The socket is a duplicate of the transport's, read only while the transport is paused, and
never past the body's end, so the connection stays usable for the next request. The thread
function returns only once the sink's thread is done: a caller that aborts the writer after a
failure can never close a descriptor the sink still writes to.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from collections.abc import Callable, Sequence

from frumious.errors import ProtocolError

__all__ = ["BUFFERS", "PIECE", "Sink", "Transfer"]

PIECE = 1 << 20  # bytes per buffer: 1,000 hand-offs a gigabyte (256 KiB measured no faster)
BUFFERS = 4  # buffers in flight: memory stays bounded at a few megabytes whatever the size
Sink = Callable[[memoryview], None]  # called on a thread of its own with each piece, in order


class Transfer:
    """Moves ``left`` body bytes from ``sock`` (a duplicate with a read timeout) through ``sinks``.

    Each sink runs on a thread of its own and sees every piece, in order, after the one before
    it: the receiver, a writer and a hasher are three threads the kernel spreads over the cores.
    """

    def __init__(self, sock: socket.socket, left: int, sinks: Sequence[Sink], url: str, seconds: float) -> None:
        self.sock, self.left, self.sinks, self.url = sock, left, sinks, url
        self.deadline = time.monotonic() + seconds  # the request's deadline on the thread's clock
        self.stopped = threading.Event()  # set by the caller (cancelled) or a sink's thread (failed)
        self._queues: list[queue.SimpleQueue[memoryview | None]] = [queue.SimpleQueue() for _ in sinks]
        self._free: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
        self._error: BaseException | None = None

    def stop(self) -> None:
        """Ask the threads to stop at once (a cancelled download); shutting the socket wakes a recv."""
        self.stopped.set()
        with contextlib.suppress(OSError):  # already closed by the peer
            self.sock.shutdown(socket.SHUT_RDWR)

    def run(self, first: bytes) -> None:
        """On a worker thread: ``first`` (already received) then the rest; raises what went wrong."""
        for _ in range(BUFFERS):
            self._free.put(memoryview(bytearray(PIECE)))
        stages = [
            threading.Thread(target=self._stage, args=(i,), name="frumious-body", daemon=True)
            for i in range(len(self.sinks))
        ]
        for stage in stages:
            stage.start()
        into = self._queues[0]
        try:
            if first:
                into.put(memoryview(first))
            while self.left > 0 and not self.stopped.is_set():
                buffer = self._free.get()
                if self.stopped.is_set():
                    break  # a sink failed while we waited for a buffer
                got = self._fill(buffer[: min(PIECE, self.left)])
                self.left -= got
                into.put(buffer[:got])
        except BaseException as exc:
            self._error = self._error or exc
            self.stopped.set()
        finally:
            into.put(None)
            for stage in stages:
                stage.join()
        if self._error is not None:
            raise self._error
        if self.left and self.stopped.is_set():
            raise ProtocolError(f"{self.url}: download stopped {self.left} bytes short")

    def _fill(self, view: memoryview) -> int:
        """Fill ``view`` from the socket; its length, or what came before the peer closed (an error)."""
        sock, got, want = self.sock, 0, len(view)
        while got < want:
            if self.stopped.is_set():
                return got
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            if remaining < (sock.gettimeout() or remaining):
                sock.settimeout(remaining)
            try:
                count = sock.recv_into(view[got:])
            except TimeoutError:
                raise
            except OSError as exc:
                raise ProtocolError(f"{self.url}: connection failed inside the body: {exc}") from None
            if not count:
                if self.stopped.is_set():
                    return got
                raise ProtocolError(f"{self.url}: connection closed {self.left - got} bytes short of the body's end")
            got += count
        return got

    def _stage(self, index: int) -> None:
        """Sink ``index``'s thread: every piece, in order, then on to the next sink (or back to the pool)."""
        sink, source = self.sinks[index], self._queues[index]
        onward = self._queues[index + 1] if index + 1 < len(self._queues) else None
        while (piece := source.get()) is not None:
            if self._error is None:
                try:
                    sink(piece)
                except BaseException as exc:
                    self._error = exc
                    self.stopped.set()
                    self._wake_receiver()
            if onward is not None:
                onward.put(piece)
            elif not piece.readonly:  # a buffer of ours, not the bytes received first
                self._free.put(memoryview(piece.obj))
        if onward is not None:
            onward.put(None)

    def _wake_receiver(self) -> None:
        """The receiver may wait for a free buffer or on recv: give it one and let it see ``stopped``."""
        self._free.put(memoryview(bytearray(0)))
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RD)
