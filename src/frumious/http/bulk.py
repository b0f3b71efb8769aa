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
from collections.abc import Callable

from frumious.errors import ProtocolError

__all__ = ["BUFFERS", "PIECE", "Sink", "Transfer"]

PIECE = 1 << 20  # bytes per buffer: 1,000 hand-offs a gigabyte (256 KiB measured no faster)
BUFFERS = 4  # buffers in flight: memory stays bounded at a few megabytes whatever the size
Sink = Callable[[memoryview], None]  # called on a worker thread with each piece, in order


class Transfer:
    """Moves ``left`` body bytes from ``sock`` (a blocking duplicate with a read timeout) into ``sink``."""

    def __init__(self, sock: socket.socket, left: int, sink: Sink, url: str, seconds: float) -> None:
        self.sock, self.left, self.sink, self.url = sock, left, sink, url
        self.deadline = time.monotonic() + seconds  # the request's deadline on the thread's clock
        self.stopped = threading.Event()  # set by the caller (cancelled) or the sink's thread (failed)
        self._full: queue.SimpleQueue[tuple[memoryview, int] | None] = queue.SimpleQueue()
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
        writer = threading.Thread(target=self._drain, name="frumious-body", daemon=True)
        writer.start()
        try:
            if first:
                self._full.put((memoryview(first), len(first)))
            while self.left > 0 and not self.stopped.is_set():
                buffer = self._free.get()
                if self.stopped.is_set():
                    break  # the sink failed while we waited for a buffer
                got = self._fill(buffer[: min(PIECE, self.left)])
                self.left -= got
                self._full.put((buffer, got))
        except BaseException as exc:
            self._error = self._error or exc
            self.stopped.set()
        finally:
            self._full.put(None)
            writer.join()
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

    def _drain(self) -> None:
        """The sink's thread: every full buffer, in order, until the receiver's None."""
        while (item := self._full.get()) is not None:
            view, size = item
            if self._error is None:
                try:
                    self.sink(view[:size])
                except BaseException as exc:
                    self._error = exc
                    self.stopped.set()
                    self._wake_receiver()
            if not view.readonly and len(view) == PIECE:  # ours, not the bytes received first
                self._free.put(view)

    def _wake_receiver(self) -> None:
        """The receiver may wait for a free buffer or on recv: give it one and let it see ``stopped``."""
        self._free.put(memoryview(bytearray(0)))
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RD)
