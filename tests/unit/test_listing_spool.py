"""A listing past ``spool.SPOOL_AT`` is streamed to an unlinked temporary file and read through a map.

The map is checked a piece at a time (``protocol/listmap``) and decoded per pass over slices of
it; every answer must be the one the listing gives in memory: entries, skipped and invalid
names, root serial, refusals, and whole runs' plans. The thresholds are lowered here so that
small listings take the path PyPI's 31-37 MB listing takes.
"""

from __future__ import annotations

import json
import mmap
import os
import random
import re
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from frumious.errors import BadUpstreamData, BodyTooLarge, FrumiousError, ProtocolError
from frumious.http import spool
from frumious.protocol import listing, parse, simple691
from frumious.testing.harness import Bench
from frumious.testing.memhttp import MemIndex


def mapped(body: bytes) -> mmap.mmap:
    with tempfile.TemporaryFile() as file:
        file.write(body)
        file.flush()
        return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)


def outcome(body: listing.Body) -> tuple[Any, ...]:
    """What a listing gives: its entries, skips, invalid names and serial, or the refusal's message."""
    try:
        scan = parse.scan_listing(body, 7)
        entries = [(entry.name, entry.serial) for entry in scan]
        count = scan.entry_count()
        return ("read", entries, scan.skipped, scan.invalid, scan.ceiling, count if count >= 0 else None)
    except BadUpstreamData as exc:
        return ("refused", str(exc))


def same(body: bytes) -> None:
    in_memory, through_map = outcome(body), outcome(mapped(body))
    if in_memory[0] == "read" and in_memory[-1] is None:
        through_map = (*through_map[:-1], None)  # decoded whole in memory: no count to compare
    assert through_map == in_memory, body[:300]


def listings() -> Iterator[bytes]:
    """PyPI's shape and odd ones: nested keys, odd entries, escapes, meta after, invalid or cut JSON."""
    rng = random.Random(12)
    yield b'{"meta":{"_last-serial":9,"api-version":"1.1"},"projects":[]}'
    for round_ in range(60):
        items: list[str] = []
        for i in range(rng.randrange(0, 120)):
            kind = rng.random()
            name = rng.choice([f"pkg-{i}", f"caf\u00e9-{i}", "projects", "", "n},{" + str(i)])
            if kind < 0.7:
                items.append(json.dumps({"name": name, "_last-serial": rng.randrange(0, 12)}, ensure_ascii=False))
            elif kind < 0.8:
                extra = {"x": [1, {"y": {"z": "},"}}], "w": {}}
                items.append(json.dumps({"_last-serial": 3, "name": name, "extra": extra}, ensure_ascii=False))
            elif kind < 0.9:
                items.append(rng.choice(['{"name": null, "_last-serial": 1}', '{"name": "s", "_last-serial": "1"}']))
            else:
                items.append(rng.choice(['"g"', "7", "null", '{"name": "big", "_last-serial": 99999999999}']))
        projects = "[" + ",\n ".join(items) + "]"
        meta = '{"_last-serial": 10, "api-version": "1.1"}' if round_ % 3 else "{}"
        body = (
            f'{{"meta": {meta}, "projects": {projects}}}'
            if round_ % 2
            else f'{{"projects" : {projects}, "meta": {meta}, "after": [1, {{"a": "}},"}}]}}'
        ).encode()
        yield body
        cut = rng.randrange(1, len(body))
        yield body[:cut]  # truncated
        yield body[:cut] + b"\x00" + body[cut + 1 :]  # corrupted
        yield body[:cut] + b"\\u0041" + body[cut:]  # an escape
        yield body[:cut] + b"\xff" + body[cut:]  # not UTF-8
    yield (
        b'{"meta": {"projects": [{"name": "decoy", "_last-serial": 1}]},'
        b' "projects": [{"name": "a", "_last-serial": 2}]}'
    )
    yield b'{"meta": {"api-version": "2.0"}, "projects": []}'
    yield b'{"meta": [], "projects": [{"name": "a", "_last-serial": 2}]}'
    yield b'{"projects": {"a": 1}}'
    yield b'{"projects": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    yield b"<html><body></body></html>"


