"""The record's stored copy of what upstream offered (``record/offered``) filters again into what the page gave."""

from __future__ import annotations

import json
from pathlib import Path

from frumious.protocol.simple691 import read_project_page
from frumious.record.db import MirrorRecord
from frumious.record.offered import OfferedCopies

SHA = "a" * 64
PAGE = {
    "meta": {"api-version": "1.4", "_last-serial": 7},
    "name": "demo",
    "versions": ["1.0"],
    "project-status": {"status": "archived", "reason": "moved"},
    "tracks": ["https://elsewhere.example/simple/demo/"],
    "alternate-locations": ["https://mirror.example/simple/demo/"],
    "files": [
        {
            "filename": "demo-1.0-py3-none-any.whl",
            "url": f"https://files.example/packages/aa/bb/{'c' * 60}/demo-1.0-py3-none-any.whl",
            "hashes": {"sha256": SHA},
            "size": 10,
            "upload-time": "2024-01-02T03:04:05Z",
            "core-metadata": {"sha256": "b" * 64},
            "provenance": "https://files.example/integrity/demo/1.0/demo-1.0-py3-none-any.whl/provenance",
        },
        {
            "filename": "demo-1.0.tar.gz",
            "url": f"https://files.example/packages/dd/ee/{'f' * 60}/demo-1.0.tar.gz",
            "hashes": {"sha256": SHA.replace("a", "d")},
            "size": 12,
        },
    ],
}


def test_a_page_copy_comes_back_with_its_core_metadata_provenance_and_page_fields(tmp_path: Path) -> None:
    # Warehouse's shape has no place for these: lost, a project filtered again from its copy dropped its
    # .metadata sidecars from the record and its pages (and the closure its requirements).
    body = json.dumps(PAGE).encode()
    page = read_project_page(body, json_page=True, expected="demo", base_url="https://up.example/simple/demo/")
    offered = page.project
    record = MirrorRecord(str(tmp_path / "frumious.sqlite"))
    try:
        copies = OfferedCopies(record)
        copies.put(offered)
        again = copies.get("demo", 7)
    finally:
        record.close()

    assert again is not None
    assert [(f.filename, f.core_metadata, f.provenance) for f in again.files] == [
        (f.filename, f.core_metadata, f.provenance) for f in offered.files
    ]
    assert again.files[0].core_metadata == {"sha256": "b" * 64} and again.files[1].core_metadata is None
    kept = ("source", "api_version", "status", "status_reason", "tracks", "alternate_locations")
    assert {k: getattr(again, k) for k in kept} == {k: getattr(offered, k) for k in kept}
    assert again.source == "simple" and again.status == "archived"
    assert "frumious:page" not in again.document  # not what metadata filters or web/json see
