"""``FakePyPI``: the app served on 127.0.0.1 from a background thread with its own loop.

The thread makes it usable from plain sync tests, from tests that run a CLI in a
subprocess, and from async tests (whose loop stays free: a client in the test's loop
talks to a server in another). Use ``with FakePyPI(index) as pypi:`` /
``run_fake_pypi(index)`` in sync code and ``async with serve_fake_pypi(index) as pypi:``
in async code.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from types import TracebackType

from aiohttp import web

from .app import RequestRecord, ServerState, make_app
from .faults import Fault, FaultKind, Faults
from .index import FakeIndex

__all__ = ["FakePyPI", "run_fake_pypi", "serve_fake_pypi"]


class FakePyPI:
    """A running fake pypi.org. ``url`` is ``http://127.0.0.1:<port>`` once started."""

    def __init__(self, index: FakeIndex | None = None, *, files_url: str | None = None) -> None:
        self.state = ServerState(index if index is not None else FakeIndex(), files_url=files_url)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # --- lifecycle -----------------------------------------------------------------------
    def start(self) -> FakePyPI:
        if self._thread is not None:
            raise RuntimeError("already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.state.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(sock, ready), name="fakepypi", daemon=True)
        self._thread.start()
        if not ready.wait(10) or self._error is not None:
            self.stop()
            raise RuntimeError(f"fake PyPI did not start: {self._error!r}")
        return self

    def _serve(self, sock: socket.socket, ready: threading.Event) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(make_app(self.state), access_log=None, shutdown_timeout=0.5, handler_cancellation=True)
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.SockSite(runner, sock).start())
        except BaseException as exc:  # reported by start()
            self._error = exc
            sock.close()
            ready.set()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if thread.is_alive() and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(15)
        self._thread = self._loop = None

    def __enter__(self) -> FakePyPI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- what it serves ------------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.state.url

    @property
    def index(self) -> FakeIndex:
        return self.state.index

    @property
    def files_url(self) -> str:
        """The base of absolute file URLs in JSON and pages (default: ``url``)."""
        return self.state.files_base

    @files_url.setter
    def files_url(self, value: str | None) -> None:
        self.state.files_url = value

    def file_path(self, name: str, filename: str) -> str:
        """The /packages/... path a file is served at."""
        with self.index.lock:
            return self.index.file(name, filename).path

    def file_url(self, name: str, filename: str) -> str:
        return self.files_url + self.file_path(name, filename)

    # --- the request log -----------------------------------------------------------------
    @property
    def log(self) -> list[RequestRecord]:
        with self.state.log_lock:
            return list(self.state.log)

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request so far, in arrival order."""
        return [(r.method, r.path) for r in self.log]

    def paths(self, prefix: str = "/", method: str | None = None) -> list[str]:
        return [p for m, p in self.requests if p.startswith(prefix) and method in (None, m)]

    @property
    def downloads(self) -> list[str]:
        """GET paths under /packages/ (files and .metadata)."""
        return self.paths("/packages/", "GET")

    @property
    def sent(self) -> list[tuple[float, int]]:
        """(time.monotonic(), body bytes) of every response so far, in order."""
        with self.state.log_lock:
            return list(self.state.sent)

    def reset_log(self) -> None:
        with self.state.log_lock:
            self.state.log.clear()
            self.state.sent.clear()

    # --- faults --------------------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        return self.state.faults

    def _add(self, kind: FaultKind, pattern: str, times: int | None, method: str | None, **kw: object) -> Fault:
        return self.faults.add(Fault(kind, pattern, times=times, method=method, **kw))  # type: ignore[arg-type]

    def fail(
        self,
        pattern: str,
        status: int = 500,
        *,
        times: int | None = 1,
        method: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer ``status`` instead of the page."""
        return self._add(FaultKind.STATUS, pattern, times, method, status=status, headers=dict(headers or {}))

    def rate_limit(
        self, pattern: str, retry_after: int = 1, *, times: int | None = 1, method: str | None = None
    ) -> Fault:
        """Answer 429 with ``Retry-After: <retry_after>``."""
        return self.fail(pattern, 429, times=times, method=method, headers={"Retry-After": str(retry_after)})

    def drop(
        self, pattern: str, *, after_bytes: int | None = None, times: int | None = 1, method: str | None = None
    ) -> Fault:
        """Close the connection: with no response at all, or (``after_bytes=n``) after sending
        the headers with the full Content-Length and only ``n`` body bytes."""
        return self._add(FaultKind.DROP, pattern, times, method, keep=after_bytes)

    def truncate(
        self, pattern: str, *, keep: int | None = None, times: int | None = 1, method: str | None = None
    ) -> Fault:
        """A well-formed response whose body (and Content-Length) is cut to ``keep`` bytes (default half)."""
        return self._add(FaultKind.TRUNCATE, pattern, times, method, keep=keep)

    def corrupt(self, pattern: str, *, times: int | None = 1, method: str | None = None, every: int = 1) -> Fault:
        """Same length, one byte flipped: the digest no longer matches what the JSON says.
        ``every=n``: only every n-th matching request is corrupted."""
        return self._add(FaultKind.CORRUPT, pattern, times, method, every=every)

    def stale_serial(
        self, pattern: str, *, serial: int | None = None, times: int | None = 1, method: str | None = None
    ) -> Fault:
        """X-PyPI-Last-Serial set to ``serial`` (default: the real one minus 1)."""
        return self._add(FaultKind.STALE_SERIAL, pattern, times, method, serial=serial)

    def omit_serial(self, pattern: str, *, times: int | None = 1, method: str | None = None) -> Fault:
        """No X-PyPI-Last-Serial header."""
        return self._add(FaultKind.NO_SERIAL, pattern, times, method)

    def bad_json(self, pattern: str, *, times: int | None = 1, method: str | None = None) -> Fault:
        """A 200 with the usual headers whose body is not valid JSON."""
        return self._add(FaultKind.BAD_JSON, pattern, times, method)

    def patch_json(
        self,
        pattern: str,
        fields: Mapping[str, object],
        *,
        headers: Mapping[str, str] | None = None,
        times: int | None = 1,
        method: str | None = None,
    ) -> Fault:
        """A JSON body with its top-level ``fields`` replaced and ``headers`` set (poisoned values)."""
        return self._add(FaultKind.PATCH_JSON, pattern, times, method, fields=dict(fields), headers=dict(headers or {}))

    def delay(self, pattern: str, seconds: float, *, times: int | None = 1, method: str | None = None) -> Fault:
        """Wait ``seconds`` before answering normally."""
        return self._add(FaultKind.DELAY, pattern, times, method, delay=seconds)

    def trickle(
        self, pattern: str, *, piece: int = 1024, pause: float = 0.05, times: int | None = 1, method: str | None = None
    ) -> Fault:
        """The full response, ``piece`` bytes at a time with ``pause`` seconds between (a slow link)."""
        return self._add(FaultKind.TRICKLE, pattern, times, method, keep=piece, delay=pause)

    def oversize(
        self, pattern: str, *, total: int = 1 << 30, times: int | None = 1, method: str | None = None
    ) -> Fault:
        """The real body followed by filler, chunked, ``total`` bytes in all; ``.sent`` counts what went out."""
        return self._add(FaultKind.OVERSIZE, pattern, times, method, keep=total)

    def gzip_bomb(
        self, pattern: str, *, size: int = 1 << 30, times: int | None = 1, method: str | None = None
    ) -> Fault:
        """``Content-Encoding: gzip`` over ``size`` zero bytes (about 1 KiB on the wire per MiB)."""
        return self._add(FaultKind.GZIP_BOMB, pattern, times, method, keep=size)

    def clear_faults(self) -> None:
        self.faults.clear()


@contextlib.contextmanager
def run_fake_pypi(index: FakeIndex | None = None, *, files_url: str | None = None) -> Iterator[FakePyPI]:
    """Serve ``index`` for the duration of the block (sync code)."""
    with FakePyPI(index, files_url=files_url) as pypi:
        yield pypi


@contextlib.asynccontextmanager
async def serve_fake_pypi(index: FakeIndex | None = None, *, files_url: str | None = None) -> AsyncIterator[FakePyPI]:
    """Serve ``index`` for the duration of the block (async code); the server has its own thread."""
    pypi = FakePyPI(index, files_url=files_url)
    await asyncio.to_thread(pypi.start)
    try:
        yield pypi
    finally:
        await asyncio.to_thread(pypi.stop)
