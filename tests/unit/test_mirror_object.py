"""The Mirror noun: its verbs on a real local tree and record, without a network."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from frumious.mirror import Layout, Mirror
from frumious.models import StoredFile
from frumious.record.db import MirrorRecord, ProjectRow
from frumious.settings import MirrorSettings, SimpleFormat
from frumious.storage.filesystem import FilesystemStore


@pytest.fixture
def tree(tmp_path) -> Mirror:
    settings = MirrorSettings(directory=str(tmp_path), simple_format=SimpleFormat.HTML, keep_index_versions=2)
    record = MirrorRecord(str(tmp_path / "frumious.sqlite"))
    yield Mirror(FilesystemStore(str(tmp_path)), record, settings)
    record.close()


def row(key: str, project: str) -> StoredFile:
    return StoredFile(key, project, "1.0", 3, "sha256", "00", None)


def test_layout_is_a_frozen_value_of_the_settings(tree) -> None:
    assert tree.layout == Layout(formats=SimpleFormat.HTML, keep_index_versions=2)
    with pytest.raises(AttributeError):  # frozen
        tree.layout.hash_index = True  # type: ignore[misc]


async def test_versioned_pages_keep_the_newest_and_link_the_page(tree, tmp_path) -> None:
    for serial in (1, 2, 3):
        written = await tree.write_page("web/simple/foo", "html", f"v{serial}".encode(), serial, datetime.now(UTC))
        assert written.startswith("web/simple/foo/versions/")
    assert (tmp_path / "web/simple/foo/index.html").read_bytes() == b"v3"
    assert len(await tree.store.children("web/simple/foo/versions")) == 2


async def test_removing_a_project_keeps_files_another_project_owns(tree, tmp_path) -> None:
    for key in ("web/packages/a/foo-1.0.tar.gz", "web/packages/b/shared.tar.gz"):
        await tree.store.write(key, b"abc")
    await tree.write_page("web/simple/foo", "html", b"page", 1, datetime.now(UTC))
    tree.record.record(ProjectRow("foo", "foo", 1), [row("web/packages/a/foo-1.0.tar.gz", "foo")])
    tree.record.record(ProjectRow("bar", "bar", 1), [row("web/packages/b/shared.tar.gz", "bar")])
    removed = await tree.remove_files(
        ["web/packages/a/foo-1.0.tar.gz", "web/packages/b/shared.tar.gz"], tree.owned_elsewhere("foo")
    )
    assert removed == ["web/packages/a/foo-1.0.tar.gz"]
    assert (tmp_path / "web/packages/b/shared.tar.gz").exists()
    assert "web/simple/foo/" in await tree.remove_project("foo")
    assert tree.record.project("foo") is None
    assert tree.record.project("bar") is not None


async def test_publish_writes_serial_etag_and_filters_only_when_called(tree, tmp_path) -> None:
    await tree.bootstrap()
    assert (tmp_path / "web/simple").is_dir()
    assert await tree.serial() == 0
    await tree.publish(42, 0.0, '"etag"', "fingerprint")
    assert await tree.serial() == 42
    assert await tree.listing_etag(42) == '"etag"'
    assert not await tree.filters_changed("fingerprint")
