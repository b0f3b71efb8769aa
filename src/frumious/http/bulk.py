"""A large body of known length read straight from the socket on threads, not through the loop.

Why: through the event loop a 1 GB file cost 2.5-2.9 s of CPU against curl's 1.1 s, one core
receiving and writing while a pool thread hashed. Here one thread ``recv_into``s a few reused
megabyte buffers and each of the caller's sinks (the download's write, then its hash; both
release the GIL) runs on a thread of its own, so the stages overlap on both cores: the whole
``frumious mirror`` of a 1 GB file took 1.9 s of CPU, not 2.85 (``benchmarks/README.md``,
"Issue 12 (session 5): http"). Below ``wire.DIRECT`` the threads cost more than they save.

The socket is a duplicate of the transport's, read only while the transport is paused, and
never past the body's end, so the connection stays usable for the next request. ``run``
returns only once every sink's thread is done: a caller that aborts the writer after a
failure can never close a descriptor a sink still writes to.
"""

from __future__ import annotations

import contextlib
import queue
import select
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
    """Moves ``left`` body bytes from ``sock`` (a non-blocking duplicate) through ``sinks``.

    Each sink runs on a thread of its own and sees every piece, in order, after the one before
    it: the receiver, a writer and a hasher are three threads the kernel spreads over the cores.
    """

    def __init__(
        self, sock: socket.socket, left: int, sinks: Sequence[Sink], url: str, *, read_timeout: float, seconds: float
    ) -> None:
        self.sock, self.left, self.sinks, self.url = sock, left, sinks, url
        self.read_timeout = read_timeout  # the longest wait for the next bytes
        self.deadline = time.monotonic() + seconds  # the request's deadline on the thread's clock
        self._poll = select.poll()
        self._poll.register(sock, select.POLLIN)
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
        taken = [_take_buffer() for _ in range(min(BUFFERS, -(-(self.left or 1) // PIECE)))]
        for spare in taken:
            self._free.put(memoryview(spare))
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
            _return_buffers(taken)
        if self._error is not None:
            raise self._error
        if self.left and self.stopped.is_set():
            raise ProtocolError(f"{self.url}: download stopped {self.left} bytes short")

    def _fill(self, view: memoryview) -> int:
        """Fill ``view`` from the socket; its length, or what came before the peer closed (an error).

        The socket stays non-blocking (it shares its flags with the transport's): a receive is
        tried first and ``poll`` waits only when nothing is there, so a fast server costs one
        system call a receive, not two (a socket timeout polls before every receive).
        """
        sock, got, want = self.sock, 0, len(view)
        while got < want:
            if self.stopped.is_set():
                return got
            try:
                count = sock.recv_into(view[got:])
            except BlockingIOError:
                self._wait()
                continue
            except OSError as exc:
                raise ProtocolError(f"{self.url}: connection failed inside the body: {exc}") from None
            if not count:
                if self.stopped.is_set():
                    return got
                raise ProtocolError(f"{self.url}: connection closed {self.left - got} bytes short of the body's end")
            got += count
        return got

    def _wait(self) -> None:
        """Until the socket has bytes (or the peer closed); TimeoutError past the read timeout or the deadline."""
        wait = min(self.read_timeout, self.deadline - time.monotonic())
        if wait <= 0 or not self._poll.poll(wait * 1000):
            raise TimeoutError

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
            elif isinstance(piece.obj, bytearray) and len(piece.obj) == PIECE:  # ours, not the bytes received first
                self._free.put(memoryview(piece.obj))
        if onward is not None:
            onward.put(None)

    def _wake_receiver(self) -> None:
        """The receiver may wait for a free buffer or on recv: give it one and let it see ``stopped``."""
        self._free.put(memoryview(bytearray(0)))
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RD)


# Buffers kept between transfers: a new megabyte is zeroed and faulted in page by page (about
# 0.25 ms), which a file of a few megabytes would otherwise pay four times.
_SPARE: list[bytearray] = []
_SPARE_LOCK = threading.Lock()
MAX_SPARE = 16


def _take_buffer() -> bytearray:
    with _SPARE_LOCK:
        if _SPARE and len(_SPARE[-1]) == PIECE:
            return _SPARE.pop()
    return bytearray(PIECE)


def _return_buffers(buffers: list[bytearray]) -> None:
    with _SPARE_LOCK:
        _SPARE.extend(buffers[: MAX_SPARE - len(_SPARE)])
