"""The few filesystem calls the core needs, kept behind the store's local paths.

Stores without local paths (object stores) make every helper here a no-op or False, so the
orchestration never calls ``os`` itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from frumious.storage.base import Store, local_path


def ensure_dirs(store: Store, keys: Iterable[str]) -> None:
    """Create the directories ``keys`` name, where the store has them on a local disk."""
    for key in keys:
        path = local_path(store, key)
        if path is not None:
            os.makedirs(path, exist_ok=True)


def same_directory(store: Store, one: str, other: str) -> bool:
    """Whether two keys are one directory (a case-insensitive filesystem spells it both ways)."""
    here, there = local_path(store, one), local_path(store, other)
    return bool(here and there and os.path.exists(there) and os.path.samefile(here, there))


def write_outside(path: str, data: bytes, *, default_name: str, suffix: str = "") -> None:
    """Write a file outside the store atomically; a directory ``path`` gets ``default_name`` in it."""
    target = Path(path)
    if target.is_dir():
        target = target / default_name
    target = target.with_name(target.name + suffix)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
