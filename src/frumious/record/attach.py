"""Where the record lives and how a command opens it.

On the filesystem it is ``frumious.sqlite`` at the mirror root. On object stores SQLite still
needs a local file; ``attached`` keeps a working copy in the user's cache directory, fetches
it from the store when the local copy is missing or stale, and uploads it when the command ends.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from pathlib import Path

from frumious.errors import ObjectMissing
from frumious.protocol import layout
from frumious.record.db import RECORD_KEY, MirrorRecord
from frumious.record.errors import RecordUnusable
from frumious.storage.base import Store, local_path

log = logging.getLogger("frumious.record.attach")

# A random token, rewritten with every upload, tells a cached copy from a stale one.
TOKEN_KEY = ".frumious/index-token"
# The store's token while a command has the record checked out.
IN_USE = "in-use"


def cache_path(store: Store) -> Path:
    """The local working copy for a store without local paths (object stores)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    digest = hashlib.sha256(store.description.encode("utf-8")).hexdigest()[:24]
    return base / "frumious" / f"{digest}.sqlite"


async def tree_stamp(store: Store) -> str:
    """What the record was last in step with: ``status`` and ``web/last-modified``.

    Another tool (bandersnatch) syncing the tree rewrites both, so a changed stamp
    means the record may lag the tree and must be rebuilt.
    """
    parts = []
    for key in (layout.STATUS, layout.LAST_MODIFIED):
        try:
            parts.append((await store.read(key)).decode("ascii", "replace").strip())
        except ObjectMissing:
            parts.append("")
    return "|".join(parts)


async def restamp(store: Store, record: MirrorRecord) -> None:
    record.set_meta("stamp", await tree_stamp(store))


@asynccontextmanager
async def attached(store: Store) -> AsyncIterator[MirrorRecord]:
    """The mirror's record, opened for one command and closed (and uploaded) after it."""
    local = local_path(store, RECORD_KEY)
    if local is not None:
        record = open_or_replace(local)
        try:
            yield record
        finally:
            record.close()
        return
    path = cache_path(store)
    interrupted = await _fetch_copy(store, path)
    record = open_or_replace(str(path))
    record.was_unclean = record.was_unclean or interrupted
    # Until the upload at the end, the store's copy may lag the tree: say so.
    await store.write(TOKEN_KEY, IN_USE.encode("ascii"))
    try:
        yield record
    finally:
        await _upload(store, record)


def open_or_replace(path: str) -> MirrorRecord:
    """Open the record; a damaged one is set aside (it is rebuilt from the tree).

    Only damage does that: a record the disk will not let us write (full, read-only)
    is an error, and the file and its WAL stay as they are.
    """
    try:
        return MirrorRecord(path)
    except RecordUnusable as exc:
        log.warning("%s; moving it to %s.unusable", str(exc).split(";")[0], path)
        os.replace(path, path + ".unusable")
        for suffix in ("-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)
        return MirrorRecord(path)


async def _fetch_copy(store: Store, path: Path) -> bool:
    """Make ``path`` a copy of the store's record unless it is one; True when that copy may lag the tree."""
    try:
        remote_token = (await store.read(TOKEN_KEY)).decode("ascii", "replace").strip()
    except ObjectMissing:
        remote_token = ""
    if path.exists() and remote_token not in ("", IN_USE) and _local_token(path) == remote_token:
        return False
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    if not remote_token:
        return False  # no record in the store: start empty, rebuilt from the pages
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = await store.read(RECORD_KEY)
    except ObjectMissing:
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    log.info("Fetched the mirror's record from %s (%d bytes)", store.description, len(data))
    return remote_token == IN_USE


def _local_token(path: Path) -> str | None:
    try:
        with closing(sqlite3.connect(path)) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'token'").fetchone()
    except sqlite3.DatabaseError:
        return None
    return None if row is None else str(row[0])


async def _upload(store: Store, record: MirrorRecord) -> None:
    """Put the working copy back into the store (when it changed), then its token."""
    changed = record.changed
    token = secrets.token_hex(16) if changed else record.get_meta("token") or secrets.token_hex(16)
    record.set_meta("token", token)
    record.close()
    if changed:
        writer = await store.writer(RECORD_KEY)
        try:
            with open(record.path, "rb") as handle:
                while chunk := handle.read(1024 * 1024):
                    await writer.write(chunk)
            await writer.commit()
        except BaseException:
            await writer.abort()
            raise
    await store.write(TOKEN_KEY, token.encode("ascii"))
