"""The status page (``/``) and ``/-/status.json`` of ``frumious serve``: reading what they show.

Cheap figures come from the store on every request (the ``status`` file's serial and
``.frumious/failed``); the record's history and totals come from ``frumious.sqlite`` through
a read-only connection on a thread, reused for ``RECORD_TTL`` seconds: counting the files
of a full PyPI record (millions of rows) takes about a second, too long for every request.
On a store without local paths (S3, Swift) the record is not on this machine: the page says so.
A mirror synced in shards has no record of its own: each shard's is read (its runs labelled with
the shard, the totals summed) and each shard's failures shown.
The rendering is pure (``protocol/statuspage``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

from aiohttp import web

from frumious.errors import FrumiousError
from frumious.models import replace
from frumious.protocol import layout, shardfiles, statefiles, statuspage
from frumious.protocol.runs import RunRow, Totals
from frumious.protocol.statuspage import Failing, StatusView
from frumious.record import history
from frumious.record.db import RECORD_KEY
from frumious.shard import MAX_SHARDS, Shard
from frumious.storage.base import Store, local_path

__all__ = ["StatusPage"]

RECORD_TTL = 10.0


class StatusPage:
    """Answers ``/`` and ``/-/status.json`` for one store served under ``prefix``."""

    def __init__(self, store: Store, prefix: str) -> None:
        self.store, self.prefix = store, prefix
        self.record = local_path(store, RECORD_KEY)
        self._cached: tuple[float, list[RunRow] | None, Totals | None] | None = None

    async def html(self, request: web.BaseRequest) -> web.Response:
        body = statuspage.render_html(await self.view(request))
        return self._answer(request, body, "text/html; charset=utf-8")

    async def json(self, request: web.BaseRequest) -> web.Response:
        body = statuspage.render_json(await self.view(request))
        return self._answer(request, body, "application/json")

    def _answer(self, request: web.BaseRequest, body: bytes, kind: str) -> web.Response:
        headers = {"Content-Type": kind, "Cache-Control": "no-cache"}
        if request.method == "HEAD":
            return web.Response(headers={**headers, "Content-Length": str(len(body))})
        return web.Response(body=body, headers=headers)

    async def view(self, request: web.BaseRequest) -> StatusView:
        runs, totals = await self._from_record()
        serial = await self._serial()
        failing = await self._failing(runs or [])
        url = statuspage.index_url(_scheme(request), request.headers.get("Host"), self.prefix, _own_host(request))
        return StatusView(url, time.time(), serial, runs, totals, failing, local=self.record is not None)

    async def _from_record(self) -> tuple[list[RunRow] | None, Totals | None]:
        if self.record is None:
            return None, None
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > RECORD_TTL:
            records = await self._records(self.record)
            runs, totals = await asyncio.to_thread(_read_records, records)
            self._cached = (now, runs, totals)
        return self._cached[1], self._cached[2]

    async def _records(self, own: str) -> list[tuple[Shard | None, str]]:
        """The records to read: the mirror's own, or on a mirror synced in shards (none of its own) each shard's."""
        shards = [] if os.path.exists(own) else await self._shards()
        if not shards:
            return [(None, own)]
        paths = [(shard, local_path(self.store, f"{shard.prefix}/{RECORD_KEY}")) for shard in shards]
        return [(shard, path) for shard, path in paths if path is not None]

    async def _shards(self) -> list[Shard]:
        """The shards the publish step last joined (none: not a sharded mirror, or not yet published)."""
        with contextlib.suppress(FrumiousError):
            published = shardfiles.parse_published(await self.store.read(shardfiles.PUBLISHED))
            if published is not None and 1 <= published.count <= MAX_SHARDS:
                return Shard.all(published.count)
        return []

    async def _read(self, key: str) -> str | None:
        with contextlib.suppress(FrumiousError):  # missing (never synced, never failed) or unreadable
            return (await self.store.read(key)).decode("utf-8", "replace")
        return None

    async def _serial(self) -> int | None:
        text = await self._read(layout.STATUS)
        with contextlib.suppress(FrumiousError):
            return None if text is None else statefiles.parse_serial(text)
        return None

    async def _failing(self, runs: list[RunRow]) -> list[Failing]:
        """``.frumious/failed``, each with the newest reason the history holds for it."""
        failures = statefiles.parse_failures(await self._read(layout.FAILED) or "")
        for shard in await self._shards():  # a sharded mirror's failures are carried by each shard
            failures.update(statefiles.parse_failures(await self._read(f"{shard.prefix}/{layout.FAILED}") or ""))
        reasons: dict[str, str] = {}
        for run in runs:  # oldest first: newer reasons win
            reasons.update(run.reasons)
        return [
            Failing(failure.name, failure.count, failure.retry_at, reasons.get(failure.name) or reasons.get(name))
            for name, failure in sorted(failures.items())
        ]


def _read_records(records: list[tuple[Shard | None, str]]) -> tuple[list[RunRow] | None, Totals | None]:
    """The runs (each shard's labelled with it, oldest first) and the totals summed over ``records``."""
    runs: list[RunRow] | None = None
    totals: Totals | None = None
    for shard, path in records:
        found = history.recent(path)
        if found is not None:
            labelled = found if shard is None else [replace(row, command=f"{row.command} {shard}") for row in found]
            runs = [*(runs or []), *labelled]
        counted = history.totals(path)
        if counted is not None:
            before = totals or Totals(0, 0, 0)
            totals = Totals(
                before.projects + counted.projects, before.files + counted.files, before.bytes + counted.bytes
            )
    if runs is not None and len(records) > 1:
        runs = sorted(runs, key=lambda row: row.started)[-history.RECENT :]
    return runs, totals


def _scheme(request: web.BaseRequest) -> str:
    # Behind a TLS-terminating proxy (docs/serving.md's nginx config) the client spoke https.
    forwarded = request.headers.get("X-Forwarded-Proto", "").strip().lower()
    return forwarded if forwarded in ("http", "https") else request.scheme


def _own_host(request: web.BaseRequest) -> str:
    """The address this connection reached, for a request without a usable Host header."""
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    if isinstance(sockname, tuple) and len(sockname) >= 2:
        host = str(sockname[0])
        return f"[{host}]:{sockname[1]}" if ":" in host else f"{host}:{sockname[1]}"
    return "localhost"
