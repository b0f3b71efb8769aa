"""The fake index's data: projects, releases, files and serials. Plain Python, no I/O.

Every change bumps the global ``serial`` by one and sets the changed project's
``last_serial`` to it, and appends a ``JournalEntry`` (what XML-RPC's changelog serves).
Names are looked up by canonical name; the display name is kept as given.

The index is shared with a server thread: every method takes ``self.lock`` (an RLock),
and readers in the server hold it while rendering.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from .builder import Artifact

__all__ = ["FakeFile", "FakeIndex", "FakeProject", "FakeRelease", "JournalEntry", "packages_path"]

BASE_TIME = datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
_UNSET: object = object()


def packages_path(artifact: Artifact) -> str:
    """The URL path PyPI would give a file: /packages/<b2[:2]>/<b2[2:4]>/<b2[4:]>/<filename>."""
    b2 = artifact.blake2b_256
    return f"/packages/{b2[:2]}/{b2[2:4]}/{b2[4:]}/{artifact.filename}"


def _as_datetime(value: datetime | str | None, serial: int) -> datetime:
    if value is None:
        return BASE_TIME + timedelta(hours=serial)
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def version_key(version: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


@dataclass
class FakeFile:
    """One file of a release. The ``url``/``digests``/``json_filename``/``json_size`` overrides
    make the JSON lie about the file (bad-input tests); the bytes served stay the artifact's."""

    artifact: Artifact
    version: str
    upload_time: datetime
    requires_python: str | None = None
    yanked: bool = False
    yanked_reason: str | None = None
    url: str | None = None
    digests: dict[str, str] | None = None
    json_filename: str | None = None
    json_size: int | None = None
    advertise_metadata: bool = True

    @property
    def filename(self) -> str:
        return self.artifact.filename

    @property
    def path(self) -> str:
        """Where the server serves the bytes."""
        return packages_path(self.artifact)

    @property
    def url_path(self) -> str:
        """What the JSON says the URL is: the override (path or absolute URL) or ``path``."""
        return self.url if self.url is not None else self.path

    @property
    def reported_filename(self) -> str:
        return self.json_filename if self.json_filename is not None else self.artifact.filename

    @property
    def reported_digests(self) -> dict[str, str]:
        return dict(self.digests) if self.digests is not None else self.artifact.digests

    @property
    def reported_size(self) -> int:
        return self.json_size if self.json_size is not None else self.artifact.size

    @property
    def core_metadata(self) -> dict[str, str] | None:
        digest = self.artifact.metadata_sha256
        return {"sha256": digest} if digest and self.advertise_metadata else None


@dataclass
class FakeRelease:
    version: str
    files: list[FakeFile] = field(default_factory=list)

    @property
    def yanked(self) -> bool:
        return bool(self.files) and all(f.yanked for f in self.files)


@dataclass
class FakeProject:
    name: str
    last_serial: int = 0
    releases: dict[str, FakeRelease] = field(default_factory=dict)
    info: dict[str, object] = field(default_factory=dict)

    @property
    def canonical(self) -> str:
        return canonicalize_name(self.name)

    def sorted_releases(self) -> list[FakeRelease]:
        return [self.releases[v] for v in sorted(self.releases, key=version_key)]

    def files(self) -> list[FakeFile]:
        return [f for release in self.sorted_releases() for f in release.files]

    def latest(self) -> FakeRelease | None:
        """The release ``info`` describes: newest non-yanked final, else newest non-yanked, else newest."""
        ordered = self.sorted_releases()
        live = [r for r in ordered if not r.yanked]
        finals = [r for r in live if not _is_prerelease(r.version)]
        for group in (finals, live, ordered):
            if group:
                return group[-1]
        return None


def _is_prerelease(version: str) -> bool:
    try:
        return Version(version).is_prerelease
    except InvalidVersion:
        return False


class JournalEntry(NamedTuple):
    name: str
    version: str
    timestamp: int
    action: str
    serial: int


