"""Running ``frumious serve``: the server loop, its logs, and workers sharing the port.

Kept apart from ``serve`` (the HTTP application: routing, negotiation, files) because
listening, shutdown, forking and signal relaying are process management, not request
handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from frumious.errors import ServeError
from frumious.protocol import serving
from frumious.serve import logfiles
from frumious.serve.app import Handler, ServedFiles
from frumious.serve.metrics import Handle, ServeMetrics, multiprocess_dir, sent_bytes
from frumious.serve.policy import NotCarried, not_carried
from frumious.settings import Settings
from frumious.storage.base import Store

__all__ = ["CombinedLog", "serve", "serve_main"]

log = logging.getLogger("frumious.serve.app")


class _ServerLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's error log: a malformed request is one info line, a handler failure a traceback."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError):
            self.logger.info("%s: %s", str(msg) % args, exc_info.message)
        else:
            self.logger.error(msg, *args, exc_info=exc_info, **kwargs)


class CombinedLog(AbstractAccessLogger):
    """The Combined Log Format, with ``%b`` the body bytes sent (sendfile included).

    aiohttp calls it once a response is sent, with the request's duration: the metrics (``meter``,
    set on a subclass) are counted here too, also when the access log itself is off.
    """

    meter: ServeMetrics | None = None

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if self.meter is not None:
            self.meter.observe(request, response, time)
        if not self.logger.isEnabledFor(logging.INFO):
            return
        line = f"{request.method} {request.raw_path} HTTP/{request.version.major}.{request.version.minor}"
        h = request.headers
        args = (request.remote, line, response.status, sent_bytes(request, response), h.get("Referer"))
        self.logger.info("%s", serving.combined_log_line(*args, h.get("User-Agent")))

    @property
    def enabled(self) -> bool:
        return self.meter is not None or self.logger.isEnabledFor(logging.INFO)


async def serve(
    store: Store,
    *,
    host: str,
    port: int,
    root_path: str = "/",
    hash_index: bool = False,
    json_enabled: bool = True,
    reuse_port: bool = False,
    started: asyncio.Future[int] | None = None,
    metrics_dir: str | None = None,
    missing: NotCarried | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT (or cancellation), then stop accepting and let requests finish.

    SIGHUP reopens the log files. With ``metrics_dir`` (``metrics.multiprocess_dir``), ``/metrics``
    answers. The handler runs on aiohttp's low-level server: ``make_app``'s router adds nothing
    here but a regex match per request.
    """
    files = ServedFiles(store)
    handler = Handler(files, hash_index=hash_index, root_path=root_path, json_enabled=json_enabled, not_carried=missing)
    handle: Handle = handler.handle
    log_class = CombinedLog
    if metrics_dir is not None:
        meter = ServeMetrics(metrics_dir, store, root_path)
        files.on_page, handle, log_class = meter.page_cache, meter.wrap(handler.handle), _metered(meter)
    access = logging.getLogger("frumious.access")
    server = web.Server(handle, access_log=access, access_log_class=log_class, logger=_ServerLog(log, {}))
    runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=10.0)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handlers: dict[signal.Signals, Callable[[], object]] = dict.fromkeys((signal.SIGTERM, signal.SIGINT), stop.set)
    handlers[signal.SIGHUP] = logfiles.reopen
    signals = tuple(handlers)
    for signum, on_signal in handlers.items():
        with contextlib.suppress(ValueError, RuntimeError):  # not the main thread (tests)
            loop.add_signal_handler(signum, on_signal)
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None, backlog=1024)
        try:
            await site.start()
        except OSError as exc:
            raise _cannot_listen(host, port, exc) from None
        bound = next((a[1] for a in runner.addresses if isinstance(a, tuple)), port)
        log.info("serving %s on http://%s:%d%s", store.description, host, bound, root_path)
        if started is not None:
            started.set_result(bound)
        await stop.wait()
        log.info("shutting down")
    finally:
        for signum in signals:
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signum)
        await runner.cleanup()


