"""Storage backends behind one port (see ``base.Store``)."""

from __future__ import annotations

from frumious.errors import ConfigError
from frumious.settings import Settings
from frumious.storage.base import ObjectInfo, ObjectWriter, Store

__all__ = ["ObjectInfo", "ObjectWriter", "Store", "open_store"]


# The top-level modules each extra brings; a missing one means the extra is not installed.
_EXTRA_MODULES = {
    "s3": frozenset({"boto3", "botocore", "s3transfer"}),
    "swift": frozenset({"swiftclient", "keystoneclient", "keystoneauth1", "requests"}),
}


def open_store(settings: Settings) -> Store:
    """The configured backend; object-store libraries load only when chosen."""
    backend = settings.mirror.storage_backend
    try:
        return _open(settings, backend)
    except ImportError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in _EXTRA_MODULES.get(backend, ()):
            raise
        raise ConfigError(
            f"[mirror] storage-backend: {backend} needs the {backend} extra ({missing} is not installed); "
            f"install it with: pip install 'frumious[{backend}]'"
        ) from exc


def _open(settings: Settings, backend: str) -> Store:
    if backend == "filesystem":
        from frumious.storage.filesystem import FilesystemStore

        return FilesystemStore(settings.mirror.directory, manage_permissions=settings.mirror.manage_permissions)
    if backend == "s3":
        from frumious.storage.s3 import S3Store

        return S3Store.from_settings(settings)
    if backend == "swift":
        from frumious.storage.swift import SwiftStore

        return SwiftStore.from_settings(settings)
    raise ConfigError(f"[mirror] storage-backend: unknown backend {backend!r} (filesystem, s3 or swift)")
