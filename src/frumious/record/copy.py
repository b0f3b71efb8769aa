"""A throwaway copy of the record, for a run that must not write the mirror (``mirror --dry-run``).

The copy lives in a temporary directory and is brought up to date there (rebuilt from the
pages when the stored record may lag the tree); the store is only read.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from frumious.errors import ObjectMissing
from frumious.record import attach
from frumious.record.db import RECORD_KEY, MirrorRecord
from frumious.record.rebuild import rebuild, stale_reason
from frumious.settings import MirrorSettings
from frumious.storage.base import Store, local_path

log = logging.getLogger("frumious.record.copy")


@asynccontextmanager
async def private_copy(store: Store, mirror: MirrorSettings) -> AsyncIterator[MirrorRecord]:
    """The record as the next run would see it, in a copy that is thrown away after the block."""
    with tempfile.TemporaryDirectory(prefix="frumious-record-") as tmp:
        path = Path(tmp) / "frumious.sqlite"
        await _copy_into(store, path)
        record = attach.open_or_replace(str(path))
        try:
            reason = await stale_reason(store, record)
            if reason:
                log.info("Rebuilding a copy of the mirror's record from its pages: %s", reason)
                await rebuild(store, mirror, record)
            yield record
        finally:
            record.close()


async def _copy_into(store: Store, path: Path) -> None:
    local = local_path(store, RECORD_KEY)
    if local is not None:
        # The WAL too: a record closed uncleanly keeps its last writes there.
        for suffix in ("", "-wal"):
            if Path(local + suffix).exists():
                shutil.copyfile(local + suffix, str(path) + suffix)
        return
    try:
        path.write_bytes(await store.read(RECORD_KEY))
    except ObjectMissing:
        return  # no record yet: an empty copy, rebuilt from the pages
