"""One shard of a mirror synced by several processes or machines (``mirror --shard I/N``).

A project belongs to shard ``sha256(canonical name)[:8] mod N``: the first eight bytes of the
SHA-256 of its PEP 503 normalized name, UTF-8, read as a big-endian unsigned integer. The hash
is stable across Python versions, machines and runs (``hash()`` is salted per process), so a
project stays in its shard for as long as N stays the same. Each shard keeps the state files of
a single mirror under ``.frumious/shards/I-of-N/`` (``storage/scoped``); ``publish`` joins them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from frumious.models import canonicalize_name

__all__ = ["SHARDS_DIR", "Shard", "shard_of"]

SHARDS_DIR = ".frumious/shards"
# More shards than this is a typo, not a deployment: each shard fetches the listing once a run.
MAX_SHARDS = 4096
_FORM = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def shard_of(name: str, count: int) -> int:
    """The shard a project belongs to among ``count``."""
    digest = hashlib.sha256(canonicalize_name(name).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based)."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_SHARDS:
            raise ValueError(f"the number of shards must be between 1 and {MAX_SHARDS}, not {self.count}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"a shard index must be between 0 and {self.count - 1}, not {self.index}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``I/N`` as written on the command line; ValueError naming the problem."""
        match = _FORM.fullmatch(text)
        if match is None:
            raise ValueError(f"a shard is written I/N (such as 0/4), not {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    def holds(self, name: str) -> bool:
        return shard_of(name, self.count) == self.index

    @property
    def label(self) -> str:
        return f"{self.index}-of-{self.count}"

    @property
    def prefix(self) -> str:
        """Where this shard's state files live in the store."""
        return f"{SHARDS_DIR}/{self.label}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @classmethod
    def all(cls, count: int) -> list[Shard]:
        return [cls(index, count) for index in range(count)]