def _metered(used: ServeMetrics) -> type[CombinedLog]:
    class MeteredLog(CombinedLog):
        meter = used

    return MeteredLog


def _cannot_listen(host: str, port: int, exc: OSError) -> ServeError:
    # asyncio's own message repeats the address; the errno's text is the one line a user needs.
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return ServeError(f"cannot listen on {host}:{port}: {reason}")


# Builds the configured store: the composition root (cli.compose) passes its own in.
OpenStore = Callable[[Settings], Store]


def serve_main(
    settings: Settings, host: str, port: int, root_path: str, workers: int = 1, *, open_store: OpenStore
) -> int:
    """``frumious serve``: serve the configured mirror until signalled; the exit code.

    The metrics directory is made before the workers fork, so every worker writes into it.
    """
    with multiprocess_dir() as metrics:
        if workers <= 1:
            asyncio.run(_serve_settings(settings, open_store, host, port, root_path, reuse_port=False, metrics=metrics))
            return 0
        return _serve_workers(settings, open_store, host, port, root_path, workers, metrics)


async def _serve_settings(
    settings: Settings, open_store: OpenStore, host: str, port: int, root_path: str, *, reuse_port: bool, metrics: str
) -> None:
    store = open_store(settings)  # in the process that serves it: a forked worker opens its own
    mirror = settings.mirror
    try:
        await serve(store, host=host, port=port, root_path=root_path, hash_index=mirror.hash_index,
                    json_enabled=mirror.json, reuse_port=reuse_port, missing=not_carried(mirror),
                    metrics_dir=metrics)  # fmt: skip
    finally:
        await store.close()


def _serve_workers(
    settings: Settings, open_store: OpenStore, host: str, port: int, root_path: str, workers: int, metrics: str
) -> int:
    """Fork ``workers`` processes that each listen with SO_REUSEPORT; relay SIGTERM/SIGINT (and SIGHUP) to them.

    When one worker fails the others are stopped too, and the exit code is 1.
    """
    reservation = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        reservation.bind((host, port))  # bound, never listening: it only holds the port
    except OSError as exc:
        reservation.close()
        raise _cannot_listen(host, port, exc) from None
    port = reservation.getsockname()[1]
    children: set[int] = set()

    def stop_all(signum: int = signal.SIGTERM, _frame: object = None) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    def reopen_all(signum: int, _frame: object) -> None:
        logfiles.reopen()  # this process's own log lines (a worker failing) go to the new files too
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGHUP)

    previous = {s: signal.signal(s, stop_all) for s in (signal.SIGTERM, signal.SIGINT)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, reopen_all)
    failed = False
    try:
        for _ in range(workers):
            if (pid := os.fork()) == 0:  # pragma: no cover - the child
                _worker(settings, open_store, host, port, root_path, reservation, metrics)
            children.add(pid)
        while children:
            pid, status = os.wait()
            if pid in children:
                children.discard(pid)
                if os.waitstatus_to_exitcode(status) != 0 and not failed:
                    failed = True
                    stop_all()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        reservation.close()
    return 1 if failed else 0


def _worker(
    settings: Settings,
    open_store: OpenStore,
    host: str,
    port: int,
    root_path: str,
    reservation: socket.socket,
    metrics: str,
) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):  # until serve() takes over: nothing to finish yet
        signal.signal(signum, lambda _signum, _frame: os._exit(0))
    signal.signal(signal.SIGHUP, lambda _signum, _frame: logfiles.reopen())  # not the parent's relay
    reservation.close()
    code = 0
    try:
        asyncio.run(_serve_settings(settings, open_store, host, port, root_path, reuse_port=True, metrics=metrics))
    except BaseException:
        log.exception("worker %d failed", os.getpid())
        code = 1
    os._exit(code)
