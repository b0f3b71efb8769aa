"""Static Large Object uploads for the Swift backend (objects above its size threshold).

Segments go to ``<container>_segments`` as ``<object name>/<upload id>/<index>``; the
object appears only when its manifest is PUT, so a reader never sees it partial. A
failed upload deletes its segments; a successful one deletes the segments of the
object it replaced. Runs in a worker thread: every call here is blocking.
"""

from __future__ import annotations

import contextlib
import functools
import json
import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import swiftclient

from frumious.errors import StorageError
from frumious.storage.objectbase import Spooled, content_type

T = TypeVar("T")


class SwiftStore(Protocol):
    """What segmenting needs of the Swift store (declared here so the two modules form no cycle)."""

    container: str
    segments: str
    _segment_size: int

    def _key(self, key: str) -> str: ...

    def _sync(self, what: str, fn: Callable[[swiftclient.Connection], T]) -> T: ...


def upload_large(store: SwiftStore, key: str, spooled: Spooled, headers: dict[str, str]) -> None:
    full = store._key(key)
    upload = f"{full}/{uuid.uuid4().hex}"
    store._sync(f"create {store.segments}", lambda c: c.put_container(store.segments))
    done: list[str] = []
    try:
        manifest = []
        size = store._segment_size
        for index, offset in enumerate(range(0, spooled.size, size)):
            name, length = f"{upload}/{index:08d}", min(size, spooled.size - offset)
            send = functools.partial(_put_segment, store.segments, name, spooled.path, offset, length)
            etag = store._sync(f"write segment {index} of {key}", send)
            done.append(name)
            manifest.append({"path": f"/{store.segments}/{name}", "etag": etag, "size_bytes": length})
        store._sync(
            f"write {key}",
            lambda c: c.put_object(
                store.container,
                full,
                json.dumps(manifest),
                content_type=content_type(key),
                headers=headers,
                query_string="multipart-manifest=put",
            ),
        )
    except BaseException:
        _forget(store, done)
        raise
    _forget(store, [name for name in _segment_names(store, f"{full}/") if not name.startswith(f"{upload}/")])


def _put_segment(container: str, name: str, path: str, offset: int, length: int, conn: swiftclient.Connection) -> str:
    # Opened per attempt, so a retried call re-reads the segment from its start.
    with open(path, "rb") as handle:
        handle.seek(offset)
        etag: str = conn.put_object(container, name, handle, content_length=length)
    return etag


def _segment_names(store: SwiftStore, base: str) -> list[str]:
    def listing(conn: swiftclient.Connection) -> list[dict[str, Any]]:
        _headers, items = conn.get_container(store.segments, prefix=base, full_listing=True)
        return list(items)

    try:
        return [item["name"] for item in store._sync(f"list {store.segments}", listing)]
    except StorageError:
        return []


def _forget(store: SwiftStore, names: list[str]) -> None:
    """Best effort: a leftover segment wastes space but is never served."""
    for name in names:
        with contextlib.suppress(StorageError):
            store._sync(f"delete segment {name}", functools.partial(_delete_quietly, store.segments, name))


def _delete_quietly(container: str, name: str, conn: swiftclient.Connection) -> None:
    try:
        conn.delete_object(container, name)
    except swiftclient.ClientException as exc:
        if exc.http_status != 404:
            raise