class FakeIndex:
    """Projects by canonical name, a global serial and a change journal."""

    def __init__(self, serial: int = 0) -> None:
        self.lock = threading.RLock()
        self.serial = serial
        self.journal: list[JournalEntry] = []
        self._projects: dict[str, FakeProject] = {}
        self._by_path: dict[str, FakeFile] = {}
        self._by_path_serial = -1

    # --- reading -------------------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and canonicalize_name(name) in self._projects

    def __len__(self) -> int:
        return len(self._projects)

    def __iter__(self) -> Iterator[FakeProject]:
        return iter(self.projects())

    def get(self, name: str) -> FakeProject | None:
        return self._projects.get(canonicalize_name(name))

    def project(self, name: str) -> FakeProject:
        project = self.get(name)
        if project is None:
            raise KeyError(name)
        return project

    def projects(self) -> list[FakeProject]:
        """All projects sorted by canonical name."""
        with self.lock:
            return [self._projects[key] for key in sorted(self._projects)]

    def file(self, name: str, filename: str) -> FakeFile:
        for f in self.project(name).files():
            if f.filename == filename:
                return f
        raise KeyError(f"{name}: {filename}")

    def all_files(self) -> list[FakeFile]:
        with self.lock:
            return [f for project in self.projects() for f in project.files()]

    def find_file(self, path: str) -> FakeFile | None:
        """The file served at ``path``: its /packages/ path, or a relative URL override."""
        with self.lock:
            if self._by_path_serial != self.serial:
                self._by_path = {}
                for f in self.all_files():
                    self._by_path.setdefault(f.path, f)
                    if f.url is not None and f.url.startswith("/"):
                        self._by_path.setdefault(f.url, f)
                self._by_path_serial = self.serial
            return self._by_path.get(path)

    # --- changing ------------------------------------------------------------------------
    def _bump(self, project: FakeProject, action: str, version: str = "") -> int:
        self.serial += 1
        project.last_serial = self.serial
        stamp = int((BASE_TIME + timedelta(hours=self.serial)).timestamp())
        self.journal.append(JournalEntry(project.name, version, stamp, action, self.serial))
        return self.serial

    def _ensure(self, name: str) -> FakeProject:
        project = self.get(name)
        if project is None:
            project = FakeProject(name)
            self._projects[project.canonical] = project
        return project

    def add_project(self, name: str, **info: object) -> FakeProject:
        """Create a project without releases, or update its info; one serial bump.

        ``info`` overrides fields of the Warehouse JSON ``info``. A project without releases
        is listed but its JSON is a 404, as on PyPI.
        """
        with self.lock:
            action = "update info" if name in self else "create"
            project = self._ensure(name)
            project.info.update(info)
            self._bump(project, action)
            return project

    def add(
        self,
        name: str,
        version: str,
        *artifacts: Artifact,
        upload_time: datetime | str | None = None,
        yanked: bool = False,
        yanked_reason: str | None = None,
        requires_python: str | object | None = _UNSET,
    ) -> FakeRelease:
        """Add a release (or more files to it), creating the project if needed; one serial bump.

        ``requires_python`` defaults to each artifact's own value.
        """
        with self.lock:
            project = self._ensure(name)
            release = project.releases.setdefault(version, FakeRelease(version))
            when = _as_datetime(upload_time, self.serial + 1)
            for artifact in artifacts:
                rp = artifact.requires_python if requires_python is _UNSET else requires_python
                assert rp is None or isinstance(rp, str)
                release.files.append(FakeFile(artifact, version, when, rp, yanked, yanked_reason))
            action = "add " + ", ".join(a.filename for a in artifacts) if artifacts else "new release"
            self._bump(project, action, version)
            return release

    def remove_project(self, name: str) -> None:
        with self.lock:
            project = self.project(name)
            del self._projects[project.canonical]
            self._bump(project, "remove project")

    def remove_release(self, name: str, version: str) -> None:
        with self.lock:
            project = self.project(name)
            del project.releases[version]
            self._bump(project, "remove release", version)

    def remove_file(self, name: str, filename: str) -> None:
        """Remove one file; its release stays (possibly empty), as on PyPI."""
        with self.lock:
            f = self.file(name, filename)
            self.project(name).releases[f.version].files.remove(f)
            self._bump(self.project(name), f"remove file {filename}", f.version)

    def yank(self, name: str, version: str, reason: str | None = None, *, yanked: bool = True) -> None:
        """Yank (or with ``yanked=False`` un-yank) every file of a release."""
        with self.lock:
            project = self.project(name)
            for f in project.releases[version].files:
                f.yanked, f.yanked_reason = yanked, (reason if yanked else None)
            self._bump(project, "yank release" if yanked else "unyank release", version)

    def touch(self, name: str) -> int:
        """Bump the project's serial without changing anything else; returns the new serial."""
        with self.lock:
            return self._bump(self.project(name), "touch")

    def rename(self, name: str, display_name: str) -> None:
        """Change the display name (the canonical name must stay the same)."""
        with self.lock:
            project = self.project(name)
            if canonicalize_name(display_name) != project.canonical:
                raise ValueError(f"{display_name!r} does not normalize to {project.canonical!r}")
            project.name = display_name
            self._bump(project, "rename")

    def set_info(self, name: str, **info: object) -> None:
        """Override fields of the Warehouse JSON ``info`` (summary, classifiers, ...)."""
        with self.lock:
            project = self.project(name)
            project.info.update(info)
            self._bump(project, "update info")

    def patch_file(
        self,
        name: str,
        filename: str,
        *,
        url: str | object | None = _UNSET,
        digests: Mapping[str, str] | object | None = _UNSET,
        json_filename: str | object | None = _UNSET,
        json_size: int | object | None = _UNSET,
        advertise_metadata: bool | object = _UNSET,
        requires_python: str | object | None = _UNSET,
    ) -> FakeFile:
        """Permanently change what the JSON says about a file (bad-input tests); one bump.

        ``url``: a path on this server (``/elsewhere/x.whl``, ``/packages/../../x``) or an
        absolute URL. ``digests``: replaces the whole digest dict. ``json_filename``: e.g.
        ``"../evil.whl"`` or ``"a/b.whl"``. Pass None to restore the truth.
        """
        with self.lock:
            f = self.file(name, filename)
            changes: dict[str, object] = {
                "url": url,
                "digests": digests,
                "json_filename": json_filename,
                "json_size": json_size,
                "advertise_metadata": advertise_metadata,
                "requires_python": requires_python,
            }
            for attr, value in changes.items():
                if value is _UNSET:
                    continue
                if attr == "digests" and isinstance(value, Mapping):
                    value = dict(value)
                setattr(f, attr, value)
            self._bump(self.project(name), f"patch {filename}", f.version)
            return f
