"""Storage backends behind one port (see ``base.Store``), found by name.

The built-in backends are named in code (``settings.BUILTIN_BACKENDS``, which config reads
too), so they open even from a broken install; third-party ones come from the
``frumious.storage.v1`` entry-point group, whose entry point names a ``Store`` subclass
(docs/storage.md). A backend's module is imported only
when it is chosen, so object-store libraries load only for object stores.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import import_module
from typing import TYPE_CHECKING

from frumious.errors import ConfigError
from frumious.settings import BUILTIN_BACKENDS, STORAGE_ENTRY_POINT_GROUP, Settings
from frumious.storage.base import LocalPaths, ObjectInfo, ObjectWriter, Store, local_path, local_paths
from frumious.storage.scoped import as_shard

if TYPE_CHECKING:  # importlib.metadata loads only when installed plugins are looked for (30-50 ms)
    from importlib.metadata import EntryPoint

__all__ = [
    "BUILTIN_BACKENDS",
    "ENTRY_POINT_GROUP",
    "LocalPaths",
    "ObjectInfo",
    "ObjectWriter",
    "Store",
    "backend_names",
    "local_path",
    "local_paths",
    "open_store",
]

ENTRY_POINT_GROUP = STORAGE_ENTRY_POINT_GROUP

# The top-level modules each extra brings; a missing one means the extra is not installed.
_EXTRA_MODULES = {
    "s3": frozenset({"boto3", "botocore", "s3transfer"}),
    "swift": frozenset({"swiftclient", "keystoneclient", "keystoneauth1", "requests"}),
}


def _plugin_entry_points() -> Iterable[EntryPoint]:
    # A seam for tests, which cannot install packages.
    from importlib.metadata import entry_points

    return entry_points(group=ENTRY_POINT_GROUP)


def backend_names() -> list[str]:
    """Every backend a config may name: the built-in ones, then the installed ones."""
    return list(dict.fromkeys([*BUILTIN_BACKENDS, *(ep.name for ep in _plugin_entry_points())]))


def open_store(settings: Settings) -> Store:
    """The configured backend; its libraries load only when it is chosen."""
    backend = settings.mirror.storage_backend
    try:
        store = _backend_class(backend).from_settings(settings)
    except ImportError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in _EXTRA_MODULES.get(backend, ()):
            raise
        raise ConfigError(
            f"[mirror] storage-backend: {backend} needs the {backend} extra ({missing} is not installed); "
            f"install it with: pip install 'frumious[{backend}]'"
        ) from exc
    # A shard's run (``mirror --shard I/N``) keeps its state files under its own prefix.
    shard = settings.mirror.shard
    return store if shard is None else as_shard(store, shard)


def _backend_class(backend: str) -> type[Store]:
    builtin = BUILTIN_BACKENDS.get(backend)
    if builtin is not None:
        module, _, name = builtin.partition(":")
        loaded: object = getattr(import_module(module), name)
    else:
        loaded = _load_plugin(backend)
    if not (isinstance(loaded, type) and issubclass(loaded, Store)):
        raise ConfigError(f"[mirror] storage-backend: {backend} names {loaded!r}, which is not a Store subclass")
    return loaded


def _load_plugin(backend: str) -> object:
    found = [ep for ep in _plugin_entry_points() if ep.name == backend]
    if not found:
        known = ", ".join(backend_names())
        raise ConfigError(f"[mirror] storage-backend: unknown backend {backend!r} ({known})")
    try:
        return found[0].load()
    except Exception as exc:  # any import-time failure of third-party code
        raise ConfigError(f"[mirror] storage-backend: {backend} ({found[0].value}) failed to load: {exc!r}") from None
