"""What the record remembers of the last listing merged against it: digests of the listed names and their differences.

``reconcile.merge`` reads the record's 700,000 names (0.22 s of SQLite on PyPI's scale) to find the
listed projects it does not hold (``extra``) and the held ones no longer listed (``unlisted``). On
PyPI the listing changes every few seconds and its names every few minutes: the merge stores those
two lists with a digest of the listed names in each bucket (``Buckets``: the names sharing their first
two characters), and ``reconcile.known`` rebuilds the same answer from them, reading from the record
only the buckets whose names hash otherwise. The triggers (``schema.TRIGGERS``) add every project
name inserted, deleted or renamed since (``names_since``), whoever writes, so a remembered answer is
corrected for those names by looking each one up."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import msgspec

from frumious.record.db import MirrorRecord
from frumious.record.errors import writes
from frumious.record.schema import LISTED_NAMES

__all__ = ["EXTRA_LIMIT", "LIMIT", "Buckets", "Remembered", "digest_of", "forget", "recall", "store"]

# More held-but-unlisted or changed names than this: not remembered, or not used (a rebuilt record
# lists every name as changed).
LIMIT = 10_000
# Listed names the record lacks are mostly projects PyPI lists with no release (about 5 % of it,
# 35,000 names, never recorded): past LIMIT, a real mirror of PyPI would never remember its listing.
# A full sync's 700,000 names to fetch stay out (a 20 MB meta value); 100,000 is about 2 MB of JSON.
EXTRA_LIMIT = 100_000


class Buckets:
    """The listed canonical names hashed a bucket at a time: the names sharing their first two characters.

    A listing in canonical order lists each bucket's names together, so a bucket is hashed as its
    names come (across chunk cuts). PyPI's 700,000 names make about 1,300 buckets: when a few
    projects come or go upstream, the buckets whose digests differ from the remembered ones are
    the only ranges ``reconcile.known`` reads from the record.
    """

    def __init__(self) -> None:
        self.done: list[tuple[str, str, int]] = []
        self.key: str | None = None
        self.count = 0
        self.hash = hashlib.blake2b(digest_size=16)
        self.usable = True

    def add(self, key: str, names: Sequence[str]) -> str | None:
        """Add names of bucket ``key`` (the current one or a later one); the digest of the bucket it closed."""
        closed = self.close() if key != self.key else None
        self.key = key
        self.count += len(names)
        joined = "\n".join(names)
        self.usable = self.usable and joined.count("\n") == len(names) - 1
        self.hash.update(joined.encode("utf-8", "surrogatepass") + b"\n")
        return closed

    def close(self) -> str | None:
        """Close the current bucket (if any); its digest."""
        if self.key is None:
            return None
        value = self.hash.hexdigest()
        self.done.append((self.key, value, self.count))
        self.key, self.hash, self.count = None, hashlib.blake2b(digest_size=16), 0
        return value

    def value(self) -> tuple[tuple[str, str, int], ...] | None:
        """Every bucket's key, digest and name count in order, None once a name held the separator."""
        self.close()
        return tuple(self.done) if self.usable else None


def digest_of(buckets: tuple[tuple[str, str, int], ...]) -> str:
    """The whole listing's digest, from its buckets' (what ``Remembered.digest`` holds for a bucketed answer)."""
    return hashlib.blake2b("".join(digest for _key, digest, _count in buckets).encode(), digest_size=16).hexdigest()


class Remembered(msgspec.Struct, frozen=True):
    digest: str
    unlisted: tuple[str, ...]  # held, not listed (canonical, in order)
    extra: frozenset[str]  # listed, not held (canonical)
    since: frozenset[str]  # names inserted, deleted or renamed in the record since
    entries: int = -1  # the listing's ``ListingScan.entry_count``
    buckets: tuple[tuple[str, str, int], ...] = ()  # ``Buckets``: each bucket's key, digest and size, in order


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
        buckets = tuple((str(key), str(digest), int(count)) for key, digest, count in found.get("buckets", ()))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # written by hand or damaged: the merge stores it again
    if len(since) > LIMIT:
        return None
    return Remembered(digest, unlisted, extra, frozenset(since), entries, buckets)


@writes
def store(record: MirrorRecord, memo: Remembered) -> None:
    """Remember a merge's answer (its changed names start again from none)."""
    fields = {"digest": memo.digest, "unlisted": memo.unlisted, "extra": sorted(memo.extra), "entries": memo.entries}
    value = json.dumps({**fields, "buckets": memo.buckets})
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
