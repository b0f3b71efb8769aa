"""A table of the record created on first use (``offered``, ``pages``): a mirror that never needs it
never has it, and an older record file still opens."""

from __future__ import annotations

import sqlite3
from typing import ClassVar

from frumious.record.db import MirrorRecord

__all__ = ["LazyTable"]


class LazyTable:
    """One open record's table, created (``SCHEMA``) the first time ``db`` is asked for."""

    SCHEMA: ClassVar[str]

    def __init__(self, record: MirrorRecord) -> None:
        self.record = record
        self.path = record.path
        self._ready = False

    @property
    def db(self) -> sqlite3.Connection:
        if not self._ready:
            with self.record.db:
                self.record.db.execute(self.SCHEMA)
            self._ready = True
        return self.record.db