@pytest.mark.parametrize("chunk", [16, 100, 1 << 18])
def test_a_mapped_listing_reads_as_the_same_listing_in_memory(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(listing, "CHUNK", chunk)
    for body in listings():
        same(body)


def test_a_mapped_listing_is_read_in_pieces_and_its_pages_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(listing, "CHUNK", 4096)
    items = ",".join(f'{{"name":"project-{i}","_last-serial":{i}}}' for i in range(20_000))
    body = mapped(f'{{"meta":{{"_last-serial":20000}},"projects":[{items}]}}'.encode())
    dropped: list[tuple[int, int]] = []
    real_drop = listing.drop

    def spy(body: listing.Body, start: int, end: int) -> int:
        dropped.append((start, end))
        return real_drop(body, start, end)

    monkeypatch.setattr(listing, "drop", spy)
    scan = parse.scan_listing(body)
    assert scan.body is body and scan.span is not None and scan.entry_count() == 20_000
    assert len(list(scan)) == 20_000
    # Each pass lets go of the pages behind it, a piece at a time, up to the end.
    assert len(dropped) > 100 and dropped[-1][1] == len(body)
    scan.close()
    assert body.closed


class Streamed:
    """A response streamed in pieces, without a declared length (as a gzip-encoded listing is)."""

    url = "https://pypi.example/simple/"

    def __init__(self, pieces: list[bytes], fail_after: int | None = None) -> None:
        self.pieces, self.fail_after, self.served = pieces, fail_after, 0
        self.headers: dict[str, str] = {"content-encoding": "gzip"}

    async def read(self, limit: int | None = None) -> bytes:
        raise AssertionError("a big body is streamed, not read whole")

    async def iter_chunks(self, size: int) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            if self.fail_after is not None and self.served == self.fail_after:
                raise ProtocolError(f"{self.url}: connection closed short")
            self.served += 1
            yield piece


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


async def test_a_big_body_is_spooled_and_a_small_one_stays_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool, "SPOOL_AT", 1000)
    small = await spool.read_spooled(Streamed([b"x" * 600, b"y" * 400]), None)  # type: ignore[arg-type]
    assert small == b"x" * 600 + b"y" * 400
    big = await spool.read_spooled(Streamed([b"x" * 600, b"y" * 600, b"z" * 5]), None)  # type: ignore[arg-type]
    assert isinstance(big, mmap.mmap) and big[:] == b"x" * 600 + b"y" * 600 + b"z" * 5
    assert spool.head(big) == b"x" and spool.head(mapped(b" \n {}")) == b"{"
    spool.close(big)


async def test_a_listing_past_its_limit_is_refused_while_streaming(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool, "SPOOL_AT", 1000)
    before = open_fds()
    response = Streamed([b"x" * 1000] * 50)
    with pytest.raises(BodyTooLarge, match="larger than the limit of 2500 bytes; refused"):
        await spool.read_spooled(response, 2500)  # type: ignore[arg-type]
    assert response.served == 3  # refused as it passed the limit, not after reading all of it
    declared = Streamed([b"x" * 1000] * 50)
    declared.headers = {"content-length": "50000"}
    with pytest.raises(BodyTooLarge, match="body of 50000 bytes is larger than the limit of 2500"):
        await spool.read_spooled(declared, 2500)  # type: ignore[arg-type]
    assert declared.served == 0  # a declared length is refused before a byte is read
    cut = Streamed([b"x" * 1000] * 50, fail_after=5)
    with pytest.raises(ProtocolError, match="closed short"):
        await spool.read_spooled(cut, None)  # type: ignore[arg-type]
    assert open_fds() == before  # no temporary file left open


def bench(tmp_path: Path, projects: int, **mirror: object) -> Bench:
    index = MemIndex()
    for i in range(projects):
        index.add(f"Project-{i:04d}", "1.0", {f"project_{i:04d}-1.0.tar.gz": b"body %d" % i})
    return Bench.create(tmp_path, index, **mirror)


@pytest.mark.parametrize("kind", ["json", "no serials", "html"])
@pytest.mark.usefixtures("no_sockets")
async def test_a_spooled_listing_plans_and_mirrors_as_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    runs = []
    for spooled in (False, True):
        mirror = bench(tmp_path / str(spooled), 40)
        mirror.index.serials = kind != "no serials"
        mirror.index.html_only = kind == "html"
        bodies: list[type] = []

        def spy(body: listing.Body, header: int | None, seen: list[type] = bodies) -> listing.ListingScan:
            seen.append(type(body))
            return parse.scan_listing(body, header)

        monkeypatch.setattr(simple691, "scan_listing", spy)
        monkeypatch.setattr(spool, "SPOOL_AT", 500 if spooled else 1 << 30)
        monkeypatch.setattr(listing, "CHUNK", 64)
        before = open_fds()
        first = await mirror.mirror()
        mirror.index.remove("Project-0003")
        mirror.index.add("Late", "2.0", {"late-2.0.tar.gz": b"late"})
        second = await mirror.mirror()
        assert open_fds() == before  # the map (and its temporary file) closed with the plan
        if kind == "json":
            assert bodies == [mmap.mmap if spooled else bytes] * 2
        stored = {key: mirror.read(key) for key in mirror.stored() if key != "web/last-modified"}  # the time
        for timed in (".frumious/upstream-feed", ".frumious/vanishing"):  # times of the run, names kept
            stored[timed] = re.sub(rb"\d{9,}(\.\d+)?", b"T", stored.get(timed, b""))
        reports = [(r.ok, r.serial, list(r.synced), r.gone, r.removed_projects, r.retry) for r in (first, second)]
        runs.append((reports, sorted(stored.items())))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("piece", [1000, 300_000])
