"""The saved Warehouse JSON is what the mirror holds: kept files only, URLs into the mirror."""

from __future__ import annotations

import json

from frumious.protocol import parse, warehouse

TAIL = "ab/cd/" + "e" * 60 + "/"
UPSTREAM = "https://files.example.org/packages/" + TAIL


def _file(name: str) -> dict[str, object]:
    return {"filename": name, "url": UPSTREAM + name, "digests": {"sha256": "0" * 64}, "size": 3, "comment_text": ""}


RAW = {
    "info": {"name": "Foo", "version": "2.0", "project_url": "https://pypi.org/project/foo/"},
    "last_serial": 12,
    "releases": {"1.0": [_file("foo-1.0.tar.gz")], "2.0": [_file("foo-2.0.tar.gz"), _file("foo-2.0-py3-none-any.whl")]},
    "urls": [_file("foo-2.0.tar.gz"), _file("foo-2.0-py3-none-any.whl")],
    "vulnerabilities": [],
}


def _held(root_uri: str = "") -> dict[str, object]:
    project = parse.parse_project(json.dumps(RAW).encode())
    kept = warehouse.held_files(project, lambda f: f.filename != "foo-2.0-py3-none-any.whl")
    body = warehouse.held_document(kept, root_uri=root_uri)
    assert body == json.dumps(json.loads(body), indent=4, sort_keys=True).encode()  # bandersnatch's dump
    document: dict[str, object] = json.loads(body)
    return document


def test_only_kept_files_are_listed_with_urls_into_the_mirror() -> None:
    document = _held()
    assert document["releases"] == {
        "1.0": [{**_file("foo-1.0.tar.gz"), "url": "/packages/" + TAIL + "foo-1.0.tar.gz"}],
        "2.0": [{**_file("foo-2.0.tar.gz"), "url": "/packages/" + TAIL + "foo-2.0.tar.gz"}],
    }
    assert document["urls"] == [{**_file("foo-2.0.tar.gz"), "url": "/packages/" + TAIL + "foo-2.0.tar.gz"}]
    assert document["last_serial"] == 12 and document["info"] == RAW["info"] and document["vulnerabilities"] == []


def test_root_uri_makes_the_urls_absolute() -> None:
    document = _held("https://mirror.example.org/pypi/")
    assert document["urls"][0]["url"] == "https://mirror.example.org/pypi/packages/" + TAIL + "foo-2.0.tar.gz"  # type: ignore[index]


def test_a_release_left_without_files_is_dropped() -> None:
    project = parse.parse_project(json.dumps(RAW).encode())
    kept = warehouse.held_files(project, lambda f: f.filename.startswith("foo-2.0"))
    assert json.loads(warehouse.held_document(kept, root_uri=""))["releases"].keys() == {"2.0"}


def test_a_file_off_pypis_layout_is_linked_where_the_pages_link_it() -> None:
    raw = {**RAW, "releases": {"1.0": [{**_file("foo-1.0.tar.gz"), "url": "https://other.example/f/foo-1.0.tar.gz"}]}}
    project = parse.parse_project(json.dumps({**raw, "urls": []}).encode())
    document = json.loads(warehouse.held_document(project, root_uri=""))
    # By its sha256, as layout.dist_place puts it and the simple pages link it.
    assert document["releases"]["1.0"][0]["url"] == "/packages/00/00/" + "0" * 60 + "/foo-1.0.tar.gz"
