"""Pure renderers: index objects -> the documents pypi.org serves (dicts or HTML text).

``files_base`` is the scheme://host:port that absolute file URLs start with (the server's
own URL, or a download mirror's); ``site_base`` is the server's own URL.
"""

from __future__ import annotations

from email.parser import BytesParser
from html import escape
from typing import Any

from .index import FakeFile, FakeIndex, FakeProject, FakeRelease

__all__ = [
    "API_VERSION",
    "file_url",
    "simple_project_html",
    "simple_project_json",
    "simple_root_html",
    "simple_root_json",
    "warehouse_json",
]

API_VERSION = "1.1"


def file_url(f: FakeFile, files_base: str) -> str:
    path = f.url_path
    return path if path.startswith(("http://", "https://")) else files_base + path


def _iso(f: FakeFile) -> str:
    return f.upload_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _core_metadata(f: FakeFile) -> dict[str, str] | bool:
    return f.core_metadata or False


def warehouse_file(f: FakeFile, files_base: str) -> dict[str, Any]:
    digests = f.reported_digests
    return {
        "comment_text": "",
        "digests": digests,
        "downloads": -1,
        "filename": f.reported_filename,
        "has_sig": False,
        "md5_digest": digests.get("md5", ""),
        "packagetype": f.artifact.packagetype,
        "python_version": f.artifact.python_version,
        "requires_python": f.requires_python,
        "size": f.reported_size,
        "upload_time": f.upload_time.strftime("%Y-%m-%dT%H:%M:%S"),
        "upload_time_iso_8601": _iso(f),
        "url": file_url(f, files_base),
        "yanked": f.yanked,
        "yanked_reason": f.yanked_reason,
        "core-metadata": _core_metadata(f),
        "data-dist-info-metadata": _core_metadata(f),
    }


def _release_metadata(release: FakeRelease) -> dict[str, Any]:
    """Fields of ``info`` read from the release's core metadata (first file that has some)."""
    raw = next((f.artifact.pkg_info for f in release.files if f.artifact.pkg_info), None)
    if raw is None:
        return {}
    message = BytesParser().parsebytes(raw, headersonly=True)
    return {
        "summary": message.get("Summary", ""),
        "requires_dist": message.get_all("Requires-Dist"),
        "provides_extra": message.get_all("Provides-Extra"),
        "classifiers": message.get_all("Classifier") or [],
    }


def warehouse_info(project: FakeProject, release: FakeRelease, site_base: str) -> dict[str, Any]:
    name, version = project.name, release.version
    info: dict[str, Any] = {
        "author": "",
        "author_email": "",
        "bugtrack_url": None,
        "classifiers": [],
        "description": "",
        "description_content_type": None,
        "docs_url": None,
        "download_url": "",
        "downloads": {"last_day": -1, "last_month": -1, "last_week": -1},
        "dynamic": None,
        "home_page": "",
        "keywords": "",
        "license": "",
        "license_expression": None,
        "license_files": None,
        "maintainer": "",
        "maintainer_email": "",
        "name": name,
        "package_url": f"{site_base}/project/{name}/",
        "platform": None,
        "project_url": f"{site_base}/project/{name}/",
        "project_urls": None,
        "provides_extra": None,
        "release_url": f"{site_base}/project/{name}/{version}/",
        "requires_dist": None,
        "requires_python": release.files[0].requires_python if release.files else None,
        "summary": "",
        "version": version,
        "yanked": release.yanked,
        "yanked_reason": release.files[0].yanked_reason if release.yanked else None,
    }
    info.update(_release_metadata(release))
    info.update(project.info)
    return info


def warehouse_json(
    project: FakeProject, files_base: str, site_base: str, *, version: str | None = None
) -> dict[str, Any] | None:
    """``/pypi/<name>/json`` (or ``/pypi/<name>/<version>/json``); None means 404."""
    release = project.latest() if version is None else project.releases.get(version)
    if release is None:
        return None
    doc: dict[str, Any] = {
        "info": warehouse_info(project, release, site_base),
        "last_serial": project.last_serial,
        "urls": [warehouse_file(f, files_base) for f in release.files],
        "vulnerabilities": [],
        "ownership": {"organization": None, "roles": []},
    }
    if version is None:
        doc["releases"] = {
            r.version: [warehouse_file(f, files_base) for f in r.files] for r in project.sorted_releases()
        }
    return doc


def simple_root_json(index: FakeIndex) -> dict[str, Any]:
    projects = [{"name": p.name, "_last-serial": p.last_serial} for p in index.projects()]
    return {"meta": {"api-version": API_VERSION, "_last-serial": index.serial}, "projects": projects}


def simple_file(f: FakeFile, files_base: str) -> dict[str, Any]:
    sha256 = f.reported_digests.get("sha256")
    return {
        "filename": f.reported_filename,
        "url": file_url(f, files_base),
        "hashes": {"sha256": sha256} if sha256 else {},
        "requires-python": f.requires_python,
        "size": f.reported_size,
        "upload-time": _iso(f),
        "yanked": (f.yanked_reason or True) if f.yanked else False,
        "core-metadata": _core_metadata(f),
        "data-dist-info-metadata": _core_metadata(f),
    }


def simple_project_json(project: FakeProject, files_base: str) -> dict[str, Any]:
    return {
        "meta": {"api-version": API_VERSION, "_last-serial": project.last_serial},
        "name": project.canonical,
        "versions": [r.version for r in project.sorted_releases()],
        "files": [simple_file(f, files_base) for f in project.files()],
    }


def _page(title: str, body: list[str]) -> list[str]:
    head = [
        "<!DOCTYPE html>",
        "<html>",
        "  <head>",
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">',
        f"    <title>{escape(title)}</title>",
        "  </head>",
        "  <body>",
    ]
    return [*head, *body, "  </body>", "</html>"]


def simple_root_html(index: FakeIndex) -> str:
    links = [f'    <a href="/simple/{p.canonical}/">{escape(p.name)}</a>' for p in index.projects()]
    return "\n".join(_page("Simple index", links)) + "\n"


def _anchor(f: FakeFile, files_base: str) -> str:
    sha256 = f.reported_digests.get("sha256")
    href = file_url(f, files_base) + (f"#sha256={sha256}" if sha256 else "")
    attrs = [f'href="{escape(href)}"']
    if f.requires_python:
        attrs.append(f'data-requires-python="{escape(f.requires_python)}"')
    if f.yanked:
        attrs.append(f'data-yanked="{escape(f.yanked_reason or "")}"')
    if f.core_metadata:
        value = f"sha256={f.core_metadata['sha256']}"
        attrs += [f'data-dist-info-metadata="{value}"', f'data-core-metadata="{value}"']
    return f"    <a {' '.join(attrs)}>{escape(f.reported_filename)}</a><br />"


def simple_project_html(project: FakeProject, files_base: str) -> str:
    title = f"Links for {project.canonical}"
    body = [f"    <h1>{escape(title)}</h1>", *(_anchor(f, files_base) for f in project.files())]
    return "\n".join(_page(title, body)) + f"\n<!--SERIAL {project.last_serial}-->"
