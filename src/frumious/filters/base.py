"""The plugin interfaces: one base class per filter kind, and the context they are built from.

A filter is built once per run from the parsed config (``FilterContext``) and is then a pure
function of frumious models: it never does I/O after construction, never logs, and reports
non-fatal findings as strings through ``context.warn``. Problems with its configuration are
raised as ``ConfigError`` from ``__init__``; the loader gathers every plugin's problems into
one error.

Kinds, in the order a project meets them:

- ``ProjectFilter``: the upstream listing name, before anything is fetched.
- ``MetadataFilter``: the whole upstream project (typed fields; ``project.document`` is Warehouse's
  JSON, ``project.raw`` the same for older filters).
- ``ReleaseFileFilter``: one file of one release.
- ``ReleaseFilter``: one version, after release-file filtering emptied-out releases are gone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

from frumious.models import DistFile, NormalizedName, Project

__all__ = [
    "Filter",
    "FilterContext",
    "MetadataFilter",
    "ProjectFilter",
    "ReleaseFileFilter",
    "ReleaseFilter",
    "config_lines",
]


def config_lines(value: str | None) -> list[str]:
    """A multi-line config value as stripped, non-empty lines (bandersnatch splits on newlines)."""
    if not value:
        return []
    return [line.strip() for line in value.split("\n") if line.strip()]


class FilterContext:
    """The configuration one plugin is built from, plus a sink for its warnings.

    Every value a plugin reads (a key, or a whole section) is recorded, so a plugin that does
    not describe itself still gets a meaningful fingerprint; every key it asks for, set or not,
    is recorded too (``asked``), so the loader can call a key no filter asks for a typo.
    """

    def __init__(
        self,
        sections: Mapping[str, Mapping[str, str]],
        *,
        plugin: str,
        base_dir: str,
        explicit: bool = True,
    ) -> None:
        self.plugin = plugin
        # Directory relative requirement paths start from (bandersnatch: the working directory).
        self.base_dir = base_dir
        # Named in [plugins] enabled, rather than switched on by `all`.
        self.explicit = explicit
        self.warnings: list[str] = []
        self._sections = sections
        self._reads: dict[str, dict[str, str]] = {}
        # section -> the keys asked for; None when the whole section was read.
        self._asked: dict[str, set[str] | None] = {}

    def section(self, name: str) -> Mapping[str, str]:
        """A whole section, {} when absent.

        The pre-5.0 [whitelist]/[blacklist] sections are not read, as in bandersnatch 8 (the
        config loader warns about them): honouring them now could shrink a running mirror.
        """
        values = dict(self._sections.get(name) or {})
        self._reads.setdefault(name, {}).update(values)
        self._asked[name] = None
        return values

    def get(self, section: str, key: str) -> str | None:
        """``[section] key`` as written, None when unset."""
        asked = self._asked.setdefault(section, set())
        if asked is not None:
            asked.add(key)
        value = (self._sections.get(section) or {}).get(key)
        if value is not None:
            self._reads.setdefault(section, {})[key] = value
        return value

    def value(self, section: str, key: str, default: str = "") -> str:
        """``[section] key`` stripped, ``default`` when unset."""
        value = self.get(section, key)
        return default if value is None else value.strip()

    def lines(self, section: str, key: str) -> list[str]:
        return config_lines(self.get(section, key))

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def inert(self, why: str) -> None:
        """Note that the plugin will do nothing; only worth saying when it was asked for by name."""
        if self.explicit:
            self.warn(f"filter plugin {self.plugin!r} does nothing: {why}")

    @property
    def reads(self) -> dict[str, dict[str, str]]:
        return {name: dict(values) for name, values in self._reads.items()}

    @property
    def asked(self) -> dict[str, frozenset[str] | None]:
        """Each section the plugin looked into: the keys it asked for, None for the whole section."""
        return {name: None if keys is None else frozenset(keys) for name, keys in self._asked.items()}


class Filter(ABC):  # noqa: B024 - the kinds below carry the abstract methods
    """What every filter plugin has: a name, optional deprecated aliases, a description."""

    name: ClassVar[str] = ""
    # Old names that still enable the plugin, with a warning.
    aliases: ClassVar[tuple[str, ...]] = ()

    def __init__(self, context: FilterContext) -> None:
        self.context = context

    def describe(self) -> object:
        """JSON-able effective configuration, hashed into ``FilterSet.fingerprint``.

        Override it to return normalized state (sorted sets, parsed specifiers) so that
        cosmetic config edits do not look like a filter change.
        """
        return self.context.reads


class ProjectFilter(Filter):
    @abstractmethod
    def allows_project(self, name: str, canonical: NormalizedName) -> bool:
        """``name`` is the raw listing name; ``canonical`` its PEP 503 form, computed once."""


class MetadataFilter(Filter):
    @abstractmethod
    def allows_metadata(self, project: Project) -> bool:
        """Called with the unfiltered project.

        ``project.info``, ``project.releases`` and each file's ``fields`` hold the upstream JSON;
        ``project.raw`` (rebuilt from them) stays for filters written against it.
        """


class ReleaseFileFilter(Filter):
    @abstractmethod
    def keeps_file(self, project: Project, file: DistFile) -> bool:
        """Called with the unfiltered project and one of its files."""

    def reports(self, project: Project) -> tuple[str, ...]:
        """Findings about the unfiltered project's files worth a warning (say, a digest that
        disagrees with a lock file); the sync logs them."""
        return ()

    def revisit_at(self, project: Project, file: DistFile) -> float | None:
        """When ``keeps_file``'s verdict on a dropped file changes by itself (a POSIX time), else None.

        Time-based filters (the cooldown) say when; upstream's serial does not move then, so the
        run records the moment and comes back to the project on its own.
        """
        return None


class ReleaseFilter(Filter):
    """Implement ``keeps_release`` (one version at a time) or override ``kept_versions``."""

    # True for filters that choose among what the others kept (e.g. "the latest N").
    ranks_survivors: ClassVar[bool] = False

    def keeps_release(self, project: Project, version: str) -> bool:
        raise NotImplementedError(f"{type(self).__name__} must implement keeps_release or kept_versions")

    def kept_versions(self, project: Project) -> set[str]:
        return {version for version in project.releases if self.keeps_release(project, version)}

    def exclusive_for(self, project: Project) -> bool:
        """True when this filter alone should decide the project's releases."""
        return False
