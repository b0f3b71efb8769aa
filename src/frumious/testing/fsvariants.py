"""Filesystem stores that behave like something else, for integration tests through the CLI.

Tests select them as any third-party backend is selected, by ``storage-backend`` and an entry
point (``frumious.storage.v1``), instead of monkeypatching the core:

- ``PathlessStore`` (``pathless``): a filesystem tree without the ``LocalPaths`` capability, as an
  object store looks to the core (the record is cached under ``XDG_CACHE_HOME`` and uploaded).
- ``TripwireStore`` (``tripwire``): stops the command as Ctrl-C would (``KeyboardInterrupt``) the
  first time it stats or reads a key containing ``[tripwire] key``, to test interrupted runs.
"""

from __future__ import annotations

from frumious.settings import Settings
from frumious.storage.base import ObjectInfo
from frumious.storage.filesystem import FilesystemStore


class PathlessStore(FilesystemStore):
    # Withdraws the LocalPaths capability (a runtime Protocol treats a None member as absent).
    local_path = None  # type: ignore[assignment]


class TripwireStore(FilesystemStore):
    def __init__(self, root: str, *, trip_on: str, manage_permissions: bool = True) -> None:
        super().__init__(root, manage_permissions=manage_permissions)
        self.trip_on = trip_on

    @classmethod
    def from_settings(cls, settings: Settings) -> TripwireStore:
        trip_on = str(settings.sections.get("tripwire", {}).get("key", ""))
        return cls(settings.mirror.directory, trip_on=trip_on, manage_permissions=settings.mirror.manage_permissions)

    def _trip(self, key: str) -> None:
        if self.trip_on and self.trip_on in key:
            raise KeyboardInterrupt  # what a Ctrl-C raises in the middle of the command

    async def stat(self, key: str) -> ObjectInfo | None:
        self._trip(key)
        return await super().stat(key)

    async def read(self, key: str) -> bytes:
        self._trip(key)
        return await super().read(key)