async def test_a_full_tmpdir_refuses_the_listing_in_one_line(monkeypatch: pytest.MonkeyPatch, piece: int) -> None:
    # Pieces smaller than the file's buffer stay buffered after the failed write: closing the spool
    # flushes them again, and that second ENOSPC (an OSError naming no path) must not replace the refusal.
    monkeypatch.setattr(spool, "SPOOL_AT", 1000)
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda: open("/dev/full", "w+b"))  # noqa: SIM115
    before = open_fds()
    with pytest.raises(FrumiousError, match=r"cannot write the body to a temporary file in .* \(TMPDIR\): .*No space"):
        await spool.read_spooled(Streamed([b"x" * piece] * 50), None)  # type: ignore[arg-type]
    assert open_fds() == before


async def test_a_listing_with_a_non_ascii_digit_length_is_read_as_undeclared(monkeypatch: pytest.MonkeyPatch) -> None:
    # A chunked answer's Content-Length is not the client's framing, so nothing checked it: "²" (latin-1
    # \xb2) is a digit to str.isdigit but not to int(), which raised a ValueError (a traceback).
    monkeypatch.setattr(spool, "SPOOL_AT", 1000)
    response = Streamed([b"x" * 600] * 3)
    response.headers = {"content-length": "\xb2"}  # (now also ignored when chunked: then any Content-Length is)
    body = await spool.read_spooled(response, None)  # type: ignore[arg-type]
    assert isinstance(body, mmap.mmap) and body[:] == b"x" * 1800
    spool.close(body)


async def test_an_empty_body_declared_big_is_empty_bytes_not_a_map_error() -> None:
    # A chunked answer whose (ignored) Content-Length says more than SPOOL_AT, with an empty body: the
    # spool starts at the first piece, and mapping its empty file raised ValueError (a traceback).
    response = Streamed([])
    response.headers = {"content-length": str(spool.SPOOL_AT + 1)}  # (chunked: now not declared at all)
    before = open_fds()
    assert await spool.read_spooled(response, None) == b""  # type: ignore[arg-type]
    assert open_fds() == before


async def test_a_tmpdir_that_cannot_map_refuses_the_listing_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> mmap.mmap:
        raise OSError(19, "No such device")  # ENODEV: a file system without mmap

    monkeypatch.setattr(spool, "SPOOL_AT", 1000)
    monkeypatch.setattr(spool.mmap, "mmap", refuse)
    before = open_fds()
    with pytest.raises(FrumiousError, match=r"cannot map the body's temporary file in .* \(TMPDIR\): .*No such device"):
        await spool.read_spooled(Streamed([b"x" * 600] * 3), None)  # type: ignore[arg-type]
    assert open_fds() == before


async def test_no_usable_temporary_directory_refuses_the_listing_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # TMPDIR, /tmp, /var/tmp and the working directory all unusable (a read-only container): tempfile
    # raises "No usable temporary directory" from TemporaryFile, and again from the gettempdir() the
    # refusal called to name the directory, which escaped as a bare FileNotFoundError (a traceback).
    monkeypatch.setattr(spool, "SPOOL_AT", 1000)
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setenv("TMPDIR", "/nonexistent/frumious-tmp")
    monkeypatch.setattr(tempfile, "_candidate_tempdir_list", lambda: ["/nonexistent/frumious-tmp"])
    with pytest.raises(FrumiousError, match=r"cannot make a temporary file for the body in /nonexistent/frumious-tmp"):
        await spool.read_spooled(Streamed([b"x" * 600] * 3), None)  # type: ignore[arg-type]


async def test_a_chunked_listings_content_length_is_not_its_length() -> None:
    # Framing by chunks overrides Content-Length (RFC 9112 6.3), as the client reads it: a chunked listing
    # sent with a stray length past max-listing-size was refused unread, where before it was read.
    response = Streamed([b'{"projects":[]}'])
    response.headers = {"content-length": "999999999", "transfer-encoding": "chunked"}
    assert await spool.read_spooled(response, 1000) == b'{"projects":[]}'  # type: ignore[arg-type]


@pytest.mark.usefixtures("no_sockets")
async def test_a_run_whose_listing_cannot_be_spooled_stops_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = bench(tmp_path, 40)
    await mirror.mirror()
    before = {key: mirror.read(key) for key in mirror.stored()}
    mirror.index.add("Late", "2.0", {"late-2.0.tar.gz": b"late"})
    monkeypatch.setattr(spool, "SPOOL_AT", 500)
    monkeypatch.setattr(tempfile, "TemporaryFile", lambda: open("/dev/full", "w+b"))  # noqa: SIM115
    with pytest.raises(FrumiousError, match=r"\(TMPDIR\): .*No space left on device"):
        await mirror.mirror()
    assert {key: mirror.read(key) for key in mirror.stored()} == before
