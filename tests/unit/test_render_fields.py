"""Every field of a PEP 691 page passes through the mirror's pages, and the page claims only what it carries."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import pytest

from frumious.models import DistFile, Project
from frumious.protocol import layout, pagelinks, render

SHA = "5c" * 32
T = "2024-01-02T03:04:05.123456Z"
PROVENANCE = "https://up.example/integrity/foo/1.0/foo-1.0-py3-none-any.whl/provenance"


def page(**overrides: Any) -> dict[str, Any]:
    """An upstream PEP 691 page with every field up to 1.4 (the fixture the source's parser would read)."""
    doc: dict[str, Any] = {
        "meta": {"api-version": "1.4", "_last-serial": 77},
        "name": "foo",
        "versions": ["1.0"],
        "tracks": ["https://pypi.org/simple/foo/"],
        "alternate-locations": ["https://other.example/simple/foo/"],
        "project-status": {"status": "archived", "reason": "moved to bar"},
        "files": [
            {
                "filename": "foo-1.0-py3-none-any.whl",
                "url": "../../files/foo-1.0-py3-none-any.whl",
                "hashes": {"sha256": SHA},
                "requires-python": ">=3.9",
                "size": 1234,
                "upload-time": T,
                "yanked": "broken build",
                "core-metadata": {"sha256": "ab" * 32},
                "provenance": PROVENANCE,
            }
        ],
    }
    doc.update(overrides)
    return doc


def project_of(doc: dict[str, Any], page_url: str = "https://up.example/simple/foo/") -> Project:
    """The fixture's fields as models carry them (resolving the file URL against the page, as the sync does)."""
    from urllib.parse import urljoin

    files = []
    for entry in doc["files"]:
        yanked = entry.get("yanked", False)
        files.append(
            DistFile(
                filename=entry["filename"],
                url=urljoin(page_url, entry["url"]),
                size=entry["size"],
                digests=entry["hashes"],
                version="1.0",
                upload_time=entry.get("upload-time") or "",
                requires_python=entry.get("requires-python"),
                yanked=bool(yanked),
                yanked_reason=yanked if isinstance(yanked, str) else None,
                core_metadata=entry.get("core-metadata"),
                provenance=entry.get("provenance"),
            )
        )
    status = doc.get("project-status") or {}
    return Project(
        name=doc["name"],
        serial=int(doc["meta"]["_last-serial"]),
        releases={"1.0": tuple(files)},
        api_version=doc["meta"]["api-version"],
        status=status.get("status"),
        status_reason=status.get("reason"),
        tracks=tuple(doc.get("tracks", ())),
        alternate_locations=tuple(doc.get("alternate-locations", ())),
    )


OPTIONS: dict[str, Any] = {
    "digest_name": "sha256",
    "root_uri": "",
    "core_metadata": True,
    "has_metadata": lambda _file: True,
}


def rendered_json(project: Project, **options: Any) -> dict[str, Any]:
    return json.loads(render.project_json(project, **{**OPTIONS, **options}))  # type: ignore[no-any-return]


def rendered_html(project: Project, **options: Any) -> str:
    return render.project_html(project, raw_name=project.name, **{**OPTIONS, **options}).decode()


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.metas: list[tuple[str, str]] = []
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "meta":
            values = dict(attrs)
            self.metas.append((values["name"] or "", values["content"] or ""))
        elif tag == "a":
            self.anchors.append(dict(attrs))


def tags(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def test_every_field_of_a_1_4_page_reaches_the_json_page() -> None:
    doc = rendered_json(project_of(page()))
    assert doc["meta"] == {"api-version": "1.4", "_last-serial": "77"}
    assert doc["project-status"] == {"status": "archived", "reason": "moved to bar"}
    assert doc["tracks"] == ["https://pypi.org/simple/foo/"]
    assert doc["alternate-locations"] == ["https://other.example/simple/foo/"]
    (entry,) = doc["files"]
    # The relative link resolved against the page is off PyPI's layout: the file lands (and is linked) by sha256.
    assert entry["url"] == f"../../packages/5c/5c/{'5c' * 30}/foo-1.0-py3-none-any.whl"
    assert entry["hashes"] == {"sha256": SHA}
    assert (entry["size"], entry["upload-time"], entry["requires-python"]) == (1234, T, ">=3.9")
    assert entry["yanked"] == "broken build"
    assert entry["core-metadata"] == {"sha256": "ab" * 32}
    assert entry["provenance"] == PROVENANCE  # the upstream's URL is kept
    assert doc["versions"] == ["1.0"]


def test_every_field_of_a_1_4_page_reaches_the_html_page() -> None:
    html = rendered_html(project_of(page()))
    found = tags(html)
    assert found.metas == [
        ("pypi:repository-version", "1.4"),
        ("pypi:tracks", "https://pypi.org/simple/foo/"),
        ("pypi:alternate-locations", "https://other.example/simple/foo/"),
        ("pypi:project-status", "archived"),
        ("pypi:project-status-reason", "moved to bar"),
    ]
    (anchor,) = found.anchors
    assert anchor["href"] == f"../../packages/5c/5c/{'5c' * 30}/foo-1.0-py3-none-any.whl#sha256={SHA}"
    assert anchor["data-requires-python"] == ">=3.9"
    assert anchor["data-yanked"] == "broken build"
    assert anchor["data-core-metadata"] == anchor["data-dist-info-metadata"] == f"sha256={'ab' * 32}"
    assert (anchor["data-size"], anchor["data-upload-time"]) == ("1234", T)
    assert anchor["data-provenance"] == PROVENANCE


def test_the_mirrors_html_page_reads_back_with_sizes_and_upload_times() -> None:
    read = pagelinks.read_page(rendered_html(project_of(page())).encode(), json_page=False)
    (file,) = read.files
    assert (file.size, file.upload_time) == (1234, T)
    assert pagelinks.file_key("foo", file.href) == layout.dist_key(project_of(page()).files[0])


@pytest.mark.parametrize(
    ("upstream", "json_claim", "html_claim"),
    [
        (None, "1.1", "1.0"),  # Warehouse JSON: PEP 700's fields; HTML as bandersnatch writes it
        ("1.0", "1.0", "1.0"),  # a page without sizes or upload times claims no more than it had
        ("1.1", "1.1", "1.1"),
        ("1.3", "1.3", "1.3"),
        ("1.4", "1.4", "1.4"),
        ("1.9", "1.4", "1.4"),  # fields of versions frumious does not render yet would be dropped
        ("2.0", "1.4", "1.4"),
        ("x", "1.0", "1.0"),
    ],
)
def test_a_page_claims_its_sources_version_up_to_what_frumious_renders(
    upstream: str | None, json_claim: str, html_claim: str
) -> None:
    project = project_of(page(meta={"api-version": upstream, "_last-serial": 1}))
    assert rendered_json(project)["meta"]["api-version"] == json_claim
    assert tags(rendered_html(project)).metas[0] == ("pypi:repository-version", html_claim)


def test_fields_a_lower_version_does_not_define_are_not_emitted() -> None:
    project = project_of(page(meta={"api-version": "1.1", "_last-serial": 1}))
    doc = rendered_json(project)
    assert not {"tracks", "alternate-locations", "project-status"} & set(doc)
    assert "provenance" not in doc["files"][0]
    found = tags(rendered_html(project))
    assert [name for name, _ in found.metas] == ["pypi:repository-version"]
    assert "data-provenance" not in found.anchors[0]
    # PEP 700's size and upload time are there at 1.1 (and as data-* in HTML).
    assert found.anchors[0]["data-size"] == "1234"


def test_an_unknown_upload_time_is_left_out_rather_than_empty() -> None:
    doc = page()
    del doc["files"][0]["upload-time"]
    project = project_of(doc)
    assert "upload-time" not in rendered_json(project)["files"][0]
    assert "data-upload-time" not in tags(rendered_html(project)).anchors[0]


@pytest.mark.parametrize("status", ["archived", "deprecated", "active"])
def test_archived_and_deprecated_keep_their_files_and_carry_the_marker(status: str) -> None:
    project = project_of(page(**{"project-status": {"status": status}}))
    doc = rendered_json(project)
    assert doc["project-status"] == {"status": status}
    assert len(doc["files"]) == 1
    assert ("pypi:project-status", status) in tags(rendered_html(project)).metas


def test_a_quarantined_project_lists_no_files() -> None:
    project = project_of(page(**{"project-status": {"status": "quarantined", "reason": "malware"}}))
    doc = rendered_json(project)
    assert doc["files"] == []
    assert doc["project-status"] == {"status": "quarantined", "reason": "malware"}
    html = rendered_html(project)
    assert tags(html).anchors == []
    assert ("pypi:project-status", "quarantined") in tags(html).metas


def test_yanked_without_reason_and_core_metadata_only_where_held() -> None:
    doc = page()
    doc["files"][0]["yanked"] = True
    project = project_of(doc)
    entry = rendered_json(project, has_metadata=lambda _f: False)["files"][0]
    assert entry["yanked"] is True
    assert "core-metadata" not in entry
    anchor = tags(rendered_html(project, has_metadata=lambda _f: False)).anchors[0]
    assert anchor["data-yanked"] == ""
    assert "data-core-metadata" not in anchor


def test_an_unknown_size_is_left_out_rather_than_none() -> None:
    """An upstream that gives no sizes (devpi's pages, PEP 503 HTML without ``data-size``): no
    ``data-size="None"`` (not a number) and no ``"size": null`` (PEP 700: an integer when present)."""
    doc = page(meta={"api-version": "1.0", "_last-serial": 1})
    doc["files"][0]["size"] = None
    project = project_of(doc)
    assert "size" not in rendered_json(project)["files"][0]
    assert "data-size" not in tags(rendered_html(project)).anchors[0]
