"""What the record remembers of the last listing merged against it: the listed names' digest and their differences.

``reconcile.merge`` reads the record's 700,000 names (0.22 s of SQLite on PyPI's scale) to find the
listed projects it does not hold (``extra``) and the held ones no longer listed (``unlisted``). On
PyPI the listing changes every few seconds and its names rarely: the merge stores those two lists
with a digest of the listed names, and while the next listing's names hash the same,
``reconcile.known`` rebuilds the same answer from them without reading the names. The triggers
(``schema.TRIGGERS``) add every project name inserted, deleted or renamed since (``names_since``),
whoever writes, so a remembered answer is corrected for those names by looking each one up.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from frumious.record.db import MirrorRecord
from frumious.record.errors import writes
from frumious.record.schema import LISTED_NAMES

__all__ = ["EXTRA_LIMIT", "LIMIT", "NamesDigest", "Remembered", "forget", "recall", "store"]

# More held-but-unlisted or changed names than this: not remembered, or not used (a rebuilt record
# lists every name as changed).
LIMIT = 10_000
# Listed names the record lacks are mostly projects PyPI lists with no release (about 5 % of it,
# 35,000 names, never recorded): past LIMIT, a real mirror of PyPI would never remember its listing.
# A full sync's 700,000 names to fetch stay out (a 20 MB meta value); 100,000 is about 2 MB of JSON.
EXTRA_LIMIT = 100_000


class NamesDigest:
    """The listed names in order, hashed a chunk at a time; ``value`` None once a name holds the separator."""

    def __init__(self) -> None:
        self.hash, self.usable = hashlib.blake2b(digest_size=16), True

    def add(self, names: list[str]) -> None:
        joined = "\n".join(names)
        self.usable = self.usable and joined.count("\n") == len(names) - 1
        self.hash.update(joined.encode("utf-8", "surrogatepass") + b"\n")

    def value(self) -> str | None:
        return self.hash.hexdigest() if self.usable else None


@dataclass(frozen=True, slots=True)
class Remembered:
    digest: str
    unlisted: tuple[str, ...]  # held, not listed (canonical, in order)
    extra: frozenset[str]  # listed, not held (canonical)
    since: frozenset[str]  # names inserted, deleted or renamed in the record since
    entries: int = -1  # the listing's ``ListingScan.entry_count``


def recall(record: MirrorRecord) -> Remembered | None:
    """The remembered answer, None when there is none or too many names changed since."""
    value = record.get_meta(LISTED_NAMES)
    if value is None:
        return None
    since = [name for (name,) in record.db.execute("SELECT name FROM names_since LIMIT ?", (LIMIT + 1,))]
    try:
        found = json.loads(value)
        digest, unlisted, extra = str(found["digest"]), tuple(found["unlisted"]), frozenset(found["extra"])
        entries = int(found.get("entries", -1))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # written by hand or damaged: the merge stores it again
    return None if len(since) > LIMIT else Remembered(digest, unlisted, extra, frozenset(since), entries)


@writes
def store(record: MirrorRecord, memo: Remembered) -> None:
    """Remember a merge's answer (its changed names start again from none)."""
    fields = {"digest": memo.digest, "unlisted": memo.unlisted, "extra": sorted(memo.extra), "entries": memo.entries}
    value = json.dumps(fields)
    with record.db:
        record.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (LISTED_NAMES, value))
        record.db.execute("DELETE FROM names_since")
    record.pending = 0


@writes
def forget(record: MirrorRecord) -> None:
    """Drop a remembered answer the merge could not replace (the triggers stop noting names)."""
    if record.get_meta(LISTED_NAMES) is None:
        return
    with record.db:
        record.db.execute("DELETE FROM meta WHERE key = ?", (LISTED_NAMES,))
        record.db.execute("DELETE FROM names_since")
    record.pending = 0
