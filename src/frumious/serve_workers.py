"""Running ``frumious serve`` as a process: one server, or workers sharing the port.

Kept apart from ``serve`` (the HTTP application) because forking and signal
relaying are process management, not request handling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket

from frumious.serve import serve
from frumious.settings import Settings
from frumious.storage import open_store

__all__ = ["serve_main"]

log = logging.getLogger("frumious.serve")


def serve_main(settings: Settings, host: str, port: int, root_path: str, workers: int = 1) -> int:
    """``frumious serve``: serve the configured mirror until signalled; the exit code."""
    if workers <= 1:
        asyncio.run(_serve_settings(settings, host, port, root_path, reuse_port=False))
        return 0
    return _serve_workers(settings, host, port, root_path, workers)


async def _serve_settings(settings: Settings, host: str, port: int, root_path: str, *, reuse_port: bool) -> None:
    store = open_store(settings)
    mirror = settings.mirror
    try:
        await serve(store, host=host, port=port, root_path=root_path, hash_index=mirror.hash_index,
                    json_enabled=mirror.json, reuse_port=reuse_port)  # fmt: skip
    finally:
        await store.close()


def _serve_workers(settings: Settings, host: str, port: int, root_path: str, workers: int) -> int:
    """Fork ``workers`` processes that each listen with SO_REUSEPORT; relay SIGTERM/SIGINT to them.

    When one worker fails the others are stopped too, and the exit code is 1.
    """
    reservation = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    reservation.bind((host, port))  # bound, never listening: it only holds the port
    port = reservation.getsockname()[1]
    children: set[int] = set()

    def stop_all(signum: int = signal.SIGTERM, _frame: object = None) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    previous = {s: signal.signal(s, stop_all) for s in (signal.SIGTERM, signal.SIGINT)}
    failed = False
    try:
        for _ in range(workers):
            if (pid := os.fork()) == 0:  # pragma: no cover - the child
                _worker(settings, host, port, root_path, reservation)
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


def _worker(settings: Settings, host: str, port: int, root_path: str, reservation: socket.socket) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):  # until serve() takes over: nothing to finish yet
        signal.signal(signum, lambda _signum, _frame: os._exit(0))
    reservation.close()
    code = 0
    try:
        asyncio.run(_serve_settings(settings, host, port, root_path, reuse_port=True))
    except BaseException:
        log.exception("worker %d failed", os.getpid())
        code = 1
    os._exit(code)
