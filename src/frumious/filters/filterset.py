"""``FilterSet``: the enabled filters of one run, applied in bandersnatch's order.

Per project: project filters on the listing name; metadata filters on the fetched JSON (the
caller saves the JSON after them); release-file filters; then every release left without
files is dropped (as bandersnatch 8 does, including releases upstream listed empty); then
release filters. Everything here is pure and returns new values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import cast

from packaging.utils import canonicalize_name

from frumious.filters.base import Filter, MetadataFilter, ProjectFilter, ReleaseFileFilter, ReleaseFilter
from frumious.filters.closure import ClosureConfig
from frumious.filters.paths import needs_json
from frumious.models import DistFile, NormalizedName, Project, replace

__all__ = ["FilterSet", "every_project", "fast_canonical"]

# Bumped when a built-in filter's meaning changes, so a sync notices without a config edit.
SEMANTICS_VERSION = 1


def every_project(name: str) -> bool:
    """The project check of a filter set without project filters: every name passes."""
    return True


def fast_canonical(name: str) -> NormalizedName:
    """``canonicalize_name`` without its regex when the name has no run of separators to fold."""
    lowered = name.lower()
    if "_" in lowered or "." in lowered or "--" in lowered:
        return canonicalize_name(name)
    return cast(NormalizedName, lowered)


# The kinds of filter, each fingerprinted apart: a changed project filter needs the listing, a
# changed metadata, release-file or release filter needs the mirrored projects filtered again.
KINDS: dict[str, type[Filter]] = {
    "project": ProjectFilter,
    "metadata": MetadataFilter,
    "release_file": ReleaseFileFilter,
    "release": ReleaseFilter,
}


def _fingerprint(filters: Iterable[Filter]) -> str:
    described = {f.name: f.describe() for f in filters}
    payload = json.dumps({"semantics": SEMANTICS_VERSION, "filters": described}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


class FilterSet:
    """The enabled filters. ``load_filters`` builds it; ``FilterSet()`` filters nothing."""

    def __init__(self, filters: Sequence[Filter] = (), warnings: Iterable[str] = ()) -> None:
        self.filters = tuple(filters)
        self.names = tuple(f.name for f in self.filters)
        self.warnings = tuple(dict.fromkeys(warnings))
        self.project_filters = tuple(f for f in self.filters if isinstance(f, ProjectFilter))
        self.metadata_filters = tuple(f for f in self.filters if isinstance(f, MetadataFilter))
        self.release_file_filters = tuple(f for f in self.filters if isinstance(f, ReleaseFileFilter))
        self.release_filters = tuple(f for f in self.filters if isinstance(f, ReleaseFilter))
        # Stable across processes: a sync can store it and notice a changed filter config.
        self.fingerprint = _fingerprint(self.filters)
        # One per kind, so a run knows whether the listing or the mirrored projects need another look.
        self.fingerprints = {kind: _fingerprint(f for f in filters if isinstance(f, c)) for kind, c in KINDS.items()}

    def __repr__(self) -> str:
        return f"FilterSet(names={self.names!r})"

    # -- whole projects -------------------------------------------------------------------

    @property
    def allows_project(self) -> Callable[[str], bool]:
        """Project filters on the raw listing name (the hot path: one call per listed name).

        ``every_project`` when no project filter is enabled, so that the listing's reconcile can
        skip 700,000 calls that all answer True (0.05 s a pass on PyPI).
        """
        return self._allows_project if self.project_filters else every_project

    def _allows_project(self, name: str) -> bool:
        canonical = fast_canonical(name)
        for f in self.project_filters:  # noqa: SIM110 - a plain loop beats all(<genexpr>) here
            if not f.allows_project(name, canonical):
                return False
        return True

    @property
    def only_projects(self) -> frozenset[str] | None:
        """Every project that can pass, when allowlists bound them; None when unbounded."""
        from frumious.filters.names import AllowlistProject

        bounds = [f.allowed for f in self.project_filters if isinstance(f, AllowlistProject) and f.allowed]
        if not bounds:
            return None
        return frozenset(name for name in frozenset.intersection(*bounds) if self.allows_project(name))

    @property
    def closure(self) -> ClosureConfig | None:
        """The dependency closure an allowlist asks for (``[allowlist] closure = true``), if any."""
        from frumious.filters.names import AllowlistProject

        return next((f.closure for f in self.project_filters if isinstance(f, AllowlistProject) and f.closure), None)

    def grown(self, names: Iterable[str]) -> FilterSet:
        """The same filters with closure allowlists also allowing ``names``; the fingerprint stays the config's."""
        from frumious.filters.names import AllowlistProject

        extra = frozenset(names)
        grown = [f.grown(extra) if isinstance(f, AllowlistProject) else f for f in self.filters]
        result = FilterSet(grown, self.warnings)
        result.fingerprint = self.fingerprint
        return result

    def closure_blocker(self, name: str) -> str | None:
        """The project filter refusing a name the closure needs (closure allowlists aside), or None."""
        from frumious.filters.names import AllowlistProject

        canonical = fast_canonical(name)
        for f in self.project_filters:
            if not (isinstance(f, AllowlistProject) and f.closure) and not f.allows_project(name, canonical):
                return f.name
        return None

    def project_rejected_by(self, name: str) -> str | None:
        """The name of the first project filter refusing ``name``, for logs and dry runs."""
        canonical = fast_canonical(name)
        return next((f.name for f in self.project_filters if not f.allows_project(name, canonical)), None)

    def json_only(self) -> list[str]:
        """The filter keys that read fields only Warehouse's JSON carries (``[section] key``)."""
        found = []
        for f in self.filters:
            for rule in getattr(f, "rules", ()):
                node = getattr(rule, "node", None)
                if node is not None and needs_json(node.path):
                    found.append(f"[{f.name}] {node.key}")
        return found

    def allows_metadata(self, project: Project) -> bool:
        return self.metadata_rejected_by(project) is None

    def metadata_rejected_by(self, project: Project) -> str | None:
        return next((f.name for f in self.metadata_filters if not f.allows_metadata(project)), None)

    # -- releases and files ---------------------------------------------------------------

    def keeps_file(self, project: Project, file: DistFile) -> bool:
        return all(f.keeps_file(project, file) for f in self.release_file_filters)

    def reports(self, project: Project) -> list[str]:
        """Every release-file filter's findings about the unfiltered project, for the log."""
        return [line for f in self.release_file_filters for line in f.reports(project)]

    def revisit_at(self, project: Project) -> float | None:
        """The first moment a file of ``project`` dropped now would be kept, without upstream changing."""
        moments = [
            moment
            for f in self.release_file_filters
            for file in project.files
            if (moment := f.revisit_at(project, file)) is not None
        ]
        return min(moments, default=None)

    def apply(self, project: Project) -> Project:
        """Release-file filters, drop emptied releases, then release filters: the Project kept.

        ``project`` itself when nothing is dropped (the common case without release filters): a copy
        would cost a ``dataclasses.replace`` a project for nothing.
        """
        if not self.release_file_filters and not self.release_filters and all(project.releases.values()):
            return project
        releases: dict[str, tuple[DistFile, ...]] = {}
        for version, files in project.releases.items():
            kept = tuple(f for f in files if self.keeps_file(project, f)) if self.release_file_filters else files
            if kept:
                releases[version] = kept
        with_files = replace(project, releases=releases)
        if not self.release_filters:
            return with_files
        versions = self._kept_versions(with_files)
        return replace(project, releases={v: fs for v, fs in releases.items() if v in versions})

    def _kept_versions(self, project: Project) -> set[str]:
        for f in self.release_filters:
            if f.exclusive_for(project):
                return f.kept_versions(project)
        kept = set(project.releases)
        for f in self.release_filters:
            if not f.ranks_survivors:
                kept &= f.kept_versions(project)
        # Ranking filters choose among the survivors, one after another.
        for f in self.release_filters:
            if f.ranks_survivors:
                kept &= f.kept_versions(_only(project, kept))
        return kept


def _only(project: Project, versions: set[str]) -> Project:
    releases: Mapping[str, tuple[DistFile, ...]] = {v: fs for v, fs in project.releases.items() if v in versions}
    return replace(project, releases=releases)
