"""A PyPI-sized synthetic upstream on 127.0.0.1: ``pypi_shape.Shape`` behind upstream.py's raw server.

    .venv/bin/python benchmarks/pypi_upstream.py --projects 700000 [--max-files 40000] [--size 100]
        [--journal 1,0,100,d1] [--generation G] [--seed 1] [--port 0] [--pep691-only]

The first stdout line is the base URL. Nothing is stored but the shape's per-project hashes
(about 60 MB for 700,000 projects) and the current listing: each project's Warehouse JSON, its
PEP 691 page and each file's bytes are generated when asked (files from their URL path alone).
The listing (31 MB for 700k projects) is rendered once per generation (0.7 s).

Endpoints: ``GET /simple/`` (ETag, ``If-None-Match`` -> 304), ``/simple/<name>/``,
``/pypi/<name>/json`` (``X-PyPI-Last-Serial``), ``/packages/...`` (the bytes), and the admin
calls ``POST /_generation?g=G`` (move along the journal; 0 is the initial index),
``GET /_stats`` (requests by kind, bytes, the server's CPU seconds), ``GET /_changed?g=G``
(the project names generation G moved). ``--pep691-only`` makes it an index that speaks only the
Simple API: ``/pypi/`` answers 404 and no answer carries ``X-PyPI-Last-Serial`` (the serials are in
each page's ``meta._last-serial`` only). See benchmarks/README.md, "PyPI scale".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from typing import Any
from urllib.parse import parse_qs, unquote

from pypi_shape import Shape
from upstream import _METHOD, _NOT_FOUND, HOST, JSON_LISTING_TYPE, Body, Stats, _Connection, _head, make_body

_FILE_TYPE = "application/octet-stream"


class PypiServer:
    """Routes requests to bodies generated from the shape (the handler ``_Connection`` calls)."""

    def __init__(self, shape: Shape, pep691_only: bool = False) -> None:
        self.shape = shape
        self.stats = Stats()
        self.base_url = ""
        self.pep691_only = pep691_only
        self.latency = 0.0  # upstream.py's _Connection asks (its --latency); this server answers at once
        self.think = 0.0  # and its --think
        self.listing: Body = make_body(shape.listing(), JSON_LISTING_TYPE, self._header(shape.last_serial))
        self._file_head = _head("200 OK", [("Content-Type", _FILE_TYPE), ("Content-Length", str(shape.size))])

    def protocol(self) -> _Connection:
        return _Connection(self)  # type: ignore[arg-type]

    def set_generation(self, generation: int) -> None:
        self.shape.at(generation)
        self.listing = make_body(self.shape.listing(), JSON_LISTING_TYPE, self._header(self.shape.last_serial))

    def _header(self, serial: int) -> int | None:
        """The X-PyPI-Last-Serial to send: none from a Simple-API-only index."""
        return None if self.pep691_only else serial

    def respond(self, method: bytes, target: str, headers: dict[bytes, bytes]) -> bytes:
        path, _, query = target.partition("?")
        if path.startswith("/_"):
            return self._admin(method, path, query)
        if method != b"GET":
            self.stats.requests["other"] += 1
            return _METHOD
        if path.startswith("/packages/"):
            info = self.shape.locate(unquote(path))
            self.stats.requests["file" if info else "404"] += 1
            if info is None:
                return _NOT_FOUND
            return self._file_head + self.shape.content(info.index, info.version, info.wheel)
        if path in ("/simple/", "/simple"):
            return self._send("listing", self.listing, headers)
        parts = [p for p in unquote(path).split("/") if p]
        index = self.shape.index_of(parts[1]) if len(parts) >= 2 else None
        if index is None or not self.shape.listed(index):
            self.stats.requests["404"] += 1
            return _NOT_FOUND
        serial = self.shape.serial(index)
        if len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json" and not self.pep691_only:
            body = make_body(self.shape.warehouse_json(index, self.base_url), "application/json", serial)
            return self._send("json", body, headers)
        if len(parts) == 2 and parts[0] == "simple":
            body = make_body(self.shape.simple_json(index, self.base_url), JSON_LISTING_TYPE, self._header(serial))
            return self._send("simple_page", body, headers)
        self.stats.requests["404"] += 1
        return _NOT_FOUND

    def _send(self, kind: str, body: Body, headers: dict[bytes, bytes]) -> bytes:
        inm = headers.get(b"if-none-match")
        if inm is not None and body.etag.encode() in [t.strip().removeprefix(b"W/") for t in inm.split(b",")]:
            self.stats.requests[kind + "_304"] += 1
            return body.not_modified
        self.stats.requests[kind] += 1
        return body.full

    def _admin(self, method: bytes, path: str, query: str) -> bytes:
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        shape = self.shape
        result: dict[str, Any]
        if path == "/_stats" and method == b"GET":
            result = {**self.stats.as_dict(), "generation": shape.generation, "serial": shape.last_serial}
        elif path == "/_changed" and method == b"GET":
            result = {"changed": [shape.canonical(i) for i in shape.changed(int(params.get("g", "1")))]}
        elif path == "/_generation" and method == b"POST":
            self.set_generation(int(params.get("g", "0")))
            result = {"generation": shape.generation, "serial": shape.last_serial}
        else:
            return _NOT_FOUND
        payload = json.dumps(result).encode()
        return _head("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]) + payload


def parse_journal(text: str) -> tuple[str, ...]:
    """``"1,0,100,d1"`` -> the journal's generations (K updates, 0: listing serial only, dK deletes)."""
    specs = tuple(s.strip() for s in text.split(",") if s.strip())
    for spec in specs:
        if not spec.removeprefix("d").isdigit():
            raise SystemExit(f"bad journal entry {spec!r}: expected K (updates), 0 (listing only) or dK (deletes)")
    return specs


def add_shape_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--projects", type=int, default=700_000)
    p.add_argument("--max-files", type=int, default=40_000, help="files per project at most (the tail's cap)")
    p.add_argument("--size", type=int, default=100, help="bytes per file (default 100)")
    p.add_argument("--journal", default="1,0,100,d1", help="generations after 0 (default: 1,0,100,d1)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--spread-names", action="store_true", help="names in 676 groups by first letters, not all pkg-")


def shape_from(args: argparse.Namespace) -> Shape:
    journal = parse_journal(args.journal)
    spread = getattr(args, "spread_names", False)
    return Shape(
        args.projects, seed=args.seed, max_files=args.max_files, size=args.size, journal=journal, spread=spread
    )


async def _main(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    server = PypiServer(shape_from(args), pep691_only=args.pep691_only)
    if args.generation:
        server.set_generation(args.generation)
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(server.protocol, HOST, args.port, backlog=512, reuse_address=True)
    server.base_url = f"http://{HOST}:{listener.sockets[0].getsockname()[1]}"
    print(server.base_url, flush=True)
    print(f"pypi upstream ready in {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with listener:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="A PyPI-shaped synthetic upstream on 127.0.0.1.")
    add_shape_args(p)
    p.add_argument("--generation", type=int, default=0)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--pep691-only", action="store_true", help="no /pypi/ API, no X-PyPI-Last-Serial header")
    args = p.parse_args(argv)
    asyncio.run(_main(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
